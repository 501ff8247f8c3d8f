"""Grafana dashboards as code (grafana-foundation-sdk): one per model, one fleet overview.

The JSON is delivered in ConfigMaps that Grafana's dashboard sidecar loads
(infra.plan.manifests.monitoring). Queries use only catalog metrics (metrics.py) and the
same matchers as the alerts (scope.py), so a panel shows what an alert fires on.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
import json
from typing import Any

from grafana_foundation_sdk.builders import dashboard as gd
from grafana_foundation_sdk.builders import prometheus as gp
from grafana_foundation_sdk.builders import timeseries as gts
from grafana_foundation_sdk.builders.common import GraphThresholdsStyleConfig
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import GraphTresholdsStyleMode
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DataSourceRef,
    Threshold,
    ThresholdsMode,
)

from infra.plan.monitoring import metrics as m
from infra.plan.monitoring import queries as qry
from infra.plan.monitoring.alerts import dashboard_uid
from infra.plan.monitoring.latency import precision
from infra.plan.monitoring.scope import FleetScope

# kube-prometheus-stack provisions its Prometheus datasource with this uid.
PROMETHEUS_DATASOURCE = DataSourceRef(type_val="prometheus", uid="prometheus")
RATE = "$__rate_interval"  # Grafana picks a window of >= 4 scrapes for the zoom level
OVERVIEW_UID = "tfplat-overview"
TAGS = ["tfplat", "tensorflow-serving"]


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str


@dataclass(frozen=True)
class PanelSpec:
    title: str
    unit: str
    queries: tuple[Query, ...]
    description: str = ""
    threshold: float | None = None  # drawn as a red line (the latency objective)
    minimum: float | None = 0


def _panel(spec: PanelSpec, panel_id: int, width: int) -> gts.Panel:
    panel = (gts.Panel().id(panel_id).title(spec.title).unit(spec.unit).span(width).height(8)
             .datasource(PROMETHEUS_DATASOURCE).fill_opacity(10))
    if spec.description:
        panel = panel.description(spec.description)
    if spec.minimum is not None:
        panel = panel.min(spec.minimum)
    if spec.threshold is not None:
        steps = [Threshold(value=None, color="green"), Threshold(value=spec.threshold, color="red")]
        panel = (panel.thresholds(gd.ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(steps))
                 .thresholds_style(GraphThresholdsStyleConfig().mode(GraphTresholdsStyleMode.LINE)))
    for i, q in enumerate(spec.queries):
        panel = panel.with_target(gp.Dataquery().expr(q.expr).legend_format(q.legend).ref_id(chr(ord("A") + i)))
    return panel


def _dashboard(uid: str, title: str, description: str,
               rows: Sequence[tuple[str, Sequence[PanelSpec]]]) -> dict[str, Any]:
    board = (gd.Dashboard(title).uid(uid).description(description).tags(TAGS).timezone("utc")
             .time("now-6h", "now").refresh("1m").tooltip(DashboardCursorSync.CROSSHAIR).readonly())
    next_id = 1
    for title_, panels in rows:
        board = board.with_row(gd.Row(title_).id(next_id))
        next_id += 1
        for spec in panels:
            board = board.with_panel(_panel(spec, next_id, 12))
            next_id += 1
    data: dict[str, Any] = json.loads(JSONEncoder(sort_keys=True).encode(board.build()))
    return data


def traffic_panels(scope: FleetScope) -> list[PanelSpec]:
    return [
        PanelSpec("Requests per second by color", "reqps", (
            Query(qry.request_rate(scope, "color", RATE), "{{color}}"),),
            "All requests, per color: during a canary or a blue-green switch both sides show here."),
        PanelSpec("Requests per second by status", "reqps", (
            Query(qry.request_rate(scope, "status", RATE), "{{status}}"),),
            "Status is the gRPC code name TF Serving counts (OK, INVALID_ARGUMENT, INTERNAL, ...)."),
        PanelSpec("Latency p50 / p90 / p99 (successful requests)", "ms", tuple(
            Query(qry.latency_quantile(scope, q, "color", RATE), f"p{round(q * 100)} {{{{color}}}}")
            for q in (0.5, 0.9, 0.99)),
            "TF Serving records latency of successful requests only, in microseconds (shown in ms). "
            "The red line is the latency objective from the model file. "
            f"{precision(scope.latency_objective_ms).describe()}.",
            threshold=float(scope.latency_objective_ms)),
        PanelSpec("Server error ratio", "percentunit", (
            Query(qry.error_ratio(scope, "color", RATE, zero_without_errors=True), "{{color}}"),),
            f"Share of requests failing with {', '.join(m.SERVER_ERROR_CODES)}."),
    ]


def batching_panels(scope: FleetScope) -> list[PanelSpec]:
    return [
        PanelSpec("Batch size (processed, after padding)", "none", tuple(
            Query(qry.histogram_quantile(scope, m.BATCH_PROCESSED_SIZE, q, RATE), f"p{round(q * 100)} {{{{color}}}}")
            for q in (0.5, 0.99)), "Size of the batches the model ran, per color."),
        PanelSpec("Batch size (requests) and padding", "none", (
            Query(qry.histogram_mean(scope, m.BATCH_INPUT_SIZE, RATE), "mean request size {{color}}"),
            Query(qry.histogram_mean(scope, m.BATCH_PADDING, RATE), "mean padding {{color}}")),
            "Padding is the filler added to reach an allowed batch size: wasted accelerator time."),
        PanelSpec("Batch queuing latency p99", "µs", (
            Query(qry.histogram_quantile(scope, m.BATCH_QUEUING_LATENCY, 0.99, RATE), "{{color}}"),),
            "Time a request waits in the batching queue (batch_timeout_micros bounds it when traffic is low)."),
    ]


def replica_panels(scope: FleetScope) -> list[PanelSpec]:
    ready = qry.deployments(scope, m.DEPLOYMENT_READY)
    desired = qry.deployments(scope, m.DEPLOYMENT_DESIRED)
    return [
        PanelSpec("Ready replicas per color", "none", (
            Query(f"sum by (color) ({qry.color_of_deployment(ready)})", "ready {{color}}"),
            Query(f"sum by (color) ({qry.color_of_deployment(desired)})", "desired {{color}}")),
            "A blue-green switch shows as the new color scaling up before the old one scales down."),
        PanelSpec("Ready endpoints of the live Service", "none", (
            Query(qry.live_ready_endpoints(scope), "live"),),
            f"Ready addresses behind Service {scope.live_service} (the live color); 0 is what "
            "TFServingNoReadyReplicas fires on."),
        PanelSpec("Server restarts per color", "none", (
            Query(qry.server_restarts(scope, RATE), "{{color}}"),),
            "Restarts of the tensorflow-serving container. Restarts before a pod is ever ready mean its "
            "version cannot load (TFServingVersionLoadFailed)."),
        PanelSpec("Model loads by status", "none", (
            Query(qry.model_loads(scope), "v{{version}} {{color}} {{status}}"),),
            "SavedModel loads TF Serving counted on running pods; a fail here was overcome by a retry. "
            "A version that never loads shows up as restarts instead (its server exits before serving metrics)."),
    ]


UNVERIFIED_NOTE = ("UNVERIFIED: these names, labels and the plugin's port come from third-party consumers; no "
                   "first-party GKE documentation of the endpoint was found (docs/observability.md, TPU metrics).")


def accelerator_panels(scope: FleetScope) -> list[PanelSpec]:
    if scope.accelerator == "gpu":
        used = qry.accelerator(scope, m.GPU_FB_USED)
        free = qry.accelerator(scope, m.GPU_FB_FREE)
        return [
            PanelSpec("GPU utilization", "percent", (
                Query(f"avg by (pod) ({qry.accelerator(scope, m.GPU_UTIL)})", "{{pod}}"),
                Query(qry.accelerator_busy(scope, m.GPU_UTIL), "mean {{color}}")),
                "DCGM_FI_DEV_GPU_UTIL: share of time a kernel ran. No data with gpu_metrics: gke-managed "
                "(those metrics go to Cloud Monitoring, see docs/observability.md)."),
            PanelSpec("GPU memory used", "percentunit", (
                Query(f"sum by (pod) ({used}) / (sum by (pod) ({used}) + sum by (pod) ({free}))", "{{pod}}"),),
                "Framebuffer used / (used + free), from DCGM_FI_DEV_FB_USED and DCGM_FI_DEV_FB_FREE."),
        ]
    if scope.accelerator == "tpu":
        used = qry.accelerator(scope, m.TPU_MEMORY_USED)
        total = qry.accelerator(scope, m.TPU_MEMORY_TOTAL)
        return [
            PanelSpec("TPU duty cycle (unverified source)", "percent", (
                Query(f"avg by (pod) ({qry.accelerator(scope, m.TPU_DUTY_CYCLE)})", "{{pod}}"),
                Query(qry.accelerator_busy(scope, m.TPU_DUTY_CYCLE), "mean {{color}}")),
                "From GKE's TPU device plugin. Some TPU generations omit runtime metrics: no data is "
                f"unknown, not idle. {UNVERIFIED_NOTE}"),
            PanelSpec("TPU HBM used (unverified source)", "percentunit", (
                Query(f"sum by (pod) ({used}) / sum by (pod) ({total})", "{{pod}}"),), UNVERIFIED_NOTE),
        ]
    return []


def model_dashboard(scope: FleetScope, *, batching: bool) -> dict[str, Any]:
    rows: list[tuple[str, Sequence[PanelSpec]]] = [("Traffic", traffic_panels(scope))]
    if batching:
        rows.append(("Batching", batching_panels(scope)))
    rows.append(("Replicas and versions", replica_panels(scope)))
    accel = accelerator_panels(scope)
    if accel:
        rows.append((f"{scope.accelerator.upper()}", accel))
    return _dashboard(dashboard_uid(scope.model), f"TF Serving / {scope.model}",
                      f"{scope.model} ({scope.accelerator}, team {scope.team}): traffic, latency against its "
                      f"{scope.latency_objective_ms} ms objective, batching, replicas per color.", rows)


def overview_dashboard(scopes: Iterable[FleetScope], namespace: str) -> dict[str, Any]:
    all_scopes = list(scopes)
    deployments = "|".join(d for s in all_scopes for _, d in s.deployments) or "none"
    ready = f'{m.DEPLOYMENT_READY.name}{{namespace="{namespace}",deployment=~"{deployments}"}}'
    panels = [
        PanelSpec("Requests per second by model", "reqps", (
            Query(qry.fleet_request_rate(namespace, RATE), "{{model}}"),)),
        PanelSpec("p99 latency by model", "ms", (
            Query(qry.fleet_latency_p99(namespace, RATE), "{{model}}"),)),
        PanelSpec("Server error ratio by model", "percentunit", (
            Query(qry.fleet_error_ratio(namespace, RATE), "{{model}}"),)),
        PanelSpec("Ready replicas by deployment", "none", (
            Query(f"sum by (deployment) ({ready})", "{{deployment}}"),)),
    ]
    if any(s.accelerator == "gpu" for s in all_scopes):
        gpu_deployments = "|".join(s.deployment_regex() for s in all_scopes if s.accelerator == "gpu")
        pods = f'namespace="{namespace}",pod=~"({gpu_deployments})-[a-z0-9]+-[a-z0-9]+"'
        panels.append(PanelSpec("GPU utilization by pod", "percent", (
            Query(f"avg by (pod) ({m.GPU_UTIL.name}{{{pods}}})", "{{pod}}"),)))
    return _dashboard(OVERVIEW_UID, "TF Serving / fleet overview",
                      "Every model of this stack: traffic, p99 latency, errors, replicas.", [("Fleet", panels)])


def queries(board: dict[str, Any]) -> list[str]:
    """Every PromQL expression of a built dashboard (for checks)."""
    return [t["expr"] for p in board.get("panels", []) for t in p.get("targets", []) or []]
