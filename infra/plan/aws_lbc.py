"""The AWS Load Balancer Controller (LBC): what makes Gateway API objects work on EKS.

Pure planning, shared by `pulumi up`, the offline plan and the tests: the pins (chart and
CRD release URLs, from images/versions.yaml), the controller's IAM policy and Pod Identity
trust as data, its Helm values, and the GatewayClass Gateways name. The component
(infra.components.aws_lbc) only maps this onto resources.

The IAM policy grants exactly the actions of the controller's documented policy
(docs/install/iam_policy.json at the pinned tag, UPSTREAM_POLICY_TAG) and keeps its
statement structure and tag conditions. It is narrower in three places, each marked
"narrower than upstream" below: ARN patterns name this account and region; the
elbv2.k8s.aws/cluster tag must equal this cluster's name rather than merely exist, so two
stacks sharing an account cannot touch each other's load balancers; and the service-linked
role is named instead of "*".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
import re
from typing import Any

from infra.plan import aws_controllers as controllers
from infra.plan.aws_controllers import (
    KUBE_SYSTEM_NETWORK_POLICY_REASON,
    NO_CPU_LIMIT_REASON,
    SYSTEM_ROLE,
    ClusterScope,
    system_tolerations,
)
from infra.plan.charts import Chart, chart
from infra.plan.cloud import CloudPlan
from infra.plan.manifests.serving import meta
from infra.plan.scan_waivers import NEEDS_API, NEEDS_API_REASON, PULL_POLICY, skip_annotations
from infra.rules import names
from infra.rules.images import VERSIONS_FILE, VersionPinError, read_versions

# --------------------------------------------------------------------------- names

NAMESPACE = "kube-system"
RELEASE_NAME = "aws-load-balancer-controller"  # fixed: the chart names its objects after it
SERVICE_ACCOUNT = "aws-load-balancer-controller"  # created by the chart, bound by Pod Identity
CHART_KEY = "aws-load-balancer-controller"  # key under charts: in images/versions.yaml
#: What every Gateway on an AWS stack names in spec.gatewayClassName.
GATEWAY_CLASS_NAME = "tfplat-alb"
#: The LBC's L7 (ALB) Gateway implementation; gateway.k8s.aws/nlb would be its L4 one.
ALB_CONTROLLER_NAME = "gateway.k8s.aws/alb"
GATEWAY_API_VERSION = "gateway.networking.k8s.io/v1"
#: The tag the controller puts on every AWS resource it creates, valued with --cluster-name.
CLUSTER_TAG = "elbv2.k8s.aws/cluster"
#: The policy this module's IAM statements were checked against, action for action.
UPSTREAM_POLICY_TAG = "v3.5.0"

REPLICAS = 2  # leader election: one active, one warm standby

# --------------------------------------------------------------------------- pins

GATEWAY_API_CRDS = "gateway-api-standard"
LBC_GATEWAY_CRDS = "aws-load-balancer-controller-gateway"
CRD_KEYS = (GATEWAY_API_CRDS, LBC_GATEWAY_CRDS)

_TAG = re.compile(r"^v\d+\.\d+\.\d+$")
# Path segments that name a moving ref: a URL with one could change under a pinned stack.
_MOVING_REFS = frozenset({"main", "master", "HEAD", "heads", "latest"})


class CrdPinError(VersionPinError):
    """The versions file pins a CRD bundle loosely, or not at all."""


@dataclass(frozen=True, kw_only=True)
class CrdPin:
    key: str
    url: str  # https URL of a release asset or a file at a release tag
    version: str  # the tag the URL names, e.g. v1.6.0


@dataclass(frozen=True, kw_only=True)
class ControllerPins:
    chart: Chart
    gateway_api_crds: CrdPin
    lbc_gateway_crds: CrdPin

    @property
    def crds(self) -> tuple[CrdPin, ...]:
        """Both bundles must exist before the controller starts; neither needs the other."""
        return (self.gateway_api_crds, self.lbc_gateway_crds)


def _parse_crd(key: str, entry: Any, path: Path) -> CrdPin:
    where = f"{path}: crds.{key}"
    if not isinstance(entry, Mapping) or not entry.get("url") or not entry.get("version"):
        raise CrdPinError(f"{where} must be a mapping with url and version")
    url, version = str(entry["url"]), str(entry["version"])
    if not _TAG.match(version):
        raise CrdPinError(f"{where}.version is {version!r}; pin a release tag such as v1.6.0")
    if not url.startswith("https://"):
        raise CrdPinError(f"{where}.url must be https, got {url!r}")
    segments = url.removeprefix("https://").split("/")
    moving = sorted(_MOVING_REFS.intersection(segments))
    if moving:
        raise CrdPinError(f"{where}.url {url!r} follows {moving[0]!r}; use the file at tag {version}")
    if version not in segments:
        raise CrdPinError(f"{where}.url {url!r} does not name tag {version}; url and version must agree")
    return CrdPin(key=key, url=url, version=version)


@cache
def crd_pins(path: Path = VERSIONS_FILE) -> Mapping[str, CrdPin]:
    """Every pinned CRD bundle by key. Raises CrdPinError on a missing or loose entry."""
    section = read_versions(path).get("crds")
    if not isinstance(section, Mapping):
        raise CrdPinError(f"{path}: no crds: section")
    pins = {str(k): _parse_crd(str(k), v, path) for k, v in sorted(section.items())}
    missing = [k for k in CRD_KEYS if k not in pins]
    if missing:
        raise CrdPinError(f"{path}: crds.{missing[0]} is not pinned (have: {', '.join(pins) or 'none'})")
    return pins


def controller_pins(path: Path = VERSIONS_FILE) -> ControllerPins:
    """The chart and CRD pins, checked against each other: the LBC's CRDs must come from
    the tag of the controller the chart runs (chart x.y.z runs controller vx.y.z in 3.x)."""
    pinned_chart = chart(CHART_KEY, path)
    pins = crd_pins(path)
    lbc = pins[LBC_GATEWAY_CRDS]
    if lbc.version != f"v{pinned_chart.version}":
        raise CrdPinError(
            f"{path}: crds.{LBC_GATEWAY_CRDS} is {lbc.version} but charts.{CHART_KEY} runs "
            f"v{pinned_chart.version}; bump both together (docs/aws-load-balancer-controller.md)")
    return ControllerPins(chart=pinned_chart, gateway_api_crds=pins[GATEWAY_API_CRDS], lbc_gateway_crds=lbc)


# --------------------------------------------------------------------------- identity

def pod_identity_trust(cluster_name: str) -> dict[str, Any]:
    """Pod Identity trust for the controller's service account only."""
    return controllers.pod_identity_trust(cluster_name, NAMESPACE, SERVICE_ACCOUNT)


Statement = dict[str, Any]


def _allow(sid: str, actions: list[str], resources: str | list[str] = "*",
           condition: Mapping[str, Mapping[str, Any]] | None = None) -> Statement:
    out: Statement = {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources}
    if condition:
        out["Condition"] = {op: dict(kv) for op, kv in condition.items()}
    return out


def controller_policy(scope: ClusterScope) -> dict[str, Any]:
    """The controller's permissions (see the module docstring for how they compare with
    upstream). Statements are grouped by what the controller does with them."""
    elb, ec2 = "elasticloadbalancing", "ec2"
    own_request = {f"aws:RequestTag/{CLUSTER_TAG}": scope.cluster_name}  # narrower than upstream
    own_resource = {f"aws:ResourceTag/{CLUSTER_TAG}": scope.cluster_name}  # narrower than upstream
    keeps_cluster_tag = {f"aws:RequestTag/{CLUSTER_TAG}": "true"}  # the request does not set it
    security_groups = scope.arn(ec2, "security-group/*")  # narrower than upstream (account, region)
    lbs_and_tgs = [scope.arn(elb, "targetgroup/*/*"), scope.arn(elb, "loadbalancer/net/*/*"),
                   scope.arn(elb, "loadbalancer/app/*/*")]
    statements = [
        # ELB creates its service-linked role on first use in an account.
        _allow("ElbServiceLinkedRole", ["iam:CreateServiceLinkedRole"],
               # narrower than upstream: the one role ELB creates, not "*"
               scope.arn("iam", "role/aws-service-role/elasticloadbalancing.amazonaws.com/"
                                "AWSServiceRoleForElasticLoadBalancing", region=False),
               {"StringEquals": {"iam:AWSServiceName": "elasticloadbalancing.amazonaws.com"}}),
        # Discovery: subnets, security groups, ENIs of targets, existing load balancers.
        # Describe/Get calls have no resource-level permissions, hence "*".
        _allow("Discover", [
            f"{ec2}:DescribeAccountAttributes", f"{ec2}:DescribeAddresses", f"{ec2}:DescribeAvailabilityZones",
            f"{ec2}:DescribeInternetGateways", f"{ec2}:DescribeVpcs", f"{ec2}:DescribeVpcPeeringConnections",
            f"{ec2}:DescribeSubnets", f"{ec2}:DescribeSecurityGroups", f"{ec2}:DescribeInstances",
            f"{ec2}:DescribeNetworkInterfaces", f"{ec2}:DescribeTags", f"{ec2}:GetCoipPoolUsage",
            f"{ec2}:DescribeCoipPools", f"{ec2}:GetSecurityGroupsForVpc", f"{ec2}:DescribeIpamPools",
            f"{ec2}:DescribeRouteTables",
            f"{elb}:DescribeLoadBalancers", f"{elb}:DescribeLoadBalancerAttributes", f"{elb}:DescribeListeners",
            f"{elb}:DescribeListenerCertificates", f"{elb}:DescribeSSLPolicies", f"{elb}:DescribeRules",
            f"{elb}:DescribeTargetGroups", f"{elb}:DescribeTargetGroupAttributes", f"{elb}:DescribeTargetHealth",
            f"{elb}:DescribeTags", f"{elb}:DescribeTrustStores", f"{elb}:DescribeListenerAttributes",
            f"{elb}:DescribeCapacityReservation"]),
        # Listener add-ons the controller reconciles when a load balancer's config asks for
        # them (certificates, Cognito auth, WAF, Shield), and checks for on every reconcile.
        _allow("ListenerAddons", [
            "cognito-idp:DescribeUserPoolClient", "acm:ListCertificates", "acm:DescribeCertificate",
            "iam:ListServerCertificates", "iam:GetServerCertificate",
            "waf-regional:GetWebACL", "waf-regional:GetWebACLForResource", "waf-regional:AssociateWebACL",
            "waf-regional:DisassociateWebACL", "wafv2:GetWebACL", "wafv2:GetWebACLForResource",
            "wafv2:AssociateWebACL", "wafv2:DisassociateWebACL", "shield:GetSubscriptionState",
            "shield:DescribeProtection", "shield:CreateProtection", "shield:DeleteProtection"]),
        # Rules on security groups it does not own (the nodes' and pods'), so the load
        # balancer can reach targets: untagged, so not scoped by tag, as upstream.
        _allow("TargetSecurityGroupRules", [f"{ec2}:AuthorizeSecurityGroupIngress",
                                            f"{ec2}:RevokeSecurityGroupIngress"]),
        _allow("CreateSecurityGroup", [f"{ec2}:CreateSecurityGroup"]),
        # ...and the group must be tagged as this cluster's in the same call.
        _allow("TagSecurityGroupOnCreate", [f"{ec2}:CreateTags"], security_groups,
               {"StringEquals": {"ec2:CreateAction": "CreateSecurityGroup", **own_request}}),
        _allow("RetagOwnSecurityGroups", [f"{ec2}:CreateTags", f"{ec2}:DeleteTags"], security_groups,
               {"Null": keeps_cluster_tag, "StringEquals": own_resource}),
        _allow("ManageOwnSecurityGroups", [f"{ec2}:AuthorizeSecurityGroupIngress",
                                           f"{ec2}:RevokeSecurityGroupIngress", f"{ec2}:DeleteSecurityGroup"],
               condition={"StringEquals": own_resource}),
        # Load balancers and target groups: created only with this cluster's tag...
        _allow("CreateOwnLoadBalancers", [f"{elb}:CreateLoadBalancer", f"{elb}:CreateTargetGroup"],
               condition={"StringEquals": own_request}),
        # ...tagged in the create call...
        _allow("TagOnCreate", [f"{elb}:AddTags"], lbs_and_tgs,
               {"StringEquals": {f"{elb}:CreateAction": ["CreateTargetGroup", "CreateLoadBalancer"],
                                 **own_request}}),
        # ...and afterwards changed or deleted only while they carry it.
        _allow("RetagOwnLoadBalancers", [f"{elb}:AddTags", f"{elb}:RemoveTags"], lbs_and_tgs,
               {"Null": keeps_cluster_tag, "StringEquals": own_resource}),
        _allow("ManageOwnLoadBalancers", [
            f"{elb}:ModifyLoadBalancerAttributes", f"{elb}:SetIpAddressType", f"{elb}:SetSecurityGroups",
            f"{elb}:SetSubnets", f"{elb}:DeleteLoadBalancer", f"{elb}:ModifyTargetGroup",
            f"{elb}:ModifyTargetGroupAttributes", f"{elb}:DeleteTargetGroup", f"{elb}:ModifyListenerAttributes",
            f"{elb}:ModifyCapacityReservation", f"{elb}:ModifyIpPools"],
               condition={"StringEquals": own_resource}),
        # Listeners and rules carry no cluster tag of their own (upstream leaves them
        # unconditioned); their ARNs still name this account and region.
        _allow("ManageListeners", [f"{elb}:CreateListener", f"{elb}:DeleteListener", f"{elb}:CreateRule",
                                   f"{elb}:DeleteRule"]),
        _allow("TagListeners", [f"{elb}:AddTags", f"{elb}:RemoveTags"], [
            scope.arn(elb, "listener/net/*/*/*"), scope.arn(elb, "listener/app/*/*/*"),
            scope.arn(elb, "listener-rule/net/*/*/*"), scope.arn(elb, "listener-rule/app/*/*/*")]),
        _allow("ConfigureListeners", [f"{elb}:SetWebAcl", f"{elb}:ModifyListener",
                                      f"{elb}:AddListenerCertificates", f"{elb}:RemoveListenerCertificates",
                                      f"{elb}:ModifyRule", f"{elb}:SetRulePriorities"]),
        # Pod IPs in and out of target groups as endpoints change (weighted canaries too).
        _allow("RegisterTargets", [f"{elb}:RegisterTargets", f"{elb}:DeregisterTargets"],
               scope.arn(elb, "targetgroup/*/*")),
    ]
    return {"Version": "2012-10-17", "Statement": statements}


def role_name(prefix: str) -> str:
    return f"{prefix}-lb-controller"


# --------------------------------------------------------------------------- helm values


def helm_values(plan: CloudPlan, vpc_id: object) -> dict[str, Any]:
    """Values for the pinned chart. vpc_id is the VPC's id, or the provider's output for it:
    with region and VPC given the controller never needs the instance metadata service.

    Defaults: two replicas on the system pool (nodeSelector tfplat.dev/role=system,
    tolerating whatever taints the system pools carry), a disruption budget of one,
    the restricted security context, and only the ALB Gateway implementation enabled.
    """
    if not any(p.role == SYSTEM_ROLE for p in plan.pools.values()):
        raise ValueError(f"stack {plan.prefix} has no pool with role: {SYSTEM_ROLE}; the load balancer "
                         "controller runs there (the loader normally rejects such a stack)")
    return {
        "clusterName": plan.cluster_name,  # also the value of the elbv2.k8s.aws/cluster tag
        "region": plan.region,
        "vpcId": vpc_id,
        "replicaCount": REPLICAS,
        # Created by the chart, unannotated: EKS Pod Identity binds it to the role by name.
        "serviceAccount": {"create": True, "name": SERVICE_ACCOUNT},
        "controllerConfig": {"featureGates": {
            # Set explicitly rather than left to CRD detection at start-up, so a controller
            # that started before its CRDs fails visibly instead of running without Gateways.
            "ALBGatewayAPI": True,
            # L4 Gateways need the experimental channel's routes, which are not installed.
            "NLBGatewayAPI": False}},
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
        "image": {"pullPolicy": PULL_POLICY},
        "deploymentAnnotations": skip_annotations({
            "CKV_K8S_11": NO_CPU_LIMIT_REASON, NEEDS_API: NEEDS_API_REASON,
            "CKV2_K8S_6": KUBE_SYSTEM_NETWORK_POLICY_REASON}),
        "podDisruptionBudget": {"maxUnavailable": 1},
        "podSecurityContext": {"fsGroup": 65534, "runAsNonRoot": True, "runAsUser": 65534, "runAsGroup": 65534,
                               "seccompProfile": {"type": "RuntimeDefault"}},
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}},
        "nodeSelector": {names.LABEL_ROLE: SYSTEM_ROLE},
        "tolerations": system_tolerations(plan),
    }


# --------------------------------------------------------------------------- objects


def gateway_class() -> dict[str, Any]:
    """The GatewayClass AWS stacks' Gateways use: served by the LBC's ALB implementation."""
    labels = {names.LABEL_NAME: GATEWAY_CLASS_NAME, names.LABEL_COMPONENT: "gateway-class",
              names.LABEL_PART_OF: names.PART_OF, names.LABEL_MANAGED_BY: names.MANAGED_BY}
    return {"apiVersion": GATEWAY_API_VERSION, "kind": "GatewayClass",
            "metadata": meta(GATEWAY_CLASS_NAME, None, labels),
            "spec": {"controllerName": ALB_CONTROLLER_NAME,
                     "description": "ALBs from the AWS Load Balancer Controller (tfplat)"}}
