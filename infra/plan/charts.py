"""Helm charts: the `charts:` section of images/versions.yaml -> pinned chart references.

The same file pins container images (infra.rules.images), so one review covers every
version bump. Only exact versions are accepted: a range would let `pulumi up` install a
chart nobody rendered or reviewed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
import re
from typing import Any

from infra.rules.images import VERSIONS_FILE, VersionPinError, read_versions

KUBE_PROMETHEUS_STACK = "kube-prometheus-stack"
DCGM_EXPORTER = "dcgm-exporter"
JAEGER = "jaeger"
OTEL_COLLECTOR = "opentelemetry-collector"
CLUSTER_AUTOSCALER = "cluster-autoscaler"  # EKS only (infra.plan.aws_autoscaler)
KUEUE = "kueue"  # training stacks (infra.plan.training)
JOBSET = "jobset"
KEDA = "keda"  # every stack: the serving fleets' scaling engine (infra.plan.scaling)

_EXACT = re.compile(r"^\d+\.\d+\.\d+$")


class ChartPinError(VersionPinError):
    """The versions file does not pin a chart the platform installs, or pins it loosely."""


@dataclass(frozen=True, kw_only=True)
class Chart:
    key: str
    repository: str  # Helm repository URL
    chart: str
    version: str  # exact x.y.z

    @property
    def oci(self) -> bool:
        """Published in an OCI registry (helm pulls oci://<repository>/<chart>), not an index."""
        return self.repository.startswith("oci://")

    @property
    def ref(self) -> str:
        """What helm is given as the chart: the OCI reference, or the name in its repository."""
        return f"{self.repository}/{self.chart}" if self.oci else self.chart


def _parse(key: str, entry: Any, path: Path) -> Chart:
    if not isinstance(entry, Mapping):
        raise ChartPinError(f"{path}: charts.{key} must be a mapping with repository, chart and version")
    missing = [f for f in ("repository", "chart", "version") if not entry.get(f)]
    if missing:
        raise ChartPinError(f"{path}: charts.{key} has no {', '.join(missing)}")
    version = str(entry["version"])
    if not _EXACT.match(version):
        raise ChartPinError(f"{path}: charts.{key}.version is {version!r}; pin an exact version such as 1.2.3")
    repo = str(entry["repository"])
    if not repo.startswith(("https://", "oci://")):
        raise ChartPinError(f"{path}: charts.{key}.repository must be an https:// Helm repository or an oci:// "
                            f"registry path, got {repo!r}")
    return Chart(key=key, repository=repo, chart=str(entry["chart"]), version=version)


@cache
def charts(path: Path = VERSIONS_FILE) -> Mapping[str, Chart]:
    """Every pinned chart by key. Raises ChartPinError on a malformed entry."""
    section = read_versions(path).get("charts")
    if not isinstance(section, Mapping):
        raise ChartPinError(f"{path}: no charts: section")
    return {str(k): _parse(str(k), v, path) for k, v in sorted(section.items())}


def chart(key: str, path: Path = VERSIONS_FILE) -> Chart:
    """The pinned chart `key` (one of the module constants)."""
    pinned = charts(path)
    if key not in pinned:
        raise ChartPinError(f"{path}: charts.{key} is not pinned (have: {', '.join(pinned) or 'none'})")
    return pinned[key]


def chart_images(key: str, path: Path = VERSIONS_FILE) -> tuple[str, ...]:
    """Image repositories chart `key` runs at its pinned version (`chart_images:` of the
    versions file); ChartPinError when the chart has no list, so a new chart cannot ship
    without saying what it pulls."""
    section = read_versions(path).get("chart_images")
    entry = section.get(key) if isinstance(section, Mapping) else None
    if not isinstance(entry, list) or not entry or not all(isinstance(i, str) and i for i in entry):
        raise ChartPinError(f"{path}: chart_images.{key} must list the image repositories the chart runs "
                            "(helm template the pinned chart and read its image: fields)")
    return tuple(entry)
