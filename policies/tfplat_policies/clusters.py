"""Clusters: private nodes, workload identity, encrypted Secrets, a managed upgrade path.

GKE carries each setting on the cluster or node pool. EKS spreads them over resources
(node groups sit in subnets, pod identity is an add-on), so two stack checks follow those
links: through the engine's property dependencies under CrossGuard, through the recorded
dependencies in the offline plan.
"""

from __future__ import annotations

from collections.abc import Sequence

from .model import Finding, Props, Resource, ResourcePolicy, Settings, StackPolicy, as_list, dig, is_unknown

GKE_CLUSTER = "gcp:container/cluster:Cluster"
GKE_POOL = "gcp:container/nodePool:NodePool"
EKS_CLUSTER = "aws:eks/cluster:Cluster"
EKS_NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
EKS_ADDON = "aws:eks/addon:Addon"
SUBNET = "aws:ec2/subnet:Subnet"
ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"
ROUTE_TABLE_ASSOCIATION = "aws:ec2/routeTableAssociation:RouteTableAssociation"
ROUTE = "aws:ec2/route:Route"
POD_IDENTITY_AGENT = "eks-pod-identity-agent"
VPC = "aws:ec2/vpc:Vpc"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
GCP_SUBNET = "gcp:compute/subnetwork:Subnetwork"
#: Subnets that cannot log flows (GCP: proxy-only subnets carry no VM traffic).
NO_FLOW_LOG_PURPOSES = frozenset({"REGIONAL_MANAGED_PROXY", "GLOBAL_MANAGED_PROXY", "INTERNAL_HTTPS_LOAD_BALANCER"})
CHANNELS = frozenset({"REGULAR", "STABLE"})  # CIS GKE 5.5.4
DEFAULT_ROUTES = frozenset({"0.0.0.0/0", "::/0"})

_GKE = "infra/components/gcp.py"
_EKS = "infra/components/aws.py"


def _missing(value: object) -> bool:
    """Empty or absent; unknown values (computed at deploy time) count as set."""
    return not is_unknown(value) and not value


def check_private_nodes(resource_type: str, props: Props, settings: Settings) -> list[Finding]:
    if resource_type == GKE_CLUSTER:
        private = dig(props, "privateClusterConfig", "enablePrivateNodes")
        if not is_unknown(private) and private is not True:
            return [Finding("privateClusterConfig.enablePrivateNodes is not true, so nodes get public IPs",
                            f"tfplat builds private clusters only: restore enable_private_nodes=True in {_GKE}; "
                            "to reach the API from outside use tfplat:cluster.endpoint.public and "
                            "tfplat:cluster.endpoint.authorized_cidrs")]
    elif resource_type == GKE_POOL:
        if dig(props, "networkConfig", "enablePrivateNodes") is False:
            return [Finding("networkConfig.enablePrivateNodes is false, so this pool's nodes get public IPs",
                            f"remove network_config.enable_private_nodes from the node pool in {_GKE}")]
    elif resource_type == EKS_CLUSTER:
        access = dig(props, "vpcConfig", "endpointPrivateAccess")
        if not is_unknown(access) and access is not True:
            return [Finding("vpcConfig.endpointPrivateAccess is not true, so nodes reach the API over the internet",
                            f"set endpoint_private_access=True in {_EKS} (tfplat:cluster.endpoint.public only "
                            "controls the public endpoint)")]
    elif resource_type == EKS_NODE_GROUP:
        remote = props.get("remoteAccess")
        if remote and not is_unknown(remote) and _missing(dig(remote, "sourceSecurityGroupIds")):
            return [Finding("remoteAccess without sourceSecurityGroupIds opens SSH to the nodes from anywhere",
                            f"remove remote_access from the node group in {_EKS}; use SSM to reach nodes")]
    return []


def check_workload_identity(resource_type: str, props: Props, settings: Settings) -> list[Finding]:
    out = []
    if resource_type == GKE_CLUSTER and _missing(dig(props, "workloadIdentityConfig", "workloadPool")):
        out.append(Finding("workloadIdentityConfig.workloadPool is not set, so pods would use the node's identity",
                           f"restore workload_identity_config={{'workload_pool': '<project>.svc.id.goog'}} in {_GKE}",
                           cis=("GKE 5.2.2",)))
    config = props.get("nodeConfig")
    # Every pool says GKE_METADATA itself (CIS GKE 5.4.1); the cluster's own nodeConfig only
    # matters when it is set (its default pool is removed).
    if resource_type == GKE_POOL or (resource_type == GKE_CLUSTER and config):
        mode = dig(config, "workloadMetadataConfig", "mode")
        if not is_unknown(mode) and mode != "GKE_METADATA":
            out.append(Finding(f"nodeConfig.workloadMetadataConfig.mode is {mode!r}, not GKE_METADATA: pods reach "
                               "the node's metadata server and its credentials",
                               f"set workload_metadata_config mode 'GKE_METADATA' in {_GKE}", cis=("GKE 5.4.1",)))
    return out


def check_secrets_encryption(resource_type: str, props: Props, settings: Settings) -> list[Finding]:
    if resource_type == GKE_CLUSTER:
        state, key = dig(props, "databaseEncryption", "state"), dig(props, "databaseEncryption", "keyName")
        if not is_unknown(state) and (state != "ENCRYPTED" or _missing(key)):
            return [Finding(f"Secrets in etcd are not encrypted with a KMS key (databaseEncryption state {state!r})",
                            "let tfplat create the key ring, or set tfplat:gcp.kms_key to a Cloud KMS key name")]
    elif resource_type == EKS_CLUSTER:
        configs = props.get("encryptionConfig")
        if is_unknown(configs):
            return []
        configs = as_list(configs) if isinstance(configs, list) else [configs] if configs else []
        encrypted = [c for c in configs if "secrets" in as_list(dig(c, "resources"))
                     and not _missing(dig(c, "provider", "keyArn"))]
        if not encrypted:
            return [Finding("encryptionConfig does not encrypt 'secrets' with a KMS key",
                            "let tfplat create the key, or set tfplat:aws.kms_key_arn to a KMS key ARN")]
    return []


def check_release_channel(resource_type: str, props: Props, settings: Settings) -> list[Finding]:
    if resource_type == GKE_CLUSTER:
        channel = dig(props, "releaseChannel", "channel")
        if is_unknown(channel) or channel in CHANNELS:
            return []
        why = ("UNSPECIFIED turns node auto-upgrade off, so nodes miss security patches even with a pinned version"
               if channel in (None, "UNSPECIFIED") else
               "RAPID gets versions before they are broadly proven" if channel == "RAPID" else
               "CIS GKE 5.5.4 asks for REGULAR or STABLE")
        return [Finding(f"release channel {channel!r}: {why}",
                        "set tfplat:cluster.release_channel to REGULAR or STABLE (tfplat:cluster.version is the "
                        "minimum version either way)")]
    if resource_type == EKS_CLUSTER and _missing(props.get("version")):
        return [Finding("no Kubernetes version pinned: EKS would pick its default and upgrades would be untracked",
                        "set tfplat:cluster.version")]
    return []


def check_pod_identity_agent(resources: Sequence[Resource], settings: Settings) -> list[Finding]:
    out = []
    addons = [a for a in resources if a.type == EKS_ADDON and a.props.get("addonName") == POD_IDENTITY_AGENT]
    for cluster in (r for r in resources if r.type == EKS_CLUSTER):
        name = cluster.props.get("name")
        if not any(a.depends_on(cluster, "clusterName") or (name and a.props.get("clusterName") == name)
                   for a in addons):
            out.append(Finding(f"EKS cluster {cluster.name!r} has no {POD_IDENTITY_AGENT} add-on, so its "
                               "PodIdentityAssociations never reach the pods",
                               f"add the {POD_IDENTITY_AGENT} add-on to the cluster in {_EKS}", cluster))
    return out


def check_flow_logs(resources: Sequence[Resource], settings: Settings) -> list[Finding]:
    out = []
    logs = [r for r in resources if r.type == FLOW_LOG]
    for vpc in (r for r in resources if r.type == VPC):
        if not any(log.depends_on(vpc, "vpcId") for log in logs):
            out.append(Finding(f"VPC {vpc.name!r} has no flow log: no record of which pods and nodes talked to what",
                               f"restore the FlowLog of the network in {_EKS} (infra.plan.flow_logs)", vpc))
    for subnet in (r for r in resources if r.type == GCP_SUBNET):
        if subnet.props.get("purpose") in NO_FLOW_LOG_PURPOSES:
            continue
        config = subnet.props.get("logConfig")
        if not is_unknown(config) and (not config or dig(config, "enable") is False):
            out.append(Finding(f"subnet {subnet.name!r} does not log its flows",
                               f"restore log_config on the subnetwork in {_GKE}", subnet))
    return out


def _public_route(route: object) -> bool:
    destination = dig(route, "cidrBlock") or dig(route, "ipv6CidrBlock") \
        or dig(route, "destinationCidrBlock") or dig(route, "destinationIpv6CidrBlock")
    return destination in DEFAULT_ROUTES and bool(dig(route, "gatewayId"))


def _internet_route_tables(resources: Sequence[Resource]) -> list[Resource]:
    tables = [r for r in resources if r.type == ROUTE_TABLE]
    routes = [r for r in resources if r.type == ROUTE and _public_route(r.props)]
    return [t for t in tables
            if any(_public_route(x) for x in as_list(t.props.get("routes")))
            or any(r.depends_on(t, "routeTableId") for r in routes)]


def _public_reason(subnet: Resource, resources: Sequence[Resource], internet: Sequence[Resource]) -> str | None:
    if subnet.props.get("mapPublicIpOnLaunch") is True:
        return "maps public IPs on launch"
    for assoc in (r for r in resources if r.type == ROUTE_TABLE_ASSOCIATION and r.depends_on(subnet, "subnetId")):
        if any(assoc.depends_on(t, "routeTableId") for t in internet):
            return "routes 0.0.0.0/0 to an internet gateway"
    return None


def check_node_subnets(resources: Sequence[Resource], settings: Settings) -> list[Finding]:
    out = []
    subnets = [r for r in resources if r.type == SUBNET]
    internet = _internet_route_tables(resources)
    for group in (r for r in resources if r.type == EKS_NODE_GROUP):
        for subnet in (s for s in subnets if group.depends_on(s, "subnetIds")):
            reason = _public_reason(subnet, resources, internet)
            if reason:
                out.append(Finding(
                    f"node group {group.name!r} runs in subnet {subnet.name!r}, which {reason}",
                    "place node groups in the private subnets only: let tfplat create the network, or list only "
                    "private subnets in tfplat:aws.network.existing.private_subnet_ids", group))
    return out


POLICIES = (
    ResourcePolicy(
        id="cluster-private-nodes", cis=("GKE 5.6.5", "EKS 5.4.3"), severity="critical", check=check_private_nodes,
        description="Cluster nodes have no public IPs: private GKE nodes; EKS private API access and no open SSH.",
        remediation="Keep nodes private; expose only the API endpoint, via tfplat:cluster.endpoint."),
    StackPolicy(
        id="eks-nodes-private-subnets", cis=("EKS 5.4.3",), severity="critical", check=check_node_subnets,
        description="EKS node groups run in private subnets (no public IP mapping, no route to an internet gateway).",
        remediation="Use tfplat's private subnets or list only private ones in "
                    "tfplat:aws.network.existing.private_subnet_ids."),
    ResourcePolicy(
        id="cluster-workload-identity", cis=("GKE 5.2.2", "GKE 5.4.1"), severity="high", check=check_workload_identity,
        description="Pods authenticate as their own identity: GKE Workload Identity on the cluster and "
                    "the GKE metadata server (GKE_METADATA) set on every pool.",
        remediation="Restore workload_identity_config and GKE_METADATA in the GKE component."),
    StackPolicy(
        id="eks-pod-identity-agent", cis=("EKS 5.2.1",), severity="high", check=check_pod_identity_agent,
        description="Every EKS cluster runs the eks-pod-identity-agent add-on that serves pod identities.",
        remediation="Add the eks-pod-identity-agent add-on in the EKS component."),
    StackPolicy(
        id="network-flow-logs", cis=("GKE 5.6.1",), severity="medium", check=check_flow_logs,
        description="Cluster networks record their traffic: a flow log on every AWS VPC, log_config on every "
                    "GCP subnet that carries VM traffic.",
        remediation="Keep the flow logs the network components create; an existing network's owner must log it."),
    ResourcePolicy(
        id="cluster-secrets-encryption", cis=("GKE 5.3.1", "EKS 5.3.1"), severity="high",
        check=check_secrets_encryption,
        description="Kubernetes Secrets are envelope-encrypted with a KMS key (GKE databaseEncryption, "
                    "EKS encryptionConfig).",
        remediation="Let tfplat create the KMS key or name one in tfplat:gcp.kms_key / tfplat:aws.kms_key_arn."),
    ResourcePolicy(
        id="cluster-release-channel", cis=("GKE 5.5.4",), severity="medium", check=check_release_channel,
        description="Clusters upgrade on purpose: GKE on the REGULAR or STABLE release channel (node auto-upgrade "
                    "on); EKS on a pinned version.",
        remediation="Set tfplat:cluster.release_channel to REGULAR or STABLE; pin tfplat:cluster.version on EKS."),
)
