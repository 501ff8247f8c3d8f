"""workload-resources, workload-probes, workload-non-root, workload-no-privilege-escalation,
workload-image-pinned."""

from __future__ import annotations

from typing import Any

import pytest

from policies.tfplat_policies.workloads import image_problem
from tests.policies.factories import CONTAINER, DROP, INIT_CONTAINER, K8S, deployment, messages, patched, run

WORKLOAD_POLICIES = ("workload-resources", "workload-probes", "workload-non-root",
                     "workload-no-privilege-escalation", "workload-image-pinned")


def _as(kind: str, props: dict[str, Any]) -> dict[str, Any]:
    """The Deployment's pod template under another workload kind."""
    template = props["spec"]["template"]
    if kind == "CronJob":
        return {"metadata": props["metadata"], "spec": {"jobTemplate": {"spec": {"template": template}}}}
    if kind == "Pod":
        return {"metadata": props["metadata"], "spec": template["spec"]}
    return {"metadata": props["metadata"], "spec": {"template": template}}


@pytest.mark.parametrize("kind", ["Deployment", "DaemonSet", "StatefulSet", "Job", "CronJob", "Pod"])
def test_a_hardened_pod_passes_every_workload_policy(kind: str) -> None:
    props = _as(kind, deployment(init=[INIT_CONTAINER]))
    for policy in WORKLOAD_POLICIES:
        assert run(policy, K8S[kind], props) == [], policy


@pytest.mark.parametrize("kind", ["Deployment", "DaemonSet", "StatefulSet", "Job", "CronJob", "Pod"])
def test_every_kind_is_inspected(kind: str) -> None:
    props = _as(kind, deployment(containers=[patched(CONTAINER, {"image": "nginx"})]))
    assert messages(run("workload-image-pinned", K8S[kind], props)) == [
        "container 'tensorflow-serving' image 'nginx' has no tag (it pulls whatever :latest is)"]


def test_other_types_are_ignored() -> None:
    assert run("workload-resources", "kubernetes:core/v1:ConfigMap", {"data": {}}) == []


def test_missing_requests_and_limits_fail_for_init_containers_too() -> None:
    init = patched(INIT_CONTAINER, {"resources": {"limits": DROP}})
    main = patched(CONTAINER, {"resources": {"requests": {"cpu": DROP}}})
    findings = run("workload-resources", K8S["Deployment"], deployment(containers=[main], init=[init]))
    assert messages(findings) == ["init container 'fetch-model' has no resources limits.cpu, limits.memory",
                                  "container 'tensorflow-serving' has no resources requests.cpu"]
    assert findings[1].fix.endswith("serving.resources (cpu, memory) in models/mobilenet.yaml")


def test_long_running_containers_need_readiness_and_liveness() -> None:
    bare = patched(CONTAINER, {"livenessProbe": DROP, "readinessProbe": DROP})
    findings = run("workload-probes", K8S["DaemonSet"], _as("DaemonSet", deployment(containers=[bare])))
    assert messages(findings) == ["container 'tensorflow-serving' runs for the pod's life without readinessProbe "
                                  "and livenessProbe"]
    half = patched(CONTAINER, {"livenessProbe": DROP})
    assert messages(run("workload-probes", K8S["Deployment"], deployment(containers=[half]))) == [
        "container 'tensorflow-serving' runs for the pod's life without livenessProbe"]


def test_init_containers_and_jobs_are_exempt_from_probes_but_native_sidecars_are_not() -> None:
    bare = patched(CONTAINER, {"livenessProbe": DROP, "readinessProbe": DROP})
    assert run("workload-probes", K8S["Job"], _as("Job", deployment(containers=[bare]))) == []
    assert run("workload-probes", K8S["Deployment"], deployment(init=[INIT_CONTAINER])) == []
    sidecar = {**bare, "name": "proxy", "restartPolicy": "Always"}
    assert messages(run("workload-probes", K8S["Deployment"], deployment(init=[sidecar]))) == [
        "sidecar 'proxy' runs for the pod's life without readinessProbe and livenessProbe"]
    one_shot = _as("Pod", deployment(containers=[bare]))
    one_shot["spec"]["restartPolicy"] = "Never"
    assert run("workload-probes", K8S["Pod"], one_shot) == []


def test_root_containers_fail() -> None:
    props = deployment(containers=[patched(CONTAINER, {"securityContext": {"runAsNonRoot": DROP}})])
    props["spec"]["template"]["spec"]["securityContext"] = {}
    findings = run("workload-non-root", K8S["Deployment"], props)
    assert messages(findings) == ["container 'tensorflow-serving' may run as root (runAsNonRoot is not true in its "
                                  "or the pod's securityContext)"]
    root = deployment(containers=[patched(CONTAINER, {"securityContext": {"runAsUser": 0}})])
    assert messages(run("workload-non-root", K8S["Deployment"], root)) == ["container 'tensorflow-serving' runs as "
                                                                           "user 0 (root)"]


def test_the_pod_security_context_counts_and_the_container_overrides_it() -> None:
    inherits = deployment(containers=[patched(CONTAINER, {"securityContext": {"runAsNonRoot": DROP}})])
    assert run("workload-non-root", K8S["Deployment"], inherits) == []
    overrides = deployment(containers=[patched(CONTAINER, {"securityContext": {"runAsNonRoot": False}})])
    assert len(run("workload-non-root", K8S["Deployment"], overrides)) == 1


@pytest.mark.parametrize(("security", "expected"), [
    ({"allowPrivilegeEscalation": DROP}, "does not set allowPrivilegeEscalation: false"),
    ({"allowPrivilegeEscalation": True}, "does not set allowPrivilegeEscalation: false"),
    ({"privileged": True}, "is privileged"),
])
def test_privilege_escalation_fails(security: dict[str, Any], expected: str) -> None:
    props = deployment(init=[patched(INIT_CONTAINER, {"securityContext": security})])
    findings = run("workload-no-privilege-escalation", K8S["Deployment"], props)
    assert messages(findings) == [f"init container 'fetch-model' {expected}"]
    assert "allowPrivilegeEscalation: false" in findings[0].fix


@pytest.mark.parametrize(("image", "problem"), [
    ("docker.io/tensorflow/serving:2.19.1", None),
    ("docker.io/tensorflow/serving:2.19.1-gpu", None),
    ("registry.local:5000/serving@sha256:0123abcd", None),
    ("registry.local:5000/serving:1.2@sha256:0123abcd", None),
    ("registry.local:5000/serving", "image 'registry.local:5000/serving' has no tag (it pulls whatever :latest is)"),
    ("tensorflow/serving:latest", "image 'tensorflow/serving:latest' uses the moving tag 'latest'"),
    ("tensorflow/serving:Nightly", "image 'tensorflow/serving:Nightly' uses the moving tag 'Nightly'"),
    ("tensorflow/serving@sha256:", "image 'tensorflow/serving@sha256:' has an empty digest"),
    ("", "has no image"),
])
def test_image_references(image: str, problem: str | None) -> None:
    assert image_problem(image) == problem


def test_an_unpinned_fleet_image_points_at_the_versions_file() -> None:
    findings = run("workload-image-pinned", K8S["Deployment"],
                   deployment(containers=[patched(CONTAINER, {"image": "tensorflow/serving:latest"})]))
    assert messages(findings) == ["container 'tensorflow-serving' image 'tensorflow/serving:latest' uses the moving "
                                  "tag 'latest'"]
    assert "images/versions.yaml" in findings[0].fix and "tfplat:serving.images" in findings[0].fix
    other = deployment(fleet=False, containers=[patched(CONTAINER, {"image": "busybox"})])
    assert "infra/plan/manifests/" in run("workload-image-pinned", K8S["Deployment"], other)[0].fix
