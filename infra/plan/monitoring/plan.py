"""The monitoring plan of one stack: which charts with which values, which rules and dashboards.

Pure, and part of the stack's plan (infra.plan.stack.StackPlan.monitoring): the component
(infra.components.monitoring) only registers what this decides.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from infra.config.spec import StackSpec
from infra.plan import charts
from infra.plan.charts import Chart
from infra.plan.fleet import FleetPlan
from infra.plan.monitoring import alertmanager, tracing, values
from infra.plan.monitoring.alerts import dashboard_uid, rule_group
from infra.plan.monitoring.dashboards import OVERVIEW_UID, model_dashboard, overview_dashboard
from infra.plan.monitoring.scope import FleetScope

KPS_RELEASE = "kube-prometheus-stack"
DCGM_RELEASE = "dcgm-exporter"
COLLECTOR_RELEASE = "otel-collector"
JAEGER_RELEASE = "jaeger"


@dataclass(frozen=True, kw_only=True)
class ReleasePlan:
    name: str  # Helm release name; also the Pulumi logical name
    chart: Chart
    values: Mapping[str, Any]
    # The release creates ServiceMonitors, so the Prometheus operator's CRDs (installed by
    # kube-prometheus-stack) must exist first.
    needs_monitoring_crds: bool


@dataclass(frozen=True, kw_only=True)
class MonitoringPlan:
    namespace: str
    environment: str
    serving_namespace: str
    releases: tuple[ReleasePlan, ...]  # install order
    scopes: tuple[FleetScope, ...]  # one per fleet, sorted by model
    rule_groups: Mapping[str, Mapping[str, Any]]  # model -> Prometheus rule group
    dashboards: Mapping[str, Mapping[str, Any]]  # dashboard uid -> Grafana JSON model
    scrape_tpu_plugin: bool  # GKE's TPU device plugin exposes the TPU metrics
    gpu_metrics_in_cluster: bool  # DCGM data reaches this Prometheus
    receiver_secret_keys: tuple[str, ...]  # keys of the Alertmanager receivers Secret
    collector_endpoint: str | None  # OTLP/gRPC for instrumented callers
    # Secret values, as the engine decrypted them ("[secret]" offline); the component wraps
    # each in pulumi.Output.secret. Kept out of repr so a printed plan shows none of them.
    receiver_secrets: Mapping[str, str] = field(repr=False)  # receiver_secret_keys -> value
    grafana_admin_password: str | None = field(repr=False)  # None: the component generates one

    def release(self, name: str) -> ReleasePlan | None:
        return next((r for r in self.releases if r.name == name), None)


def plan_monitoring(stack: StackSpec, fleets: Sequence[FleetPlan]) -> MonitoringPlan | None:
    """None when tfplat:monitoring.enabled is false."""
    mon = stack.monitoring
    if not mon.enabled:
        return None
    jaeger = tracing.wants_jaeger(mon.tracing)
    releases = [ReleasePlan(
        name=KPS_RELEASE, chart=charts.chart(charts.KUBE_PROMETHEUS_STACK), needs_monitoring_crds=False,
        values=values.kube_prometheus_stack(
            stack, jaeger_query_url=tracing.jaeger_query_url(mon.namespace) if jaeger else None))]
    if values.wants_dcgm_chart(stack):
        releases.append(ReleasePlan(name=DCGM_RELEASE, chart=charts.chart(charts.DCGM_EXPORTER),
                                    values=values.dcgm_exporter(stack), needs_monitoring_crds=True))
    if jaeger:
        releases.append(ReleasePlan(name=JAEGER_RELEASE, chart=charts.chart(charts.JAEGER),
                                    values=tracing.jaeger(stack), needs_monitoring_crds=False))
    if mon.tracing.enabled:
        releases.append(ReleasePlan(name=COLLECTOR_RELEASE, chart=charts.chart(charts.OTEL_COLLECTOR),
                                    values=tracing.collector(stack), needs_monitoring_crds=True))
    gpu_in_cluster = values.wants_dcgm_chart(stack)
    scopes = tuple(FleetScope.of(f) for f in fleets)
    groups = {f.name: rule_group(s, f.model.alerts, gpu_metrics_in_cluster=gpu_in_cluster)
              for f, s in zip(fleets, scopes, strict=True)}
    boards: dict[str, Mapping[str, Any]] = {
        dashboard_uid(f.name): model_dashboard(s, batching=f.model.serving.batching.enabled)
        for f, s in zip(fleets, scopes, strict=True)}
    boards[OVERVIEW_UID] = overview_dashboard(scopes, stack.serving.namespace)
    return MonitoringPlan(
        namespace=mon.namespace, environment=stack.environment, serving_namespace=stack.serving.namespace,
        releases=tuple(releases), scopes=scopes, rule_groups=groups, dashboards=dict(sorted(boards.items())),
        scrape_tpu_plugin=stack.cloud == "gcp" and any(s.accelerator == "tpu" for s in scopes),
        gpu_metrics_in_cluster=gpu_in_cluster,
        receiver_secret_keys=tuple(f.key for f in alertmanager.secret_fields(mon)),
        collector_endpoint=tracing.collector_endpoint(mon.namespace) if mon.tracing.enabled else None,
        receiver_secrets=alertmanager.secret_values(mon), grafana_admin_password=mon.grafana_admin_password,
    )
