"""The offline plan's charts: every Helm release the program registers, rendered and checked.

Each `kubernetes:helm.sh/v3:Release` record is rendered with the real `helm template` from
the pinned archive (infra.engines.chartstore), with exactly the release name, namespace,
values and CRD handling the program passed and the stack's Kubernetes version. The CRDs the
charts ship, and the Gateway API CRDs from the CRD mirror, form the stack's CrdCatalog that
validates custom resources, tfplat's own included.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
import os
from pathlib import Path
from typing import Any

from infra.engines import helm
from infra.engines.chartstore import ChartStore, NoChartSourceError
from infra.engines.crds import CrdCatalog, archive_crds, crd_bundle
from infra.engines.tools import CODE_ROOT
from infra.offline.engine import Record
from infra.plan.charts import Chart
from infra.plan.scan_waivers import PREFIX as SKIP_PREFIX
from infra.plan.scan_waivers import rendered_waivers, skip_annotations

RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"
GATEWAY_API = "gateway-api"


@dataclass(frozen=True)
class RenderedRelease:
    release: helm.ReleaseInput
    objects: tuple[dict[str, Any], ...]


@dataclass
class StackCharts:
    rendered: list[RenderedRelease] = field(default_factory=list)
    unrendered: list[str] = field(default_factory=list)  # "release: why" (no chart source at all)
    catalog: CrdCatalog = field(default_factory=CrdCatalog)
    notes: list[str] = field(default_factory=list)
    gateway_api: str | None = None  # the Gateway API version validated against

    @property
    def incomplete(self) -> bool:
        return bool(self.unrendered) or self.gateway_api is None


def release_inputs(records: Iterable[Record], kube_version: str) -> list[helm.ReleaseInput]:
    """The releases as registered, in registration order (the order `pulumi up` installs them)."""
    out = []
    for r in records:
        if r.type != RELEASE_TYPE:
            continue
        i: Mapping[str, Any] = r.inputs
        ref = str(i["chart"])
        if ref.startswith("oci://"):  # an OCI chart is addressed by reference alone
            repository, _, name = ref.rpartition("/")
        else:
            repository, name = str((i.get("repositoryOpts") or {}).get("repo", "")), ref
        pin = Chart(key=name, repository=repository, chart=name, version=str(i["version"]))
        out.append(helm.ReleaseInput(name=str(i.get("name") or r.name), namespace=str(i.get("namespace", "default")),
                                     chart=pin, values=i.get("values") or {}, kube_version=kube_version,
                                     include_crds=not i.get("skipCrds", False)))
    return out


def crd_folders() -> list[Path]:
    """Where CRD bundles are looked for: .cache/crds, then TFPLAT_CRD_MIRROR."""
    folders = [Path(os.environ.get("TFPLAT_CRD_CACHE") or CODE_ROOT / ".cache" / "crds")]
    mirror = os.environ.get("TFPLAT_CRD_MIRROR", "").strip()
    if mirror:
        folders.append(Path(mirror).expanduser())
    return folders


def gateway_api_catalog(catalog: CrdCatalog, pinned: str | None, notes: list[str]) -> str | None:
    """Add the Gateway API CRDs: the pinned version if held, else the newest held below it."""
    found = [b for b in (crd_bundle(f, GATEWAY_API, pinned) for f in crd_folders()) if b is not None]
    if not found:
        notes.append(f"Gateway API objects NOT validated: no {GATEWAY_API}-<version>/ CRD folder in "
                     f"{' or '.join(map(str, crd_folders()))} (set TFPLAT_CRD_MIRROR)")
        return None
    version, objects = max(found, key=lambda b: tuple(int(p) for p in b[0].lstrip("v").split(".")))
    catalog.add_objects(objects, f"Gateway API {version}")
    if pinned is None:
        notes.append(f"Gateway API objects validated against the {version} CRDs (schema and CEL rules); "
                     "GKE installs its own Gateway API CRDs, whose version follows the GKE version")
    elif version != pinned:
        notes.append(f"Gateway API objects validated against the {version} CRDs: the stack installs {pinned}, "
                     f"which neither the CRD cache nor the mirror holds (put its CRDs in "
                     f"{crd_folders()[0] / f'{GATEWAY_API}-{pinned}'}/ to validate against it)")
    return version


def with_rendered_waivers(chart: str, obj: dict[str, Any]) -> dict[str, Any]:
    """The object with the checkov waivers its chart cannot set (scan_waivers.RENDERED_WAIVERS)."""
    reasons = rendered_waivers(chart, obj.get("kind", ""), obj.get("metadata", {}).get("name", ""))
    if reasons:
        annotations = obj["metadata"].setdefault("annotations", {})
        taken = [k for k in annotations if k.startswith(SKIP_PREFIX)]
        annotations.update(skip_annotations(reasons, first=len(taken) + 1))
    return obj


def render_charts(records: Iterable[Record], kube_version: str, *, gateway_api_pin: str | None,
                  store: ChartStore | None = None) -> StackCharts:
    """Render every release (ChartNotFoundError and HelmRenderError propagate: the plan fails)."""
    store = store or ChartStore.from_env()
    out = StackCharts()
    out.gateway_api = gateway_api_catalog(out.catalog, gateway_api_pin, out.notes)
    for release in release_inputs(records, kube_version):
        try:
            archive = store.archive(release.chart)
        except NoChartSourceError as err:
            out.unrendered.append(f"{release.name} ({release.chart.chart} {release.chart.version}): {err.reason}")
            continue
        # The cluster serves every CRD installed before this release (as on a first install).
        spec = helm.ReleaseInput(**{**release.__dict__, "api_versions": out.catalog.api_versions()})
        objects = [with_rendered_waivers(release.chart.chart, o)
                   for o in helm.render(spec, archive, cluster_scoped=out.catalog.cluster_scoped_kinds())]
        out.catalog.add_objects(objects, f"{release.chart.chart} {release.chart.version}")
        out.rendered.append(RenderedRelease(spec, tuple(objects)))
    return out


class ChartsUnavailableError(Exception):
    """Releases left unrendered for want of any chart source, where that is not accepted
    (TFPLAT_REQUIRE_CHARTS=1: make test and CI)."""

    def __init__(self, unrendered: list[str]) -> None:
        self.unrendered = unrendered
        super().__init__("\n".join(unrendered))


def default_catalog() -> CrdCatalog:
    """The CRDs of every pinned chart and the newest Gateway API CRDs held: for checking
    custom resources outside a stack's plan (tests, tools)."""
    from infra.plan.charts import charts

    catalog = CrdCatalog()
    gateway_api_catalog(catalog, None, [])
    store = ChartStore.from_env()
    for pin in charts().values():
        catalog.add_objects(archive_crds(store.archive(pin)), f"{pin.chart} {pin.version}")
    return catalog
