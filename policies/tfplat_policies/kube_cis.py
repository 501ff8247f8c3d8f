"""CIS section 4 (Kubernetes policies) on the objects the plan renders: RBAC, service account
tokens, host namespaces, seccomp, secrets in environment variables, the default namespace,
Pod Security admission labels.

What Helm releases render is not visible here (docs/policies.md); the charts' own RBAC and
pods are a live-cluster check (kube-bench on the cluster).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

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
    labels,
    namespace,
    object_name,
)
from .workloads import containers, pod_spec, workload_kind

RBAC = "kubernetes:rbac.authorization.k8s.io/v1:"
NAMESPACE = "kubernetes:core/v1:Namespace"
SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"
PSS_ENFORCE = "pod-security.kubernetes.io/enforce"
PSS_OK = frozenset({"baseline", "restricted"})
BROAD_GROUPS = {"system:anonymous": ("GKE 4.1.8",), "system:unauthenticated": ("GKE 4.1.9",),
                "system:authenticated": ("GKE 4.1.10",)}
_PLANNER = "the planner module under infra/plan/manifests/ that renders it"


def _workload_check(problem: Any, cis: tuple[str, ...] = ()) -> Any:
    def check(resource_type: str, props: Props, settings: Settings) -> list[Finding]:
        spec = pod_spec(resource_type, props)
        if spec is None:
            return []
        message = problem(resource_type, props, spec)
        return [Finding(message, f"fix it in {_PLANNER}", cis=cis)] if message else []
    return check


def _host_namespaces(resource_type: str, props: Props, spec: Mapping[str, Any]) -> str | None:
    shared = [f for f in ("hostPID", "hostIPC", "hostNetwork") if spec.get(f) is True]
    return f"the pod shares the node's {', '.join(shared)}" if shared else None


def _seccomp(resource_type: str, props: Props, spec: Mapping[str, Any]) -> str | None:
    allowed = ("RuntimeDefault", "Localhost")
    if dig(spec, "securityContext", "seccompProfile", "type") in allowed:
        return None
    bare = [str(c) for c in containers(resource_type, props)
            if dig(c.spec, "securityContext", "seccompProfile", "type") not in allowed]
    return f"{', '.join(bare)} run(s) without a seccomp profile (RuntimeDefault)" if bare else None


def _secret_env(resource_type: str, props: Props, spec: Mapping[str, Any]) -> str | None:
    used = [str(c) for c in containers(resource_type, props)
            if any(dig(e, "valueFrom", "secretKeyRef") for e in as_list(c.spec.get("env")))
            or any(dig(e, "secretRef") for e in as_list(c.spec.get("envFrom")))]
    return f"{', '.join(used)} read(s) Secrets from environment variables (mount them as files)" if used else None


def _default_namespace(resource_type: str, props: Props, spec: Mapping[str, Any]) -> str | None:
    return "runs in the default namespace" if namespace(props) == "default" else None


def check_service_accounts(resources: Sequence[Resource], settings: Settings) -> list[Finding]:
    """Pods run as their own service account, and mount its API token only when they use it."""
    accounts = {(namespace(r.props), object_name(r.props)): r.props for r in resources if r.type == SERVICE_ACCOUNT}
    out = []
    for r in resources:
        spec = pod_spec(r.type, r.props)
        if spec is None or workload_kind(r.type) is None:
            continue
        name = spec.get("serviceAccountName") or "default"
        if is_unknown(name):
            continue
        if name == "default":
            out.append(Finding(f"{object_name(r.props)!r} runs as the namespace's default service account",
                               f"give it its own ServiceAccount in {_PLANNER}", r, cis=("GKE 4.1.4", "EKS 4.1.5")))
        mount = spec.get("automountServiceAccountToken")
        if mount is None:
            mount = as_map(accounts.get((namespace(r.props), name))).get("automountServiceAccountToken")
        if mount is not False:
            out.append(Finding(f"{object_name(r.props)!r} mounts a Kubernetes API token it may not need "
                               "(automountServiceAccountToken is not false on the pod or its ServiceAccount)",
                               f"set automountServiceAccountToken: false in {_PLANNER}, or exempt the workload with "
                               "the reason it calls the API", r, cis=("GKE 4.1.5", "EKS 4.1.6")))
    return out


def check_pod_security(resource_type: str, props: Props, settings: Settings) -> list[Finding]:
    if resource_type != NAMESPACE:
        return []
    level = labels(props).get(PSS_ENFORCE)
    if is_unknown(level) or level in PSS_OK:
        return []
    return [Finding(f"namespace {object_name(props)!r} enforces Pod Security level {level!r}, not baseline or "
                    "restricted",
                    f"label it {PSS_ENFORCE}: restricted (or baseline), or exempt it with the reason its pods need "
                    "more (tfplat.dev/policy-exemptions)")]


def _rules(props: Props) -> list[Mapping[str, Any]]:
    return [as_map(r) for r in as_list(props.get("rules"))]


def _grants(rule: Mapping[str, Any], verbs: set[str], resources: set[str]) -> bool:
    v, r = set(map(str, as_list(rule.get("verbs")))), set(map(str, as_list(rule.get("resources"))))
    return bool((v & verbs or "*" in v) and (r & resources or "*" in r))


def check_rbac(resource_type: str, props: Props, settings: Settings) -> list[Finding]:
    if not resource_type.startswith(RBAC):
        return []
    kind = resource_type.rsplit(":", 1)[-1]
    name = object_name(props)
    fix = "grant only the verbs and resources the workload uses, in the planner module that renders the role"
    out = []
    if kind in ("Role", "ClusterRole"):
        for rule in _rules(props):
            wild = [f for f in ("apiGroups", "resources", "verbs") if "*" in map(str, as_list(rule.get(f)))]
            if wild:
                out.append(Finding(f"{kind} {name!r} uses '*' in {', '.join(wild)}", fix,
                                   cis=("GKE 4.1.3", "EKS 4.1.3")))
            if _grants(rule, {"get", "list", "watch"}, {"secrets"}):
                out.append(Finding(f"{kind} {name!r} reads Secrets", fix, cis=("GKE 4.1.2", "EKS 4.1.2")))
            if _grants(rule, {"bind", "escalate", "impersonate"}, {"roles", "clusterroles", "users", "groups",
                                                                    "serviceaccounts"}):
                out.append(Finding(f"{kind} {name!r} may bind, escalate or impersonate", fix,
                                   cis=("GKE 4.1.7", "EKS 4.1.8")))
            checks = ((({"create"}, {"pods"}), "creates pods", ("EKS 4.1.4",)),
                      (({"create"}, {"persistentvolumes"}), "creates PersistentVolumes", ("EKS 4.1.9",)),
                      (({"get", "create", "*"}, {"nodes/proxy"}), "reaches the nodes/proxy subresource",
                       ("EKS 4.1.10",)),
                      (({"create", "update", "patch", "delete"}, {"validatingwebhookconfigurations",
                                                                 "mutatingwebhookconfigurations"}),
                       "changes admission webhook configurations", ("EKS 4.1.11",)),
                      (({"create"}, {"serviceaccounts/token"}), "creates service account tokens", ("EKS 4.1.12",)))
            for (verbs, objs), what, cis in checks:
                if _grants(rule, verbs, objs):
                    out.append(Finding(f"{kind} {name!r} {what}", fix, cis=cis))
    if kind in ("RoleBinding", "ClusterRoleBinding"):
        if dig(props, "roleRef", "name") == "cluster-admin":
            out.append(Finding(f"{kind} {name!r} grants cluster-admin", fix, cis=("GKE 4.1.1", "EKS 4.1.1")))
        for subject in as_list(props.get("subjects")):
            groups = BROAD_GROUPS.get(str(dig(subject, "name")))
            if groups:
                out.append(Finding(f"{kind} {name!r} binds {dig(subject, 'name')}", fix, cis=groups))
    return out


POLICIES = (
    ResourcePolicy(
        id="rbac-least-privilege", severity="high", check=check_rbac,
        cis=("GKE 4.1.1", "GKE 4.1.2", "GKE 4.1.3", "GKE 4.1.7", "GKE 4.1.8", "GKE 4.1.9", "GKE 4.1.10",
             "EKS 4.1.1", "EKS 4.1.2", "EKS 4.1.3", "EKS 4.1.4", "EKS 4.1.8", "EKS 4.1.9", "EKS 4.1.10",
             "EKS 4.1.11", "EKS 4.1.12"),
        description="Rendered Roles and bindings grant no cluster-admin, wildcard, Secret reading, escalation, pod "
                    "or token creation, node proxy or webhook rights, and nothing to anonymous or all users.",
        remediation="Grant each workload only the verbs and resources it uses."),
    StackPolicy(
        id="workload-service-account", severity="medium", check=check_service_accounts,
        cis=("GKE 4.1.4", "GKE 4.1.5", "EKS 4.1.5", "EKS 4.1.6"),
        description="Pods run as their own service account and mount no API token they do not use.",
        remediation="Give each workload a ServiceAccount; set automountServiceAccountToken: false."),
    ResourcePolicy(
        id="workload-host-namespaces", severity="high", check=_workload_check(_host_namespaces),
        cis=("EKS 4.2.2", "EKS 4.2.3", "EKS 4.2.4"),
        description="Pods share no host namespace (hostPID, hostIPC, hostNetwork).",
        remediation="Remove host namespaces, or exempt the workload with the reason it needs the node's."),
    ResourcePolicy(
        id="workload-seccomp", severity="medium", check=_workload_check(_seccomp), cis=("GKE 4.6.2",),
        description="Pods run with the RuntimeDefault (or a Localhost) seccomp profile.",
        remediation="Set securityContext.seccompProfile.type: RuntimeDefault on the pod."),
    ResourcePolicy(
        id="workload-secrets-as-files", severity="medium", check=_workload_check(_secret_env),
        cis=("GKE 4.4.1", "EKS 4.4.1"),
        description="Containers read Secrets from mounted files, not environment variables.",
        remediation="Mount the Secret as a volume instead of env/envFrom."),
    ResourcePolicy(
        id="workload-not-in-default-namespace", severity="low", check=_workload_check(_default_namespace),
        cis=("GKE 4.6.4", "EKS 4.5.2"),
        description="No workload runs in the default namespace.",
        remediation="Render workloads into tfplat's namespaces."),
    ResourcePolicy(
        id="namespace-pod-security", severity="high", check=check_pod_security, cis=("GKE 4.2.1",),
        description="Every namespace the stack creates enforces the baseline or restricted Pod Security Standard.",
        remediation="Label namespaces pod-security.kubernetes.io/enforce: restricted (or baseline)."),
)
