"""Network exposure: a private control plane, NetworkPolicies that something enforces, every
namespace fenced, and HTTPS only at the gateway.

A NetworkPolicy is accepted by every API server and does nothing unless the data plane
enforces it: GKE Dataplane V2 (or GKE's Calico add-on), on EKS the VPC CNI's network policy
agent (enableNetworkPolicy in the add-on's configuration) or another engine the stack installs.
"""

from __future__ import annotations

from collections.abc import Sequence
import ipaddress

from .eks import vpc_cni_enforces
from .model import (
    Finding,
    Props,
    Resource,
    ResourcePolicy,
    Settings,
    StackPolicy,
    as_list,
    as_map,
    dig,
    is_unknown,
    namespace,
    object_name,
)

GKE_CLUSTER = "gcp:container/cluster:Cluster"
EKS_CLUSTER = "aws:eks/cluster:Cluster"
EKS_ADDON = "aws:eks/addon:Addon"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
NAMESPACE = "kubernetes:core/v1:Namespace"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
GATEWAY = "kubernetes:gateway.networking.k8s.io/v1:Gateway"
ROUTE_TYPES = ("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute", "kubernetes:gateway.networking.k8s.io/v1:GRPCRoute")
ACCESS_DOC = "docs/runbooks/cluster-access.md"
#: Policy engines other than the cloud's own that enforce NetworkPolicies, by Helm chart.
DEFAULT_ENGINES = ["calico", "tigera-operator", "cilium"]


def _internet(cidr: object) -> bool:
    try:
        return isinstance(cidr, str) and ipaddress.ip_network(cidr, strict=False).prefixlen == 0
    except ValueError:
        return False


def check_endpoint(resource_type: str, props: Props, settings: Settings) -> list[Finding]:
    fix = (f"set tfplat:cluster.endpoint.access: private (or dns on GKE) and reach the API as {ACCESS_DOC} says; "
           "a public endpoint in prod needs endpoint.public_waiver")
    if resource_type == GKE_CLUSTER:
        private = dig(props, "privateClusterConfig", "enablePrivateEndpoint")
        if is_unknown(private) or private is True:
            return []
        return [Finding("the control plane has a public IP endpoint (privateClusterConfig.enablePrivateEndpoint is not "
                        "true)", fix, cis=("GKE 5.6.4",))]
    if resource_type == EKS_CLUSTER:
        vpc = props.get("vpcConfig")
        public, cidrs = dig(vpc, "endpointPublicAccess"), dig(vpc, "publicAccessCidrs")
        if is_unknown(public) or public is False:
            return []
        out = [Finding("the API server has a public endpoint (vpcConfig.endpointPublicAccess is not false)", fix,
                       cis=("EKS 5.4.2",))]
        if not is_unknown(cidrs) and (not as_list(cidrs) or any(_internet(c) for c in as_list(cidrs))):
            out.append(Finding("the public endpoint accepts every address (publicAccessCidrs empty or 0.0.0.0/0)",
                               "list your VPN and CI ranges in tfplat:cluster.endpoint.authorized_cidrs",
                               cis=("EKS 5.4.1",)))
        return out
    return []


def _engines(resources: Sequence[Resource], settings: Settings) -> list[Resource]:
    names = {str(n) for n in as_list(settings.get("engines", DEFAULT_ENGINES))}
    return [r for r in resources if r.type == HELM_RELEASE and r.props.get("chart") in names]


def check_enforced(resources: Sequence[Resource], settings: Settings) -> list[Finding]:
    policies = len([r for r in resources if r.type == NETWORK_POLICY])
    ignored = f"; the stack's {policies} NetworkPolicies would be accepted and do nothing" if policies else ""
    out = []
    for cluster in (r for r in resources if r.type == GKE_CLUSTER):
        dataplane, calico = cluster.props.get("datapathProvider"), dig(cluster.props, "networkPolicy", "enabled")
        if is_unknown(dataplane) or dataplane == "ADVANCED_DATAPATH" or calico is True:
            continue
        out.append(Finding(f"GKE cluster {cluster.name!r} enforces no NetworkPolicy (datapathProvider {dataplane!r}, "
                           f"network policy add-on off){ignored}",
                           "keep datapath_provider ADVANCED_DATAPATH (Dataplane V2) in infra/components/gcp.py",
                           cluster, cis=("GKE 4.3.1",)))
    engines = _engines(resources, settings)
    for cluster in (r for r in resources if r.type == EKS_CLUSTER):
        name = cluster.props.get("name")
        cni = [a for a in resources if a.type == EKS_ADDON and a.props.get("addonName") == "vpc-cni"
               and (a.depends_on(cluster, "clusterName") or (name and a.props.get("clusterName") == name))]
        if any(vpc_cni_enforces(a) for a in cni) or engines:
            continue
        out.append(Finding(f"EKS cluster {cluster.name!r} enforces no NetworkPolicy (the vpc-cni add-on runs without "
                           f"enableNetworkPolicy and no other policy engine is installed){ignored}",
                           "keep the vpc-cni add-on's configuration_values {\"enableNetworkPolicy\": \"true\"} in "
                           "infra/components/aws.py (or install a policy engine and name its chart in this "
                           "policy's engines setting)", cluster, cis=("EKS 4.3.1", "EKS 5.4.4")))
    return out


def check_namespaces_fenced(resources: Sequence[Resource], settings: Settings) -> list[Finding]:
    fenced = {namespace(r.props) for r in resources if r.type == NETWORK_POLICY}
    return [Finding(f"namespace {object_name(r.props)!r} has no NetworkPolicy: every pod in it accepts traffic from "
                    "anywhere in the cluster", "render a NetworkPolicy for the namespace's pods in its planner module "
                    "(infra/plan/manifests/)", r)
            for r in resources if r.type == NAMESPACE and object_name(r.props) not in fenced]


def _redirects_only(rule: object) -> bool:
    filters = as_list(dig(rule, "filters"))
    return not as_list(dig(rule, "backendRefs")) and bool(filters) and all(
        dig(f, "type") == "RequestRedirect" and dig(f, "requestRedirect", "scheme") == "https" for f in filters)


def check_https_only(resources: Sequence[Resource], settings: Settings) -> list[Finding]:
    out = []
    routes = [r for r in resources if r.type in ROUTE_TYPES]
    for gateway in (r for r in resources if r.type == GATEWAY):
        listeners = [as_map(x) for x in as_list(dig(gateway.props, "spec", "listeners"))]
        plain = {x.get("name") for x in listeners if x.get("protocol") == "HTTP"}
        if not any(x.get("protocol") == "HTTPS" for x in listeners):
            out.append(Finding(f"gateway {object_name(gateway.props)!r} has no HTTPS listener: model traffic crosses "
                               "the load balancer in clear text",
                               "give the gateway a certificate: tfplat:serving.gateway.tls_secret (GKE) or "
                               "certificate_arn (AWS)", gateway))
            continue
        gw_name, gw_ns = object_name(gateway.props), namespace(gateway.props)
        for route in routes:
            if namespace(route.props) != gw_ns:
                continue
            for ref in as_list(dig(route.props, "spec", "parentRefs")):
                section = dig(ref, "sectionName")
                if dig(ref, "name") != gw_name or (section is not None and section not in plain):
                    continue
                if not all(_redirects_only(rule) for rule in as_list(dig(route.props, "spec", "rules"))):
                    out.append(Finding(f"route {object_name(route.props)!r} serves plain HTTP on gateway {gw_name!r} "
                                       f"(listener {section or 'every'}) beside its HTTPS listener",
                                       "attach model routes to the https listener only; the http listener carries "
                                       "only tfplat's redirect to HTTPS (infra/plan/manifests/traffic.py)", route))
    return out


POLICIES = (
    ResourcePolicy(
        id="cluster-endpoint-private", cis=("GKE 5.6.4", "EKS 5.4.1", "EKS 5.4.2"), severity="high",
        check=check_endpoint,
        description="The Kubernetes API has no public endpoint (GKE private endpoint, optionally its IAM-authorized "
                    "DNS endpoint; EKS private access only).",
        remediation="Set tfplat:cluster.endpoint.access private or dns; a public endpoint in prod is a waiver "
                    "(endpoint.public_waiver)."),
    StackPolicy(
        id="cluster-network-policy-enforced", cis=("GKE 4.3.1", "EKS 4.3.1", "EKS 5.4.4"), severity="critical",
        check=check_enforced,
        config_schema={"engines": {"type": "array", "items": {"type": "string"}, "default": DEFAULT_ENGINES,
                                   "description": "Helm charts of policy engines that enforce NetworkPolicies."}},
        description="Every cluster enforces NetworkPolicies: GKE Dataplane V2, or the VPC CNI's network policy "
                    "agent (or another named engine) on EKS.",
        remediation="Keep Dataplane V2 on GKE and enableNetworkPolicy on the vpc-cni add-on."),
    StackPolicy(
        id="namespace-network-policy", cis=("GKE 4.3.2", "EKS 4.3.2"), severity="medium",
        check=check_namespaces_fenced,
        description="Every namespace the stack creates has at least one NetworkPolicy.",
        remediation="Render a NetworkPolicy with each namespace's workloads."),
    StackPolicy(
        id="gateway-https-only", cis=("EKS 5.4.5",), severity="high", check=check_https_only,
        description="Gateways serve HTTPS; their HTTP listener only redirects to it.",
        remediation="Give the gateway a certificate; tfplat then routes models on HTTPS and redirects port 80."),
)
