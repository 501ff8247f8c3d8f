"""Containers of every pod template: resources, probes, non-root, no escalation, pinned images.

Covers Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs, CronJobs and bare Pods,
init containers included. Probes are required where a container runs for the pod's life:
the containers of long-running workloads and native sidecars (init containers with
restartPolicy Always); classic init containers and Job pods run to completion and are exempt.
Objects inside Helm releases are not visible to a policy (see docs/policies.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .model import Finding, Props, ResourcePolicy, Settings, as_list, as_map, dig, is_unknown, labels, object_name

# (group, kind) -> path of the pod spec, and whether its containers run for the pod's life.
POD_SPECS: dict[tuple[str, str], tuple[tuple[str, ...], bool]] = {
    ("apps", "Deployment"): (("spec", "template", "spec"), True),
    ("apps", "StatefulSet"): (("spec", "template", "spec"), True),
    ("apps", "DaemonSet"): (("spec", "template", "spec"), True),
    ("apps", "ReplicaSet"): (("spec", "template", "spec"), True),
    ("extensions", "Deployment"): (("spec", "template", "spec"), True),
    ("extensions", "DaemonSet"): (("spec", "template", "spec"), True),
    ("batch", "Job"): (("spec", "template", "spec"), False),
    ("batch", "CronJob"): (("spec", "jobTemplate", "spec", "template", "spec"), False),
    ("core", "Pod"): (("spec",), True),
}
REQUIRED_RESOURCES = (("requests", "cpu"), ("requests", "memory"), ("limits", "cpu"), ("limits", "memory"))
FLOATING_TAGS = frozenset({"latest", "stable", "main", "master", "nightly", "edge", "head"})


@dataclass(frozen=True)
class Container:
    name: str
    spec: Mapping[str, Any]
    role: str  # "container" | "init container" | "sidecar" (init container, restartPolicy Always)
    long_running: bool

    def __str__(self) -> str:
        return f"{self.role} {self.name!r}"


def workload_kind(resource_type: str) -> tuple[str, str] | None:
    """kubernetes:apps/v1:Deployment -> ("apps", "Deployment"); None for other types."""
    parts = resource_type.split(":")
    if len(parts) != 3 or parts[0] != "kubernetes":
        return None
    key = (parts[1].split("/")[0], parts[2])
    return key if key in POD_SPECS else None


def pod_spec(resource_type: str, props: Props) -> Mapping[str, Any] | None:
    kind = workload_kind(resource_type)
    if kind is None:
        return None
    spec = dig(props, *POD_SPECS[kind][0])
    return spec if isinstance(spec, Mapping) else None


def containers(resource_type: str, props: Props) -> Iterator[Container]:
    kind = workload_kind(resource_type)
    spec = pod_spec(resource_type, props)
    if kind is None or spec is None:
        return
    long_running = POD_SPECS[kind][1] and not (kind[1] == "Pod" and spec.get("restartPolicy") in ("Never", "OnFailure"))
    for c in as_list(spec.get("initContainers")):
        sidecar = dig(c, "restartPolicy") == "Always"
        yield Container(str(dig(c, "name")), as_map(c), "sidecar" if sidecar else "init container", sidecar)
    for c in as_list(spec.get("containers")):
        yield Container(str(dig(c, "name")), as_map(c), "container", long_running)


def _source(resource_type: str, props: Props, model_key: str) -> str:
    """Where a workload's setting is decided, in tfplat terms."""
    model = labels(props).get("tfplat.dev/model")
    if isinstance(model, str) and model_key:
        return f"{model_key} in models/{model}.yaml"
    kind = resource_type.rsplit(":", 1)[-1]
    return f"the planner module under infra/plan/manifests/ that renders {kind} {object_name(props)!r}"


def _per_container(problem: Callable[[Container, Mapping[str, Any]], str | None],
                   fix: Callable[[str, Props, Container], str]) -> Callable[[str, Props, Settings], list[Finding]]:
    def check(resource_type: str, props: Props, settings: Settings) -> list[Finding]:
        spec = pod_spec(resource_type, props) or {}
        out = []
        for c in containers(resource_type, props):
            message = problem(c, spec)
            if message:
                out.append(Finding(f"{c} {message}", fix(resource_type, props, c)))
        return out
    return check


def _resources_problem(c: Container, pod: Mapping[str, Any]) -> str | None:
    res = c.spec.get("resources")
    if is_unknown(res):
        return None
    missing = [f"{a}.{b}" for a, b in REQUIRED_RESOURCES if dig(res, a, b) in (None, "")]
    return f"has no resources {', '.join(missing)}" if missing else None


def _resources_fix(resource_type: str, props: Props, c: Container) -> str:
    key = "serving.resources (cpu, memory)" if c.role == "container" else ""
    return f"set requests and limits for cpu and memory: {_source(resource_type, props, key)}"


def _probes_problem(c: Container, pod: Mapping[str, Any]) -> str | None:
    if not c.long_running:
        return None
    missing = [p for p in ("readinessProbe", "livenessProbe") if c.spec.get(p) is None]
    return f"runs for the pod's life without {' and '.join(missing)}" if missing else None


def _probes_fix(resource_type: str, props: Props, c: Container) -> str:
    return f"add readiness and liveness probes: {_source(resource_type, props, '')}"


def _effective(c: Container, pod: Mapping[str, Any], field: str) -> Any:
    own = dig(c.spec, "securityContext", field)
    return own if own is not None else dig(pod, "securityContext", field)


def _non_root_problem(c: Container, pod: Mapping[str, Any]) -> str | None:
    non_root, user = _effective(c, pod, "runAsNonRoot"), _effective(c, pod, "runAsUser")
    if is_unknown(non_root) or is_unknown(user):
        return None
    if user == 0:
        return "runs as user 0 (root)"
    if non_root is True:
        return None
    return "may run as root (runAsNonRoot is not true in its or the pod's securityContext)"


def _non_root_fix(resource_type: str, props: Props, c: Container) -> str:
    return f"set securityContext.runAsNonRoot: true and a non-zero runAsUser: {_source(resource_type, props, '')}"


def _escalation_problem(c: Container, pod: Mapping[str, Any]) -> str | None:
    sc = c.spec.get("securityContext")
    if is_unknown(sc) or is_unknown(dig(sc, "allowPrivilegeEscalation")):
        return None
    if dig(sc, "privileged") is True:
        return "is privileged"
    return None if dig(sc, "allowPrivilegeEscalation") is False else "does not set allowPrivilegeEscalation: false"


def _escalation_fix(resource_type: str, props: Props, c: Container) -> str:
    return ("set securityContext.allowPrivilegeEscalation: false (and no privileged: true): "
            f"{_source(resource_type, props, '')}")


def image_problem(image: object) -> str | None:
    """Why an image reference is not pinned, or None: a digest, or a tag that does not move."""
    if is_unknown(image):
        return None
    if not isinstance(image, str) or not image:
        return "has no image"
    if "@" in image:
        digest = image.split("@", 1)[1]
        return None if ":" in digest and digest.split(":", 1)[1] else f"image {image!r} has an empty digest"
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return f"image {image!r} has no tag (it pulls whatever :latest is)"
    tag = last.rsplit(":", 1)[1]
    if not tag or tag.lower() in FLOATING_TAGS:
        return f"image {image!r} uses the moving tag {tag!r}"
    return None


def _image_problem(c: Container, pod: Mapping[str, Any]) -> str | None:
    return image_problem(c.spec.get("image"))


def _image_fix(resource_type: str, props: Props, c: Container) -> str:
    if isinstance(labels(props).get("tfplat.dev/model"), str):
        return ("pin the image in images/versions.yaml with its digest (`make pin-images`), or name an exact tag "
                "or digest in tfplat:serving.images.<key> of the stack file")
    return f"use an exact tag or a digest from images/versions.yaml: {_source(resource_type, props, '')}"


POLICIES = (
    ResourcePolicy(
        id="workload-resources", severity="high", check=_per_container(_resources_problem, _resources_fix),
        description="Every container, init containers included, requests and limits cpu and memory.",
        remediation="Set cpu and memory requests and limits (serving containers: serving.resources in the model "
                    "file)."),
    ResourcePolicy(
        id="workload-probes", severity="medium", check=_per_container(_probes_problem, _probes_fix),
        description="Every long-running container has a readiness and a liveness probe (init containers and "
                    "Job pods are exempt).",
        remediation="Add readinessProbe and livenessProbe to the container."),
    ResourcePolicy(
        id="workload-non-root", cis=("GKE 4.6.3",), severity="high",
        check=_per_container(_non_root_problem, _non_root_fix),
        description="Every container runs as non-root (runAsNonRoot: true, never runAsUser 0).",
        remediation="Set runAsNonRoot: true and a non-zero runAsUser in the container or pod securityContext."),
    ResourcePolicy(
        id="workload-no-privilege-escalation", cis=("GKE 4.6.3", "EKS 4.2.1", "EKS 4.2.5"), severity="high",
        check=_per_container(_escalation_problem, _escalation_fix),
        description="Every container sets allowPrivilegeEscalation: false and is not privileged.",
        remediation="Set securityContext.allowPrivilegeEscalation: false on the container."),
    ResourcePolicy(
        id="workload-image-pinned", severity="medium", check=_per_container(_image_problem, _image_fix),
        description="Every container image is pinned by digest or an exact tag (never latest, never untagged).",
        remediation="Pin images in images/versions.yaml (`make pin-images` adds digests)."),
)
