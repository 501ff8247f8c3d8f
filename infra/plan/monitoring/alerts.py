"""Alert rules per model, generated from the model file (ModelSpec.alerts, latency objective).

One rule group per model. Every alert carries the labels Alertmanager routes on
(severity, team) plus model; the color label says which side of a blue-green pair is sick.
Severities and `for:` durations come from models/<model>.yaml; thresholds that are not
per-model policy (saturation %) are constants in infra.plan.monitoring.scope.
"""

from __future__ import annotations

from typing import Any

from infra.config.spec import AlertRule, Alerts
from infra.plan.monitoring import metrics as m
from infra.plan.monitoring.scope import (
    RATE_WINDOW,
    SATURATION_PERCENT,
    FleetScope,
    color_of_deployment,
    error_ratio,
    latency_quantile,
)

RUNBOOK_LATENCY = "docs/runbooks/latency-alert.md"
LOAD_WINDOW = "15m"  # TF Serving retries a failed load for minutes; one window spans them

ALERT_LATENCY = "TFServingLatencyP99High"
ALERT_ERRORS = "TFServingErrorRatioHigh"
ALERT_NO_READY = "TFServingNoReadyReplicas"
ALERT_LOAD_FAILED = "TFServingVersionLoadFailed"
ALERT_ROLLOUT_STUCK = "TFServingRolloutStuck"
ALERT_GPU_SATURATED = "TFServingGPUSaturated"
ALERT_TPU_SATURATED = "TFServingTPUSaturated"

Rule = dict[str, Any]


def dashboard_uid(model: str) -> str:
    """Grafana dashboard uid of a model (<= 40 characters: model names are <= 30)."""
    return f"tfplat-{model}"


def _alert(scope: FleetScope, name: str, expr: str, rule: AlertRule, text: tuple[str, str], *,
           labels: dict[str, str] | None = None, runbook: str | None = None) -> Rule:
    summary, description = text
    annotations = {"summary": summary, "description": description,
                   "dashboard": f"/d/{dashboard_uid(scope.model)}"}
    if runbook:
        annotations["runbook_url"] = runbook
    return {
        "alert": name,
        "expr": expr,
        "for": rule.for_,
        "labels": {"severity": rule.severity, "team": scope.team, "model": scope.model,
                   "namespace": scope.namespace, **(labels or {})},
        "annotations": annotations,
    }


def latency(scope: FleetScope, rule: AlertRule) -> Rule:
    expr = f"{latency_quantile(scope, 0.99, m.TARGET_LABEL_COLOR)} > {scope.latency_objective_ms}"
    return _alert(
        scope, ALERT_LATENCY, expr, rule,
        (f"{scope.model}: p99 latency above its {scope.latency_objective_ms} ms objective",
        f"p99 latency of the {{{{ $labels.color }}}} fleet of {scope.model} is {{{{ $value | humanize }}}} ms "
        f"(objective {scope.latency_objective_ms} ms, successful requests over {RATE_WINDOW})."),
        runbook=RUNBOOK_LATENCY)


def errors(scope: FleetScope, rule: AlertRule, threshold: float) -> Rule:
    expr = f"{error_ratio(scope, m.TARGET_LABEL_COLOR)} > {threshold:g}"
    return _alert(
        scope, ALERT_ERRORS, expr, rule,
        (f"{scope.model}: server error ratio above {threshold:.2%}",
        f"{{{{ $value | humanizePercentage }}}} of requests to the {{{{ $labels.color }}}} fleet of {scope.model} "
        f"fail with a server-side status ({', '.join(m.SERVER_ERROR_CODES)})."))


def no_ready_replicas(scope: FleetScope, rule: AlertRule) -> Rule:
    # The live Service (named after the model) selects the live color: no ready address in
    # its Endpoints means no ready replica of the live color. Reading it there keeps the
    # rule the same across a blue-green switch (the switch changes only the selector).
    # absent() also fires when kube-state-metrics reports nothing: nothing proves it serves.
    sel = f'namespace="{scope.namespace}",endpoint="{scope.live_service}",ready="true"'
    expr = f"absent({m.ENDPOINT_ADDRESS.name}{{{sel}}})"
    return _alert(
        scope, ALERT_NO_READY, expr, rule,
        (f"{scope.model}: the live color has no ready replica",
         f"Service {scope.live_service} (the live color of {scope.model}) has no ready endpoint, so the "
         "gateway has nowhere to send its traffic. The live color is the Service's "
         "tfplat.dev/live-color annotation."))


def load_failed(scope: FleetScope, rule: AlertRule) -> Rule:
    failed = 'status="fail"'
    fails = f"{m.LOAD_ATTEMPTS.name}{{{scope.tfs(failed)}}}"
    # A failure shows either as growth of an existing series or as a series that did not
    # exist a window ago (the counter is born at 1, which increase() cannot see).
    expr = (f"count by (color, version, model_path) ((increase({fails}[{LOAD_WINDOW}]) > 0) "
            f"or ({fails} unless {fails} offset {LOAD_WINDOW}))")
    return _alert(
        scope, ALERT_LOAD_FAILED, expr, rule,
        (f"{scope.model}: a version failed to load",
        f"TF Serving failed to load {{{{ $labels.model_path }}}} ({scope.model} v{{{{ $labels.version }}}}, "
        f"{{{{ $labels.color }}}}) in the last {LOAD_WINDOW}."))


def rollout_stuck(scope: FleetScope, rule: AlertRule) -> Rule:
    cond = (f'{m.DEPLOYMENT_CONDITION.name}{{{scope.deployment_matchers()},'
            f'condition="Progressing",status="false"}}')
    expr = f"{color_of_deployment(cond)} == 1"
    return _alert(
        scope, ALERT_ROLLOUT_STUCK, expr, rule,
        (f"{scope.model}: a color stopped making rollout progress",
        "Deployment {{ $labels.deployment }} exceeded its progress deadline "
        "({{ $labels.reason }}): its pods never became ready, usually a version that does not load."))


def gpu_saturated(scope: FleetScope, rule: AlertRule) -> Rule:
    expr = f"avg({m.GPU_UTIL.name}{{{scope.pods()}}}) > {SATURATION_PERCENT}"
    return _alert(
        scope, ALERT_GPU_SATURATED, expr, rule,
        (f"{scope.model}: GPUs above {SATURATION_PERCENT}% busy",
        f"Average GPU utilization of {scope.model} pods is {{{{ $value | humanize }}}}%; "
        "latency will follow. Raise replicas.max or the GPU pool's max_nodes."))


def tpu_saturated(scope: FleetScope, rule: AlertRule) -> Rule:
    expr = f"avg({m.TPU_DUTY_CYCLE.name}{{{scope.pods()}}}) > {SATURATION_PERCENT}"
    return _alert(
        scope, ALERT_TPU_SATURATED, expr, rule,
        (f"{scope.model}: TPU duty cycle above {SATURATION_PERCENT}%",
        f"Average TensorCore duty cycle of {scope.model} pods is {{{{ $value | humanize }}}}%."))


def rule_group(scope: FleetScope, alerts_spec: Alerts, *, gpu_metrics_in_cluster: bool) -> dict[str, Any]:
    """The rule group of one model. GPU saturation only where DCGM data reaches this
    Prometheus (an alert on data that never arrives would be silently useless)."""
    rules = [
        latency(scope, alerts_spec.latency),
        errors(scope, alerts_spec.errors, alerts_spec.error_ratio_threshold),
        no_ready_replicas(scope, alerts_spec.no_ready_replicas),
        load_failed(scope, alerts_spec.load_failure),
        rollout_stuck(scope, alerts_spec.load_failure),
    ]
    if scope.accelerator == "gpu" and gpu_metrics_in_cluster:
        rules.append(gpu_saturated(scope, alerts_spec.accelerator_saturation))
    if scope.accelerator == "tpu":
        rules.append(tpu_saturated(scope, alerts_spec.accelerator_saturation))
    return {"name": f"tfplat.{scope.model}", "rules": rules}
