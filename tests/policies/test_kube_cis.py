"""CIS section 4 on rendered objects, the gateway's HTTPS, image admission, registry access,
encrypted volumes and namespaces: each passes tfplat's shape and fails with one thing broken."""

from __future__ import annotations

from typing import Any

import pytest

from tests.policies.factories import CONTAINER, DROP, K8S, deployment, patched, res, run, run_stack

ROLE = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"
BINDING = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"
NAMESPACE = "kubernetes:core/v1:Namespace"
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
SA = "kubernetes:core/v1:ServiceAccount"
VAP = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy"
VAPB = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding"
GATEWAY = "kubernetes:gateway.networking.k8s.io/v1:Gateway"
ROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
SC = "kubernetes:storage.k8s.io/v1:StorageClass"


def _role(*rules: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "r"}, "rules": list(rules)}


@pytest.mark.parametrize(("rule", "items"), [
    ({"apiGroups": ["*"], "resources": ["pods"], "verbs": ["get"]}, ("GKE 4.1.3", "EKS 4.1.3")),
    ({"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}, ("GKE 4.1.2", "EKS 4.1.2")),
    ({"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"], "verbs": ["escalate"]},
     ("GKE 4.1.7", "EKS 4.1.8")),
    ({"apiGroups": [""], "resources": ["pods"], "verbs": ["create"]}, ("EKS 4.1.4",)),
    ({"apiGroups": [""], "resources": ["persistentvolumes"], "verbs": ["create"]}, ("EKS 4.1.9",)),
    ({"apiGroups": [""], "resources": ["nodes/proxy"], "verbs": ["get"]}, ("EKS 4.1.10",)),
    ({"apiGroups": ["admissionregistration.k8s.io"], "resources": ["validatingwebhookconfigurations"],
      "verbs": ["patch"]}, ("EKS 4.1.11",)),
    ({"apiGroups": [""], "resources": ["serviceaccounts/token"], "verbs": ["create"]}, ("EKS 4.1.12",)),
])
def test_rbac_grants_are_named_by_item(rule: dict[str, Any], items: tuple[str, ...]) -> None:
    [finding] = run("rbac-least-privilege", ROLE, _role(rule))
    assert finding.cis == items


def test_narrow_rbac_passes_and_broad_bindings_fail() -> None:
    assert run("rbac-least-privilege", ROLE, _role({"apiGroups": [""], "resources": ["configmaps"],
                                                    "verbs": ["get", "list", "watch"]})) == []
    admin = {"metadata": {"name": "b"}, "roleRef": {"name": "cluster-admin"},
             "subjects": [{"kind": "Group", "name": "system:authenticated"}]}
    assert [f.cis for f in run("rbac-least-privilege", BINDING, admin)] == [("GKE 4.1.1", "EKS 4.1.1"),
                                                                             ("GKE 4.1.10",)]


def test_host_namespaces_seccomp_and_secret_env() -> None:
    seccomp = {"securityContext": {"seccompProfile": {"type": "RuntimeDefault"}}}
    ok = deployment(containers=[patched(CONTAINER, seccomp)])
    for policy in ("workload-host-namespaces", "workload-seccomp", "workload-secrets-as-files",
                   "workload-not-in-default-namespace"):
        assert run(policy, K8S["Deployment"], ok) == [], policy
    host = patched(ok, {"spec": {"template": {"spec": {"hostNetwork": True, "hostPID": True}}}})
    assert [f.message for f in run("workload-host-namespaces", K8S["Deployment"], host)] == [
        "the pod shares the node's hostPID, hostNetwork"]
    bare = deployment()
    assert [f.message for f in run("workload-seccomp", K8S["Deployment"], bare)] == [
        "container 'tensorflow-serving' run(s) without a seccomp profile (RuntimeDefault)"]
    pod_level = patched(bare, {"spec": {"template": {"spec": {"securityContext": {
        "seccompProfile": {"type": "RuntimeDefault"}}}}}})
    assert run("workload-seccomp", K8S["Deployment"], pod_level) == []
    env = deployment(containers=[{**CONTAINER, "env": [{"name": "T", "valueFrom": {"secretKeyRef": {"name": "s",
                                                                                                     "key": "t"}}}]}])
    assert len(run("workload-secrets-as-files", K8S["Deployment"], env)) == 1
    assert len(run("workload-not-in-default-namespace", K8S["Deployment"], deployment(namespace="default"))) == 1


def test_service_accounts_and_tokens() -> None:
    with_sa = patched(deployment(), {"spec": {"template": {"spec": {"serviceAccountName": "mobilenet-serving"}}}})
    account = res(SA, "sa", {"metadata": {"name": "mobilenet-serving", "namespace": "serving"},
                             "automountServiceAccountToken": False})
    assert run_stack("workload-service-account", [res(K8S["Deployment"], "d", with_sa), account]) == []
    findings = run_stack("workload-service-account", [res(K8S["Deployment"], "d", deployment())])
    assert [f.cis for f in findings] == [("GKE 4.1.4", "EKS 4.1.5"), ("GKE 4.1.5", "EKS 4.1.6")]
    token = res(SA, "sa", {"metadata": {"name": "mobilenet-serving", "namespace": "serving"}})
    assert [f.cis for f in run_stack("workload-service-account", [res(K8S["Deployment"], "d", with_sa), token])] \
        == [("GKE 4.1.5", "EKS 4.1.6")]


def _ns(name: str, level: str = "restricted", **annotations: str) -> Any:
    meta: dict[str, Any] = {"name": name, "labels": {"pod-security.kubernetes.io/enforce": level}}
    if annotations:
        meta["annotations"] = annotations
    return res(NAMESPACE, name, {"metadata": meta})


def test_namespaces_enforce_pod_security_and_are_fenced() -> None:
    assert run("namespace-pod-security", NAMESPACE, _ns("serving").props) == []
    assert len(run("namespace-pod-security", NAMESPACE, _ns("monitoring", "privileged").props)) == 1
    serving = _ns("serving")
    fence = res(NETPOL, "np", {"metadata": {"name": "np", "namespace": "serving"}})
    assert run_stack("namespace-network-policy", [serving, fence]) == []
    [finding] = run_stack("namespace-network-policy", [serving, _ns("monitoring"), fence])
    assert finding.message.startswith("namespace 'monitoring' has no NetworkPolicy")


def test_a_namespace_may_exempt_itself_with_a_reason() -> None:
    from policies.tfplat_policies import check_resources, load_tier

    exempt = _ns("monitoring", "privileged", **{"tfplat.dev/policy-exemptions": "namespace-pod-security",
                                                "tfplat.dev/policy-exemption-reason": "node-exporter"})
    found = {v.policy for v in check_resources([exempt], load_tier("prod"))}
    assert "namespace-pod-security" not in found and "namespace-network-policy" in found
    silent = _ns("monitoring", "privileged", **{"tfplat.dev/policy-exemptions": "namespace-pod-security"})
    assert "namespace-pod-security" in {v.policy for v in check_resources([silent], load_tier("prod"))}


def _gateway(*listeners: tuple[str, str]) -> Any:
    return res(GATEWAY, "gw", {"metadata": {"name": "tfplat", "namespace": "serving"},
                               "spec": {"listeners": [{"name": n, "protocol": p} for n, p in listeners]}})


def _route(name: str, section: str | None, rule: dict[str, Any]) -> Any:
    ref: dict[str, Any] = {"name": "tfplat"} if section is None else {"name": "tfplat", "sectionName": section}
    return res(ROUTE, name, {"metadata": {"name": name, "namespace": "serving"},
                             "spec": {"parentRefs": [ref], "rules": [rule]}})


REDIRECT = {"filters": [{"type": "RequestRedirect", "requestRedirect": {"scheme": "https", "statusCode": 301}}]}
BACKEND = {"backendRefs": [{"name": "mobilenet-blue", "port": 8501}]}


def test_http_only_redirects_beside_https() -> None:
    gw = _gateway(("http", "HTTP"), ("https", "HTTPS"))
    ok = [gw, _route("tfplat-https-redirect", "http", REDIRECT), _route("mobilenet-rest", "https", BACKEND)]
    assert run_stack("gateway-https-only", ok) == []
    for route in (_route("mobilenet-rest", "http", BACKEND), _route("mobilenet-rest", None, BACKEND)):
        [finding] = run_stack("gateway-https-only", [gw, route])
        assert "serves plain HTTP" in finding.message
    [finding] = run_stack("gateway-https-only", [_gateway(("http", "HTTP"))])
    assert "no HTTPS listener" in finding.message


def _vap(name: str) -> Any:
    return res(VAP, name, {"metadata": {"name": name}, "spec": {"matchConstraints": {"resourceRules": [
        {"resources": ["pods", "pods/ephemeralcontainers"]}]}}})


def _vapb(name: str, actions: list[str]) -> Any:
    return res(VAPB, f"{name}-binding", {"metadata": {"name": name},
                                          "spec": {"policyName": name, "validationActions": actions}})


def test_image_admission_is_bound_to_deny() -> None:
    pods = res(K8S["Deployment"], "d", deployment())
    both = ["tfplat-image-registries", "tfplat-image-digests"]
    ok = [pods, *(_vap(n) for n in both), *(_vapb(n, ["Deny"]) for n in both)]
    assert run_stack("image-admission-policy", ok) == []
    warn = [pods, *(_vap(n) for n in both), *(_vapb(n, ["Warn", "Audit"]) for n in both)]
    assert len(run_stack("image-admission-policy", warn)) == 2
    assert len(run_stack("image-admission-policy", [pods])) == 2
    assert run_stack("image-admission-policy", [_vap(both[0])]) == []  # nothing runs: nothing to admit


def test_nodes_only_read_registries() -> None:
    pool = res("gcp:container/nodePool:NodePool", "p",
               {"nodeConfig": {"serviceAccount": "n@p.iam.gserviceaccount.com"}})
    member = "gcp:projects/iAMMember:IAMMember"
    reader = res(member, "r", {"member": "serviceAccount:n@p.iam.gserviceaccount.com",
                               "role": "roles/artifactregistry.reader"})
    writer = res(member, "w", {"member": "serviceAccount:n@p.iam.gserviceaccount.com",
                               "role": "roles/artifactregistry.writer"})
    other = res(member, "o", {"member": "serviceAccount:ci@p.iam.gserviceaccount.com",
                              "role": "roles/artifactregistry.writer"})
    assert run_stack("node-registry-read-only", [pool, reader, other]) == []
    assert [f.resource for f in run_stack("node-registry-read-only", [pool, writer])] == [writer]
    role = res("aws:iam/role:Role", "nodes", {"name": "tfplat-prod-aws-nodes"})
    group = res("aws:eks/nodeGroup:NodeGroup", "g", {}, deps=(role.urn,))
    attach = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
    ro = res(attach, "ro", {"policyArn": "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly"},
             deps=(role.urn,))
    full = res(attach, "full", {"policyArn": "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryFullAccess"},
               deps=(role.urn,))
    assert run_stack("node-registry-read-only", [role, group, ro]) == []
    assert [f.cis for f in run_stack("node-registry-read-only", [role, group, full])] == [("EKS 5.1.3",)]


def test_volumes_use_the_stacks_key() -> None:
    cmek = res(SC, "sc", {"metadata": {"name": "tfplat-encrypted"}, "provisioner": "pd.csi.storage.gke.io",
                          "parameters": {"type": "pd-balanced", "disk-encryption-kms-key": "projects/p/.../disks"}})
    claim = {"volumeClaimTemplate": {"spec": {"storageClassName": "tfplat-encrypted"}}}
    release = res("kubernetes:helm.sh/v3:Release", "kps", {"values": {"prometheus": {"prometheusSpec": {
        "storageSpec": claim}}}})
    assert run_stack("volumes-cmek", [cmek, release]) == []
    default = res("kubernetes:helm.sh/v3:Release", "kps", {"values": {"prometheus": {"prometheusSpec": {
        "storageSpec": {"volumeClaimTemplate": {"spec": {}}}}}}})
    [finding] = run_stack("volumes-cmek", [cmek, default])
    assert "values.prometheus.prometheusSpec.storageSpec.volumeClaimTemplate" in finding.message
    plain = res(SC, "sc", {"metadata": {"name": "gp3"}, "provisioner": "ebs.csi.aws.com",
                           "parameters": {"type": "gp3", "encrypted": "true"}})
    assert len(run_stack("volumes-cmek", [plain])) == 1
    unknown_key = patched(cmek.props, {"parameters": {"disk-encryption-kms-key": DROP}})
    assert len(run_stack("volumes-cmek", [res(SC, "sc", unknown_key)])) == 1
