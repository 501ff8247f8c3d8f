"""Alert rules per model, generated from the model file (ModelSpec.alerts, latency objective).

One rule group per model. Every alert carries the labels Alertmanager routes on
(severity, team) plus model; the color label says which side of a blue-green pair is sick.
Severities and `for:` durations come from models/<model>.yaml; thresholds that are not
per-model policy (saturation %) are constants in infra.plan.monitoring.scope.
"""

from __future__ import annotations

from typing import Any

from infra.config.spec import AlertRule, Alerts
from infra.plan import tfserving
from infra.plan.monitoring import latency as lat
from infra.plan.monitoring import metrics as m
from infra.plan.monitoring import queries as q
from infra.plan.monitoring.scope import SATURATION_PERCENT, FleetScope

RUNBOOK_LATENCY = "docs/runbooks/latency-alert.md"
UNVERIFIED = ("Unverified metric source: no first-party GKE documentation of the TPU device plugin's "
              "Prometheus endpoint was found (docs/observability.md, TPU metrics).")

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
    expr = f"{q.latency_quantile(scope, 0.99, m.TARGET_LABEL_COLOR)} > {scope.latency_objective_ms}"
    alert = _alert(
        scope, ALERT_LATENCY, expr, rule,
        (f"{scope.model}: p99 latency above its {scope.latency_objective_ms} ms objective",
        f"p99 latency of the {{{{ $labels.color }}}} fleet of {scope.model} is {{{{ $value | humanize }}}} ms "
        f"(objective {scope.latency_objective_ms} ms, successful requests over {q.RATE_WINDOW})."),
        runbook=RUNBOOK_LATENCY)
    alert["annotations"]["precision"] = lat.precision(scope.latency_objective_ms).describe() + "."
    return alert


def errors(scope: FleetScope, rule: AlertRule, threshold: float) -> Rule:
    expr = f"{q.error_ratio(scope, m.TARGET_LABEL_COLOR)} > {threshold:g}"
    return _alert(
        scope, ALERT_ERRORS, expr, rule,
        (f"{scope.model}: server error ratio above {threshold:.2%}",
        f"{{{{ $value | humanizePercentage }}}} of requests to the {{{{ $labels.color }}}} fleet of {scope.model} "
        f"fail with a server-side status ({', '.join(m.SERVER_ERROR_CODES)})."))


def no_ready_replicas(scope: FleetScope, rule: AlertRule) -> Rule:
    # The live Service (named after the model) selects the live color: no ready endpoint
    # behind it means no ready replica of the live color. Reading it there keeps the rule
    # the same across a blue-green switch (the switch changes only the selector).
    return _alert(
        scope, ALERT_NO_READY, q.no_ready_live_endpoint(scope), rule,
        (f"{scope.model}: the live color has no ready replica",
         f"Service {scope.live_service} (the live color of {scope.model}) has no ready endpoint, so the "
         "gateway has nowhere to send its traffic. The live color is the Service's "
         "tfplat.dev/live-color annotation. A new Service gets its Deployment's progress deadline "
         f"({q.live_service_grace(scope)}) before this fires."))


def load_failed(scope: FleetScope, rule: AlertRule) -> Rule:
    path = f"{scope.source_uri}/{{{{ $labels.version }}}}"
    return _alert(
        scope, ALERT_LOAD_FAILED, q.pods_failing_to_load(scope), rule,
        (f"{scope.model}: a version cannot load",
         f"{{{{ $value | humanize }}}} {{{{ $labels.color }}}} pod(s) of {scope.model} "
         f"v{{{{ $labels.version }}}} restarted in the last {q.LOAD_WINDOW} without becoming ready: "
         f"TF Serving cannot load {path} (a missing or "
         "broken SavedModel, no permission to read it, or too little memory). See the container's previous "
         f"log: kubectl -n {scope.namespace} logs <pod> -c {tfserving.SERVER_CONTAINER} --previous."))


def rollout_stuck(scope: FleetScope, rule: AlertRule) -> Rule:
    return _alert(
        scope, ALERT_ROLLOUT_STUCK, q.rollout_stuck(scope), rule,
        (f"{scope.model}: a color stopped making rollout progress",
        "Deployment {{ $labels.deployment }} exceeded its progress deadline "
        "({{ $labels.reason }}): its pods never became ready, usually a version that does not load."))


def gpu_saturated(scope: FleetScope, rule: AlertRule) -> Rule:
    expr = f"{q.accelerator_busy(scope, m.GPU_UTIL)} > {SATURATION_PERCENT}"
    return _alert(
        scope, ALERT_GPU_SATURATED, expr, rule,
        (f"{scope.model}: GPUs above {SATURATION_PERCENT}% busy",
        f"Average GPU utilization of the {{{{ $labels.color }}}} pods of {scope.model} is "
        "{{ $value | humanize }}%; latency will follow. Raise autoscaling.max_replicas or the GPU pool's max_nodes."))


def tpu_saturated(scope: FleetScope, rule: AlertRule) -> Rule:
    expr = f"{q.accelerator_busy(scope, m.TPU_DUTY_CYCLE)} > {SATURATION_PERCENT}"
    alert = _alert(
        scope, ALERT_TPU_SATURATED, expr, rule,
        (f"{scope.model}: TPU duty cycle above {SATURATION_PERCENT}%",
        f"Average TensorCore duty cycle of the {{{{ $labels.color }}}} pods of {scope.model} is "
        "{{ $value | humanize }}%."))
    alert["annotations"]["unverified"] = UNVERIFIED
    return alert


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
