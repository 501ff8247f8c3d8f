"""Every PromQL expression the platform asks about a fleet, in one place.

Alert rules (alerts.py), dashboard panels (dashboards.py), and the release analysis and
scaling triggers that judge a color on live metrics all build their queries here, so what
pages a human, what a panel shows and what stops a release read the same series the same
way. Metric names and labels come from the catalog (metrics.py); which series the
exporters really emit under the pinned charts is proven by tests/monitoring (promtool for
the logic, a real Prometheus scraping stand-in exporters for reality: tests/harness).
"""

from __future__ import annotations

import re

from infra.plan import tfserving
from infra.plan.monitoring import metrics as m
from infra.plan.monitoring.scope import FleetScope
from infra.rules import names

RATE_WINDOW = "5m"  # long enough for 10 scrapes at the 30s scrape interval
# A version that cannot load makes its pods restart every few minutes (TF Serving gives up
# after 1 + 5 attempts a minute apart, the kubelet backs off up to 5 minutes): one window
# holds at least one restart of every such pod.
LOAD_WINDOW = "15m"
# The scaling triggers' window: 4 scrapes at the 30s interval, so a step in load shows in
# the second KEDA poll after it (docs/scaling.md: reaction in scrape intervals).
SCALING_WINDOW = "2m"


def duration(seconds: int) -> str:
    """A Prometheus duration for a whole number of seconds (minutes where exact)."""
    return f"{seconds // 60}m" if seconds % 60 == 0 else f"{seconds}s"


def _grouping(by: str) -> str:
    return f"sum by ({by}) " if by else "sum "


# --- TF Serving: traffic, errors, latency -------------------------------------------------

def requests(scope: FleetScope, *extra: str) -> str:
    return f"{m.REQUEST_COUNT.name}{{{scope.tfs(*extra)}}}"


def request_rate(scope: FleetScope, by: str = m.TARGET_LABEL_COLOR, window: str = RATE_WINDOW) -> str:
    return f"{_grouping(by)}(rate({requests(scope)}[{window}]))"


def color_request_rate(scope: FleetScope, color: str, window: str = RATE_WINDOW) -> str:
    """Requests per second one color receives, every status (load is load); one series, or
    none while the color has no serving pod (KEDA then reads 0)."""
    return f"sum(rate({requests(scope, *_color(color))}[{window}]))"


def scaling_value(expr: str) -> str:
    """One number for a KEDA trigger: NaN (a window without requests) and no series at all
    (no pod up) read as 0, so an idle color asks for no replicas instead of failing its
    trigger. `expr` must give at most one series (KEDA refuses several)."""
    return f"({expr}) >= 0 or vector(0)"


def error_ratio(scope: FleetScope, by: str, window: str = RATE_WINDOW, *, zero_without_errors: bool = False,
                color: str | None = None) -> str:
    """Share of requests ending in a server-side status (of one color, if given).

    TF Serving creates a status's counter on its first request, so a healthy fleet has no
    error series and the plain ratio is empty. Alerts want exactly that (no data, no
    alert); panels and release gates need a 0 instead (`zero_without_errors`), or a
    healthy color would look like one with no data. A window without requests stays
    0 / 0 = NaN either way: no traffic is never "no errors".
    """
    only = _color(color)
    return _ratio(requests(scope, _ERROR_STATUS, *only), requests(scope, *only), by, window, zero_without_errors)


def _color(color: str | None) -> tuple[str, ...]:
    return () if color is None else (f'{m.TARGET_LABEL_COLOR}="{color}"',)


_ERROR_STATUS = 'status=~"' + "|".join(m.SERVER_ERROR_CODES) + '"'


def _ratio(errors: str, total: str, by: str, window: str, zero_without_errors: bool) -> str:
    part = f"{_grouping(by)}(rate({errors}[{window}]))"
    whole = f"{_grouping(by)}(rate({total}[{window}]))"
    if zero_without_errors:
        part = f"({part} or 0 * {whole})"
    return f"{part} / {whole}"


def fleet_requests(namespace: str, *extra: str) -> str:
    """Request counters of every model in a serving namespace (the overview dashboard)."""
    matchers = ",".join((f'namespace="{namespace}"', *extra))
    return f"{m.REQUEST_COUNT.name}{{{matchers}}}"


def fleet_request_rate(namespace: str, window: str = RATE_WINDOW) -> str:
    return f"sum by ({m.TARGET_LABEL_MODEL}) (rate({fleet_requests(namespace)}[{window}]))"


def fleet_error_ratio(namespace: str, window: str = RATE_WINDOW) -> str:
    return _ratio(fleet_requests(namespace, _ERROR_STATUS), fleet_requests(namespace), m.TARGET_LABEL_MODEL,
                  window, True)


def fleet_latency_p99(namespace: str, window: str = RATE_WINDOW) -> str:
    bucket = f'{m.REQUEST_LATENCY.name}_bucket{{namespace="{namespace}"}}'
    return f"histogram_quantile(0.99, sum by (le, {m.TARGET_LABEL_MODEL}) (rate({bucket}[{window}]))) / 1000"


def latency_quantile(scope: FleetScope, q: float, by: str, window: str = RATE_WINDOW, *,
                     color: str | None = None) -> str:
    """q-quantile of request latency in milliseconds (TF Serving records microseconds) of
    successful requests (of one color, if given); how precisely it can be compared with an
    objective: latency.precision(). NaN when the window holds no successful request."""
    bucket = f"{m.REQUEST_LATENCY.name}_bucket"
    return (f"histogram_quantile({q}, sum by (le{', ' + by if by else ''}) "
            f"(rate({bucket}{{{scope.tfs(*_color(color))}}}[{window}]))) / 1000")


def histogram_quantile(scope: FleetScope, histogram: m.Metric, q: float, window: str, *,
                       color: str | None = None) -> str:
    """q-quantile of a TF Serving histogram, by color (or of one color, one series)."""
    by = "le" if color is not None else f"le, {m.TARGET_LABEL_COLOR}"
    return (f"histogram_quantile({q}, sum by ({by}) "
            f"(rate({histogram.name}_bucket{{{scope.tfs(*_color(color))}}}[{window}])))")


def queue_p99_ms(scope: FleetScope, color: str, window: str = RATE_WINDOW) -> str:
    """p99 time a request of one color waits in the batching queue, in ms (TF Serving
    records microseconds): the batching panel's series, and the queue trigger."""
    return f"{histogram_quantile(scope, m.BATCH_QUEUING_LATENCY, 0.99, window, color=color)} / 1000"


def histogram_mean(scope: FleetScope, histogram: m.Metric, window: str) -> str:
    by = f"sum by ({m.TARGET_LABEL_COLOR}) "
    return (f"{by}(rate({histogram.name}_sum{{{scope.tfs()}}}[{window}])) / "
            f"{by}(rate({histogram.name}_count{{{scope.tfs()}}}[{window}]))")


def model_loads(scope: FleetScope) -> str:
    """SavedModel loads TF Serving counted, by status. Only pods that loaded are scraped
    (the metrics port opens after the load), so a `fail` here is one a retry overcame."""
    return (f"sum by ({m.TARGET_LABEL_COLOR}, {m.TARGET_LABEL_VERSION}, status) "
            f"({m.LOAD_ATTEMPTS.name}{{{scope.tfs()}}})")


# --- Kubernetes objects (kube-state-metrics) -----------------------------------------------

def color_of_deployment(expr: str) -> str:
    """Adds a color label read from the Deployment name (<model>-<color>)."""
    return f'label_replace({expr}, "{m.TARGET_LABEL_COLOR}", "$1", "deployment", ".*-(blue|green)")'


def color_of_pod(scope: FleetScope, expr: str) -> str:
    """Adds a color label read from the pod name (<model>-<color>-<hash>-<suffix>)."""
    colors = "|".join(c for c, _ in scope.deployments)
    return f'label_replace({expr}, "{m.TARGET_LABEL_COLOR}", "$1", "pod", "{scope.model}-({colors})-.*")'


def deployments(scope: FleetScope, metric: m.Metric, *extra: str) -> str:
    return f"{metric.name}{{{','.join((scope.deployment_matchers(), *extra))}}}"


def live_ready_endpoints(scope: FleetScope) -> str:
    """Ready addresses behind the live Service (it selects the live color), 0 when none.

    kube-state-metrics 2.18 reports EndpointSlices (not Endpoints); a slice names its
    Service in the kubernetes.io/service-name label, which the chart values allowlist.
    The `or` gives 0 while the Service exists but nothing behind it is ready.
    """
    service_label = m.ksm_label(m.SERVICE_NAME_LABEL)
    ready = f'{m.ENDPOINTSLICE_ENDPOINTS.name}{{namespace="{scope.namespace}",ready="true"}}'
    slices = f'{m.ENDPOINTSLICE_LABELS.name}{{namespace="{scope.namespace}",{service_label}="{scope.live_service}"}}'
    return (f"(sum by (namespace) ({ready} * on (namespace, endpointslice) group_left () {slices})"
            f" or 0 * max by (namespace) ({_live_service(scope)}))")


def _live_service(scope: FleetScope) -> str:
    return f'{m.SERVICE_CREATED.name}{{namespace="{scope.namespace}",service="{scope.live_service}"}}'


def live_service_grace(scope: FleetScope) -> str:
    """How long a new live Service may have no ready endpoint: its Deployment's progress
    deadline (a first rollout loads the model; RolloutStuck covers it meanwhile)."""
    return duration(tfserving.progress_deadline_s(scope.load_timeout_s))


def no_ready_live_endpoint(scope: FleetScope) -> str:
    """Series (one per namespace) while the live Service has no ready endpoint and has
    existed for longer than its grace. kube-state-metrics itself being down is reported
    by kube-prometheus-stack's own TargetDown, not here."""
    return (f"{live_ready_endpoints(scope)} == 0 "
            f"and on (namespace) max by (namespace) ({_live_service(scope)} offset {live_service_grace(scope)})")


def pods_failing_to_load(scope: FleetScope, window: str = LOAD_WINDOW) -> str:
    """Pods whose server (or, on AWS, model-fetch) container restarted in `window` without
    the server ever being ready in it: the version they run cannot load. Labelled with the
    pod's color and version (kube_pod_labels, allowlisted in the chart values).

    TF Serving exits when the load fails and opens its metrics port only after a load, so
    its own load counter never shows such a version; Kubernetes' restarts do.
    """
    server = f"{m.CONTAINER_RESTARTS.name}{{{scope.container(tfserving.SERVER_CONTAINER)}}}"
    fetch = f"{m.INIT_CONTAINER_RESTARTS.name}{{{scope.container(tfserving.FETCH_CONTAINER)}}}"
    ready = f"{m.CONTAINER_READY.name}{{{scope.container(tfserving.SERVER_CONTAINER)}}}"
    version, color = m.ksm_label(names.LABEL_VERSION), m.ksm_label(names.LABEL_COLOR)
    pod_labels = f"{m.POD_LABELS.name}{{{scope.pods()}}}"
    failing = (f"((increase({server}[{window}]) > 0 or increase({fetch}[{window}]) > 0) "
               f"unless on (namespace, pod) max_over_time({ready}[{window}]) == 1)")
    joined = f"{failing} * on (namespace, pod) group_left ({version}, {color}) {pod_labels}"
    relabeled = (f'label_replace(label_replace({joined}, "{m.TARGET_LABEL_VERSION}", "$1", "{version}", "(.*)"), '
                 f'"{m.TARGET_LABEL_COLOR}", "$1", "{color}", "(.*)")')
    return f"count by ({m.TARGET_LABEL_COLOR}, {m.TARGET_LABEL_VERSION}) ({relabeled})"


def server_restarts(scope: FleetScope, window: str) -> str:
    """Restarts of the server container per color (0 on a healthy fleet)."""
    server = f"{m.CONTAINER_RESTARTS.name}{{{scope.container(tfserving.SERVER_CONTAINER)}}}"
    return f"sum by ({m.TARGET_LABEL_COLOR}) ({color_of_pod(scope, f'increase({server}[{window}])')})"


def rollout_stuck(scope: FleetScope) -> str:
    cond = deployments(scope, m.DEPLOYMENT_CONDITION, 'condition="Progressing"', 'status="false"')
    return f"{color_of_deployment(cond)} == 1"


# --- accelerators --------------------------------------------------------------------------

def accelerator(scope: FleetScope, metric: m.Metric, color: str | None = None) -> str:
    return f"{metric.name}{{{scope.pods(color)}}}"


def accelerator_busy(scope: FleetScope, metric: m.Metric, color: str | None = None) -> str:
    """Mean utilization per color: in a blue-green pair the live color can be saturated
    while the idle one sits near 0, and a mean over both would hide it. With `color`: that
    color's mean alone (one series), the accelerator trigger."""
    if color is not None:
        return f"avg({accelerator(scope, metric, color)})"
    return f"avg by ({m.TARGET_LABEL_COLOR}) ({color_of_pod(scope, accelerator(scope, metric))})"


# --- release analysis (tfplat release): one color over one analysis interval -------------
# The gates judge the new color with the alert expressions above, restricted to one color
# and evaluated over the analysis interval, so a release stops on what would page a human.

def release_requests(scope: FleetScope, color: str, window: str) -> str:
    """Requests of every status the color served in the window (empty: none recorded)."""
    return f"sum(increase({requests(scope, *_color(color))}[{window}]))"


def release_error_ratio(scope: FleetScope, color: str, window: str) -> str:
    return error_ratio(scope, "", window, zero_without_errors=True, color=color)


def release_latency_p99(scope: FleetScope, color: str, window: str) -> str:
    return latency_quantile(scope, 0.99, "", window, color=color)


def release_ready_pods(scope: FleetScope, color: str, version: int) -> str:
    """Pods of the color running `version` whose server container is ready (kube-state-metrics;
    version and color are pod labels on the chart's allowlist)."""
    ready = f"{m.CONTAINER_READY.name}{{{scope.container(tfserving.SERVER_CONTAINER)}}}"
    pods = _pods_of(scope, color, "=", version)
    return f"sum({ready} * on (namespace, pod) group_left () {pods})"


def release_other_version_pods(scope: FleetScope, color: str, version: int) -> str:
    """Pods of the color still running another version (an unfinished rollout); empty when none."""
    return f"count({_pods_of(scope, color, '!=', version)})"


def _pods_of(scope: FleetScope, color: str, op: str, version: int) -> str:
    color_label, version_label = m.ksm_label(names.LABEL_COLOR), m.ksm_label(names.LABEL_VERSION)
    return f'{m.POD_LABELS.name}{{{scope.pods()},{color_label}="{color}",{version_label}{op}"{version}"}}'


def release_desired_replicas(scope: FleetScope, color: str) -> str:
    deployment = dict(scope.deployments)[color]
    return f'sum({m.DEPLOYMENT_DESIRED.name}{{namespace="{scope.namespace}",deployment="{deployment}"}})'


#: Variables a custom gate's query template may use (models/<model>.yaml release.gates.custom).
GATE_VARIABLES = ("color", "model", "namespace", "window")
_VARIABLE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def gate_variables(template: str) -> set[str]:
    return set(_VARIABLE.findall(template))


def custom_gate(template: str, *, color: str, model: str, namespace: str, window: str) -> str:
    """A custom gate's query for one color and window: the template's variables filled."""
    values = {"color": color, "model": model, "namespace": namespace, "window": window}
    return _VARIABLE.sub(lambda mt: values.get(mt.group(1), mt.group(0)), template)
