"""EKS clusters and node groups against CIS Amazon EKS Benchmark v1.8.0 (as kube-bench numbers
it), and the node metadata rule EKS's own best practices add.

A node group's instances take their metadata options and root volume from its launch
template, a separate resource: the checks follow the node group's dependency to it (the
engine's property dependencies under CrossGuard, the recorded ones offline).
"""

from __future__ import annotations

from collections.abc import Sequence
import json

from .model import Finding, Props, Resource, ResourcePolicy, Settings, StackPolicy, as_list, dig, is_unknown

EKS_CLUSTER = "aws:eks/cluster:Cluster"
EKS_NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
ACCESS_MODES = frozenset({"API", "API_AND_CONFIG_MAP"})
_EKS = "infra/components/aws.py"
_NODES = "infra/components/aws_nodes.py"


def check_log_types(resource_type: str, props: Props, settings: Settings) -> list[Finding]:
    if resource_type != EKS_CLUSTER:
        return []
    enabled = props.get("enabledClusterLogTypes")
    if is_unknown(enabled):
        return []
    missing = [t for t in LOG_TYPES if t not in as_list(enabled)]
    return [Finding(f"control plane log types not enabled: {', '.join(missing)} (the audit trail of who did what "
                    "is incomplete)", f"keep every log type in enabled_cluster_log_types in {_EKS}")] if missing else []


def check_access_mode(resource_type: str, props: Props, settings: Settings) -> list[Finding]:
    if resource_type != EKS_CLUSTER:
        return []
    mode = dig(props, "accessConfig", "authenticationMode")
    if is_unknown(mode) or mode in ACCESS_MODES:
        return []
    return [Finding(f"accessConfig.authenticationMode is {mode!r}: access is granted in the aws-auth ConfigMap, "
                    "outside IAM and CloudTrail", f"keep authentication_mode 'API' (access entries) in {_EKS}")]


def _log_group_of(cluster: Resource, groups: Sequence[Resource]) -> Resource | None:
    name = cluster.props.get("name")
    wanted = f"/aws/eks/{name}/cluster" if isinstance(name, str) else None
    return next((g for g in groups if wanted and g.props.get("name") == wanted), None)


def check_log_group(resources: Sequence[Resource], settings: Settings) -> list[Finding]:
    groups = [r for r in resources if r.type == LOG_GROUP]
    out = []
    for cluster in (r for r in resources if r.type == EKS_CLUSTER):
        group = _log_group_of(cluster, groups)
        fix = f"let tfplat create the control plane log group (aws_nodes.control_plane_logs in {_NODES})"
        if group is None:
            out.append(Finding(f"EKS cluster {cluster.name!r} has no log group /aws/eks/<name>/cluster in the stack: "
                               "EKS creates one that keeps its logs forever, unencrypted", fix, cluster))
            continue
        days, key = group.props.get("retentionInDays"), group.props.get("kmsKeyId")
        if not is_unknown(days) and not days:
            out.append(Finding(f"log group {group.name!r} has no retentionInDays: logs are kept forever", fix, group))
        if not is_unknown(key) and not key:
            out.append(Finding(f"log group {group.name!r} has no kmsKeyId: logs are encrypted with CloudWatch's key",
                               fix, group))
    return out


def launch_template_of(group: Resource, resources: Sequence[Resource]) -> Resource | None:
    """The node group's launch template: through its launchTemplate dependency (or the whole
    dependency list offline), else by the template id it names."""
    templates = [r for r in resources if r.type == LAUNCH_TEMPLATE]
    linked = [t for t in templates if group.depends_on(t, "launchTemplate")]
    if linked:
        return linked[0]
    wanted = dig(group.props, "launchTemplate", "id")
    return next((t for t in templates if wanted and t.props.get("id") == wanted), None)


def check_imdsv2(resources: Sequence[Resource], settings: Settings) -> list[Finding]:
    limit = int(settings.get("maxHopLimit", 1))
    fix = f"let tfplat give every node group its launch template (aws_nodes.launch_template in {_NODES})"
    out = []
    for group in (r for r in resources if r.type == EKS_NODE_GROUP):
        if is_unknown(group.props.get("launchTemplate")):
            continue
        template = launch_template_of(group, resources)
        if template is None:
            out.append(Finding(f"node group {group.name!r} has no launch template: its instances take IMDS settings "
                               "from the AMI's defaults (IMDSv1 allowed, hop limit 2), so pods can read the node "
                               "role's credentials", fix, group))
            continue
        tokens = dig(template.props, "metadataOptions", "httpTokens")
        hops = dig(template.props, "metadataOptions", "httpPutResponseHopLimit")
        if not is_unknown(tokens) and tokens != "required":
            out.append(Finding(f"launch template {template.name!r} allows IMDSv1 (httpTokens {tokens!r})", fix,
                               template))
        if not is_unknown(hops) and (not isinstance(hops, int) or hops > limit):
            out.append(Finding(f"launch template {template.name!r} has a metadata hop limit of {hops!r} (at most "
                               f"{limit}): pods reach the instance metadata service", fix, template))
    return out


def vpc_cni_enforces(addon: Resource) -> bool:
    """The vpc-cni add-on runs its network policy agent (configurationValues enableNetworkPolicy "true")."""
    raw = addon.props.get("configurationValues")
    try:
        values = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError:
        return False
    return isinstance(values, dict) and str(values.get("enableNetworkPolicy", "")).lower() == "true"


POLICIES = (
    ResourcePolicy(
        id="eks-control-plane-logs", cis=("EKS 2.1.1",), severity="high", check=check_log_types,
        description="EKS control planes log every type: api, audit, authenticator, controllerManager, scheduler.",
        remediation="Keep every log type in enabled_cluster_log_types."),
    StackPolicy(
        id="eks-control-plane-log-group", cis=("EKS 2.1.2",), severity="medium", check=check_log_group,
        description="Each EKS cluster's log group is in the stack, encrypted with the stack's key and with a "
                    "retention.",
        remediation="Let tfplat create /aws/eks/<cluster>/cluster (see docs/upgrading.md to import an existing one)."),
    ResourcePolicy(
        id="eks-access-entries", cis=("EKS 4.1.7", "EKS 5.5.1"), severity="medium", check=check_access_mode,
        description="EKS access is granted with access entries (the cluster access manager API), not aws-auth.",
        remediation="Keep authentication_mode API."),
    StackPolicy(
        id="eks-node-imdsv2", severity="high", check=check_imdsv2,
        config_schema={"maxHopLimit": {"type": "integer", "minimum": 1, "maximum": 64, "default": 1,
                                       "description": "Highest metadata hop limit allowed (1: no pod reaches IMDS)."}},
        description="EKS nodes require IMDSv2 with a hop limit of 1 (their launch template says so), so pods "
                    "cannot take the node role's credentials.",
        remediation="Every node group uses tfplat's launch template (IMDSv2 required, hop limit 1)."),
)
