"""`helm template` of a pinned chart for the test harness, through the project's own engine
(infra.engines: the pinned helm of tools/helm, the chart cache and TFPLAT_CHART_MIRROR).
Callers use only `template()`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infra.engines import helm
from infra.engines.chartstore import ChartStore
from infra.plan.charts import Chart


def template(chart: Chart, *, release: str, namespace: str, values: Mapping[str, Any],
             kube_version: str) -> list[dict[str, Any]]:
    """`helm template` of a pinned chart with exactly the values the program passes."""
    spec = helm.ReleaseInput(name=release, namespace=namespace, chart=chart, values=values,
                             kube_version=kube_version, include_crds=False)
    return helm.render(spec, ChartStore.from_env().archive(chart))
