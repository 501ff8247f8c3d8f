"""Image admission rules: how an image reference names its source, and which sources a
cluster's own namespaces take their images from.

Pure facts shared by the config checks, the planner (the ValidatingAdmissionPolicies and
GKE's Binary Authorization policy) and the tests. The admission decision itself is made by
the API server's CEL engine on the rendered policies (infra.plan.manifests.admission);
nothing here decides whether a pod is admitted.
"""

from __future__ import annotations

import re

DOCKER_HUB = "docker.io"
#: The first path element names a registry when it has a dot or a port, or is localhost
#: (the rule container runtimes apply); otherwise the image is on Docker Hub.
_REGISTRY = re.compile(r"^(localhost|[^/]*[.:][^/]*)/")
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")

#: Namespaces the cloud provider runs its own components in (pulled from its registries,
#: often by tag): the image policy never applies there. GKE manages every namespace named
#: gke-* or gmp-* and installs into kube-system; EKS add-ons install into kube-system and
#: amazon-* namespaces. kube-public and kube-node-lease hold no pods of tfplat's.
SYSTEM_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease")
SYSTEM_PREFIXES = {"gcp": ("gke-", "gmp-"), "aws": ("amazon-",)}


def normalize(ref: str) -> str:
    """The reference as a runtime resolves it: `jaegertracing/jaeger:2` ->
    `docker.io/jaegertracing/jaeger:2`, `busybox` -> `docker.io/library/busybox`."""
    if _REGISTRY.match(ref):
        return ref
    return f"{DOCKER_HUB}/{ref}" if "/" in ref else f"{DOCKER_HUB}/library/{ref}"


def repository(ref: str) -> str:
    """The normalized repository of a reference, without tag or digest."""
    ref = normalize(ref).split("@", 1)[0]
    head, _, last = ref.rpartition("/")
    return f"{head}/{last.split(':', 1)[0]}"


def pinned_by_digest(ref: str) -> bool:
    return bool(_DIGEST.search(ref))


def is_prefix(entry: str) -> bool:
    """An allowed-source entry ending in '/' admits everything below it; any other entry
    admits exactly one repository (with any tag or digest)."""
    return entry.endswith("/")


def binauthz_pattern(entry: str) -> str:
    """Binary Authorization's allowlist pattern for an allowed-source entry: a trailing `*`
    matches within the last path element (so `repo*` admits the repository with any tag or
    digest), a trailing `**` also matches below it."""
    return f"{entry}**" if is_prefix(entry) else f"{entry}*"
