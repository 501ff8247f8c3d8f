"""promtool unit tests of the generated alert rules: for each alert, series that fire it
and series that must not, written as a Prometheus rule test file.

Expected annotations are rendered here with the same two template functions the rules use
(`humanize`, `humanizePercentage`), re-implemented after Prometheus' template package, so
a wrong label or a broken template in a description fails the test too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import math
import re
from typing import Any

from infra.plan import tfserving
from infra.plan.monitoring import alerts as a
from infra.plan.monitoring import metrics as m
from infra.plan.monitoring.scope import SATURATION_PERCENT, FleetScope
from infra.rules import names

_SI_UP = ["", "k", "M", "G", "T", "P", "E", "Z", "Y"]
_SI_DOWN = ["", "m", "u", "n", "p", "f", "a", "z", "y"]


def _g4(v: float) -> str:
    return "%.4g" % v  # noqa: UP031 (Go's %.4g and Python's agree for these values)


def humanize(v: float) -> str:
    if v == 0 or math.isnan(v) or math.isinf(v):
        return _g4(v)
    if abs(v) >= 1:
        i = 0
        while abs(v) >= 1000 and i < len(_SI_UP) - 1:
            v /= 1000
            i += 1
        return f"{_g4(v)}{_SI_UP[i]}"
    i = 0
    while abs(v) < 1 and i < len(_SI_DOWN) - 1:
        v *= 1000
        i += 1
    return f"{_g4(v)}{_SI_DOWN[i]}"


def render(template: str, labels: dict[str, str], value: float) -> str:
    out = re.sub(r"\{\{ \$value \| humanizePercentage \}\}", lambda _: f"{_g4(value * 100)}%", template)
    out = re.sub(r"\{\{ \$value \| humanize \}\}", lambda _: humanize(value), out)
    return re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda mt: labels.get(mt.group(1), ""), out)


@dataclass
class Case:
    """One alert, one situation: input series and the alerts expected at eval_time."""

    name: str
    alert: str
    eval_time: str
    series: list[dict[str, str]]
    fires: list[tuple[dict[str, str], float]] = field(default_factory=list)  # (labels, $value)


def _sel(name: str, labels: dict[str, str]) -> str:
    return name + "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


def _pod(scope: FleetScope, color: str) -> str:
    deployment = dict(scope.deployments)[color]
    return f"{deployment}-6d4cf56db6-x7k2p"


def tfs_labels(scope: FleetScope, color: str, version: int) -> dict[str, str]:
    return {"namespace": scope.namespace, m.TARGET_LABEL_MODEL: scope.model, m.TARGET_LABEL_COLOR: color,
            m.TARGET_LABEL_VERSION: str(version), "pod": _pod(scope, color), "job": f"monitoring/tfplat-{scope.model}"}


def _latency_series(scope: FleetScope, color: str, version: int, slow: bool) -> list[dict[str, str]]:
    # 60 requests a minute; all in (100ms, 200ms] when slow, else all in (0, 10ms].
    base = {**tfs_labels(scope, color, version), "model_name": scope.model, "API": "Predict", "entrypoint": "GRPC"}
    bounds = {"10000": not slow, "100000": not slow, "200000": True, "+Inf": True}
    return [{"series": _sel(f"{m.REQUEST_LATENCY.name}_bucket", {**base, "le": le}),
             "values": "0+60x40" if counted else "0x40"} for le, counted in bounds.items()]


def cases(scope: FleetScope, spec: Any) -> list[Case]:
    color = scope.deployments[-1][0]  # any color with a version; nothing depends on which is live
    version = 1
    out: list[Case] = []
    slow_ms = 199.0  # 100 + (200 - 100) * 0.99, the interpolated p99 of the slow histogram
    latency_fires = slow_ms > scope.latency_objective_ms
    out.append(Case("latency above objective", a.ALERT_LATENCY, "30m", _latency_series(scope, color, version, True),
                    [({"color": color}, slow_ms)] if latency_fires else []))
    out.append(Case("latency within objective", a.ALERT_LATENCY, "30m",
                    _latency_series(scope, color, version, False)))
    # Slow for less than `for:` (2 minutes of data) must not fire yet.
    out.append(Case("latency high but not for long", a.ALERT_LATENCY, "2m",
                    _latency_series(scope, color, version, True)))

    threshold = spec.error_ratio_threshold
    ok = {**tfs_labels(scope, color, version), "model_name": scope.model, "status": "OK"}
    bad = {**ok, "status": "INTERNAL"}
    caller = {**ok, "status": "INVALID_ARGUMENT"}
    # 200 requests a minute; errors chosen well above / below the model's threshold.
    high = max(threshold * 4, 0.02)
    err_per_min = round(200 * high)
    out.append(Case("server errors above threshold", a.ALERT_ERRORS, "20m", [
        {"series": _sel(m.REQUEST_COUNT.name, ok), "values": f"0+{200 - err_per_min}x30"},
        {"series": _sel(m.REQUEST_COUNT.name, bad), "values": f"0+{err_per_min}x30"}],
        [({"color": color}, err_per_min / 200)]))
    out.append(Case("caller errors do not count", a.ALERT_ERRORS, "20m", [
        {"series": _sel(m.REQUEST_COUNT.name, ok), "values": "0+100x30"},
        {"series": _sel(m.REQUEST_COUNT.name, caller), "values": "0+100x30"}]))
    low_err = max(1, math.floor(200 * threshold / 4))
    out.append(Case("server errors below threshold", a.ALERT_ERRORS, "20m", [
        {"series": _sel(m.REQUEST_COUNT.name, ok), "values": f"0+{200 * 10 - low_err}x30"},
        {"series": _sel(m.REQUEST_COUNT.name, bad), "values": f"0+{low_err}x30"}]))

    out += _no_ready_cases(scope)
    out += _load_failed_cases(scope, color)

    dep = dict(scope.deployments)[color]
    cond = {"namespace": scope.namespace, "deployment": dep, "condition": "Progressing"}
    stuck = {**cond, "status": "false", "reason": "ProgressDeadlineExceeded"}
    out.append(Case("rollout past its deadline", a.ALERT_ROLLOUT_STUCK, "15m",
                    [{"series": _sel(m.DEPLOYMENT_CONDITION.name, stuck), "values": "1x20"}],
                    [({**stuck, "color": color}, 1)]))
    out.append(Case("rollout progressing", a.ALERT_ROLLOUT_STUCK, "15m", [
        {"series": _sel(m.DEPLOYMENT_CONDITION.name, {**cond, "status": "true", "reason": "NewReplicaSetAvailable"}),
         "values": "1x20"},
        {"series": _sel(m.DEPLOYMENT_CONDITION.name, {**stuck, "reason": "NewReplicaSetAvailable"}),
         "values": "0x20"}]))

    if scope.accelerator in ("gpu", "tpu"):
        out += _saturation_cases(scope)
    return out


def _no_ready_cases(scope: FleetScope) -> list[Case]:
    grace_min = math.ceil(tfserving.progress_deadline_s(scope.load_timeout_s) / 60)
    end = grace_min + 30  # minutes of data; every case is evaluated at its end
    svc = {"namespace": scope.namespace, "service": scope.live_service, "uid": "5a1c"}
    slice_ = {"namespace": scope.namespace, "endpointslice": f"{scope.live_service}-x7k2p"}
    labels = {**slice_, m.ksm_label(m.SERVICE_NAME_LABEL): scope.live_service}
    other = {**slice_, "endpointslice": "other-q8r4t", m.ksm_label(m.SERVICE_NAME_LABEL): "other"}
    addr = {**slice_, "address": "10.8.0.12", "targetref_kind": "Pod", "targetref_name": _pod(scope, "blue"),
            "targetref_namespace": scope.namespace, "serving": "true", "terminating": "false"}

    def series(created_at: int, ready_until: int | None, other_ready: bool = False) -> list[dict[str, str]]:
        exists = f"_x{created_at} 1x{end - created_at}" if created_at else f"1x{end}"
        out = [{"series": _sel(m.SERVICE_CREATED.name, svc), "values": exists},
               {"series": _sel(m.ENDPOINTSLICE_LABELS.name, labels), "values": exists},
               {"series": _sel(m.ENDPOINTSLICE_LABELS.name, other), "values": f"1x{end}"}]
        if ready_until is not None:
            out.append({"series": _sel(m.ENDPOINTSLICE_ENDPOINTS.name, {**addr, "ready": "true"}),
                        "values": f"1x{ready_until} _x{end - ready_until}"})
        out.append({"series": _sel(m.ENDPOINTSLICE_ENDPOINTS.name, {**addr, "ready": "false"}),
                    "values": f"_x{created_at + (ready_until or 0)} 1x{end - created_at - (ready_until or 0)}"})
        if other_ready:  # another Service's ready endpoint does not count
            out.append({"series": _sel(m.ENDPOINTSLICE_ENDPOINTS.name, {**addr, "endpointslice": "other-q8r4t",
                                                                          "ready": "true"}), "values": f"1x{end}"})
        return out

    fires = [({"namespace": scope.namespace}, 0.0)]
    at = f"{end}m"
    return [
        Case("live Service lost its last ready endpoint", a.ALERT_NO_READY, at, series(0, end - 10, True), fires),
        Case("live Service keeps a ready endpoint", a.ALERT_NO_READY, at, series(0, end)),
        # A first rollout: the Service is younger than its Deployment's progress deadline.
        Case("new live Service still loading its first version", a.ALERT_NO_READY, at,
             series(end - grace_min + 2, None)),
        Case("new live Service past its progress deadline", a.ALERT_NO_READY, at,
             series(end - grace_min - 6, None), fires),
        Case("kube-state-metrics reports nothing (TargetDown's job)", a.ALERT_NO_READY, at, []),
    ]


def _load_failed_cases(scope: FleetScope, color: str) -> list[Case]:
    pod = {"namespace": scope.namespace, "pod": _pod(scope, color), "uid": "9f3e"}
    server = {**pod, "container": tfserving.SERVER_CONTAINER}
    fetch = {**pod, "container": tfserving.FETCH_CONTAINER}
    labels = {**pod, m.ksm_label(names.LABEL_VERSION): "8", m.ksm_label(names.LABEL_COLOR): color,
              m.ksm_label(names.LABEL_MODEL): scope.model}
    expect = [({"color": color, "version": "8"}, 1.0)]

    def series(restarts: str, ready: str, init: str | None = None) -> list[dict[str, str]]:
        out = [{"series": _sel(m.CONTAINER_RESTARTS.name, server), "values": restarts},
               {"series": _sel(m.CONTAINER_READY.name, server), "values": ready},
               {"series": _sel(m.POD_LABELS.name, labels), "values": "1x40"}]
        if init is not None:
            out.append({"series": _sel(m.INIT_CONTAINER_RESTARTS.name, fetch), "values": init})
        return out

    return [
        Case("server restarts and never becomes ready", a.ALERT_LOAD_FAILED, "30m",
             series("0x20 1x6 2x14", "0x40"), expect),
        Case("model fetch keeps failing (AWS init container)", a.ALERT_LOAD_FAILED, "30m",
             series("0x40", "0x40", init="0x22 1x5 2x13"), expect),
        Case("a ready pod crashed while serving", a.ALERT_LOAD_FAILED, "30m",
             series("0x22 1x18", "1x22 0x18")),
        Case("a slow load that succeeds", a.ALERT_LOAD_FAILED, "30m", series("0x40", "0x25 1x15")),
        Case("old restarts, ready for long", a.ALERT_LOAD_FAILED, "40m", series("0x5 3x35", "0x10 1x30")),
    ]


def _saturation_cases(scope: FleetScope) -> list[Case]:
    metric = m.GPU_UTIL.name if scope.accelerator == "gpu" else m.TPU_DUTY_CYCLE.name
    alert = a.ALERT_GPU_SATURATED if scope.accelerator == "gpu" else a.ALERT_TPU_SATURATED
    live, idle = (c for c, _ in scope.deployments)
    pod = {"namespace": scope.namespace, "pod": _pod(scope, live), "container": "tensorflow-serving"}
    idle_pod = {**pod, "pod": _pod(scope, idle)}
    other = {**pod, "pod": "someone-else-6d4cf56db6-x7k2p"}
    busy = SATURATION_PERCENT + 5
    return [
        # The usual blue-green shape: the mean over both colors (48%) would hide it.
        Case("live color saturated, idle color idle", alert, "40m", [
            {"series": _sel(metric, pod), "values": f"{busy}x40"},
            {"series": _sel(metric, idle_pod), "values": "1x40"},
            {"series": _sel(metric, other), "values": "0x40"}], [({"color": live}, busy)]),
        Case("accelerator busy but below threshold", alert, "40m", [
            {"series": _sel(metric, pod), "values": f"{SATURATION_PERCENT - 20}x40"},
            # another workload's saturated accelerator is not this model's problem
            {"series": _sel(metric, other), "values": "100x40"}]),
    ]


def unit_test_file(rule_file: str, group: dict[str, Any], case_list: list[Case]) -> dict[str, Any]:
    rules = {r["alert"]: r for r in group["rules"]}
    tests = []
    for case in case_list:
        rule = rules[case.alert]
        exp = []
        for labels, value in case.fires:
            all_labels = {**labels, **rule["labels"]}
            exp.append({"exp_labels": all_labels,
                        "exp_annotations": {k: render(v, all_labels, value) for k, v in rule["annotations"].items()}})
        tests.append({"name": case.name, "interval": "1m", "input_series": case.series,
                      "alert_rule_test": [{"eval_time": case.eval_time, "alertname": case.alert, "exp_alerts": exp}]})
    return {"rule_files": [rule_file], "evaluation_interval": "1m", "tests": tests}
