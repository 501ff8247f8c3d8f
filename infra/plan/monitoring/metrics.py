"""The one catalog of metric names the alerts and dashboards may query.

Every entry names the exporter that emits it, its labels as the exporter writes them, and
the source it was read from. Alert and dashboard queries are checked against this catalog
(tests/monitoring), so a query cannot name a metric or label nothing exposes.

Naming rules that matter here:
- TF Serving exports TensorFlow's monitoring registry on its REST port; its exporter turns
  every character outside [a-zA-Z0-9_] of a metric path into ':' (so
  "/tensorflow/serving/request_count" becomes ":tensorflow:serving:request_count") and a
  Sampler into a Prometheus histogram (<name>_bucket{le}, <name>_sum, <name>_count).
- TF Serving's latencies are in microseconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
import re
from typing import Literal

from infra.rules import names

Kind = Literal["counter", "gauge", "histogram"]
Source = Literal["tensorflow-serving", "kube-state-metrics", "dcgm-exporter", "gke-tpu-device-plugin"]

TFS_UTIL = ("https://github.com/tensorflow/serving/blob/master/"
            "tensorflow_serving/servables/tensorflow/util.cc")
TFS_BATCHING_UTIL = ("https://github.com/tensorflow/serving/blob/master/"
                     "tensorflow_serving/batching/batching_util.h")
TFS_BATCHING_SESSION = ("https://github.com/tensorflow/serving/blob/master/"
                        "tensorflow_serving/batching/batching_session.cc")
TF_LOADER = "https://github.com/tensorflow/tensorflow/blob/master/tensorflow/cc/saved_model/loader.cc"
KSM_DEPLOYMENT = ("https://github.com/kubernetes/kube-state-metrics/blob/main/"
                  "docs/metrics/workload/deployment-metrics.md")
KSM_ENDPOINTSLICE = ("https://github.com/kubernetes/kube-state-metrics/blob/v2.18.0/"
                     "internal/store/endpointslice.go")
KSM_SERVICE = "https://github.com/kubernetes/kube-state-metrics/blob/v2.18.0/internal/store/service.go"
KSM_POD = "https://github.com/kubernetes/kube-state-metrics/blob/v2.18.0/internal/store/pod.go"
DCGM_COUNTERS = "https://github.com/NVIDIA/dcgm-exporter/blob/main/etc/default-counters.csv"
# Third-party evidence only: no first-party GKE page documents the device plugin's
# Prometheus endpoint (GKE documents the Cloud Monitoring system metrics
# kubernetes.io/container/accelerator/{duty_cycle,memory_used,memory_total} instead).
GKE_TPU_PLUGIN = "https://github.com/llm-d/llm-d/blob/main/docs/operations/observability/tpu.md"
GKE_TPU_FIRST_PARTY = "https://cloud.google.com/monitoring/api/metrics_kubernetes"


@dataclass(frozen=True, kw_only=True)
class Metric:
    name: str
    kind: Kind
    source: Source
    labels: frozenset[str]  # as the exporter writes them
    unit: str
    url: str  # where the name and labels were read
    # False where the name, labels or endpoint rest on third-party evidence only: panels
    # and alerts on it say so (docs/observability.md, "TPU metrics").
    verified: bool = True

    @property
    def series(self) -> frozenset[str]:
        """The names Prometheus stores: a histogram is three series families."""
        if self.kind == "histogram":
            return frozenset({f"{self.name}_bucket", f"{self.name}_sum", f"{self.name}_count"})
        return frozenset({self.name})

    def labels_of(self, series: str) -> frozenset[str]:
        return self.labels | {"le"} if series.endswith("_bucket") and self.kind == "histogram" else self.labels


def _m(name: str, kind: Kind, source: Source, labels: set[str], *, unit: str, url: str,
       verified: bool = True) -> Metric:
    return Metric(name=name, kind=kind, source=source, labels=frozenset(labels), unit=unit, url=url,
                  verified=verified)


# --- kube-state-metrics: what tfplat needs from it ---------------------------------------
# Collectors (--resources) the queries read; the chart's defaults enable them (proved by
# rendering the pinned chart, tests/monitoring/test_ksm_config.py). `endpoints` is NOT
# among them: kube-state-metrics 2.18 (chart 7.x) collects EndpointSlices instead.
KSM_COLLECTORS: tuple[str, ...] = ("deployments", "endpointslices", "pods", "services")
# Kubernetes labels kube-state-metrics must copy into kube_<kind>_labels
# (--metric-labels-allowlist; values.py passes it to the chart): the Service an
# EndpointSlice belongs to, and the model/color/version of a pod.
SERVICE_NAME_LABEL = "kubernetes.io/service-name"  # set by the EndpointSlice controller
KSM_LABEL_ALLOWLIST: Mapping[str, tuple[str, ...]] = {
    "endpointslices": (SERVICE_NAME_LABEL,),
    "pods": (names.LABEL_VERSION, names.LABEL_COLOR, names.LABEL_MODEL),
}


def ksm_label(kubernetes_label: str) -> str:
    """The Prometheus label kube-state-metrics writes for an allowlisted Kubernetes label."""
    return "label_" + re.sub(r"[^a-zA-Z0-9_]", "_", kubernetes_label)


def ksm_allowlist_arg() -> list[str]:
    """kube-state-metrics chart value metricLabelsAllowlist (one entry per kind)."""
    return [f"{kind}=[{','.join(labels)}]" for kind, labels in sorted(KSM_LABEL_ALLOWLIST.items())]


# --- TensorFlow Serving (our PodMonitor on the REST port) -----------------------------
# Counted per request with status = error::Code_Name(status), e.g. "OK", "INTERNAL".
REQUEST_COUNT = _m(":tensorflow:serving:request_count", "counter", "tensorflow-serving",
                   {"model_name", "status"}, unit="requests", url=TFS_UTIL)
# Recorded for successful requests only; API is "Predict"/"Classify"/"Regress" over gRPC
# and the URL verb ("predict", ...) over REST; entrypoint is "GRPC" or "REST".
REQUEST_LATENCY = _m(":tensorflow:serving:request_latency", "histogram", "tensorflow-serving",
                     {"model_name", "API", "entrypoint"}, unit="us", url=TFS_UTIL)
RUNTIME_LATENCY = _m(":tensorflow:serving:runtime_latency", "histogram", "tensorflow-serving",
                     {"model_name", "API", "runtime"}, unit="us", url=TFS_UTIL)
# Session batching (--enable_batching): no model label (the session has none); our pods
# serve one model each, so the pod's labels say which model it is.
BATCH_INPUT_SIZE = _m(":tensorflow:serving:batching_session:input_batch_size", "histogram",
                      "tensorflow-serving", set(), unit="examples", url=TFS_BATCHING_UTIL)
BATCH_PROCESSED_SIZE = _m(":tensorflow:serving:batching_session:processed_batch_size", "histogram",
                          "tensorflow-serving", set(), unit="examples", url=TFS_BATCHING_UTIL)
BATCH_PADDING = _m(":tensorflow:serving:batching_session:padding_size", "histogram", "tensorflow-serving",
                   {"execution_batch_size"}, unit="examples", url=TFS_BATCHING_UTIL)
BATCH_QUEUING_LATENCY = _m(":tensorflow:serving:batching_session:queuing_latency", "histogram",
                           "tensorflow-serving", {"thread_pool_name"}, unit="us", url=TFS_BATCHING_SESSION)
# TensorFlow's SavedModel loader, linked into TF Serving: status is "success" or "fail".
LOAD_ATTEMPTS = _m(":tensorflow:cc:saved_model:load_attempt_count", "counter", "tensorflow-serving",
                   {"model_path", "status"}, unit="loads", url=TF_LOADER)

# --- kube-state-metrics (kube-prometheus-stack subchart) --------------------------------
DEPLOYMENT_READY = _m("kube_deployment_status_replicas_ready", "gauge", "kube-state-metrics",
                      {"namespace", "deployment"}, unit="pods", url=KSM_DEPLOYMENT)
DEPLOYMENT_DESIRED = _m("kube_deployment_spec_replicas", "gauge", "kube-state-metrics",
                        {"namespace", "deployment"}, unit="pods", url=KSM_DEPLOYMENT)
DEPLOYMENT_CONDITION = _m("kube_deployment_status_condition", "gauge", "kube-state-metrics",
                          {"namespace", "deployment", "condition", "status", "reason"}, unit="bool", url=KSM_DEPLOYMENT)

# One series per address of an EndpointSlice; `ready` is the endpoint's Ready condition.
ENDPOINTSLICE_ENDPOINTS = _m("kube_endpointslice_endpoints", "gauge", "kube-state-metrics",
                             {"namespace", "endpointslice", "ready", "serving", "terminating", "hostname",
                              "targetref_kind", "targetref_name", "targetref_namespace", "endpoint_nodename",
                              "endpoint_zone", "address"}, unit="addresses", url=KSM_ENDPOINTSLICE)
# One series per EndpointSlice with the allowlisted labels: which Service it belongs to.
ENDPOINTSLICE_LABELS = _m("kube_endpointslice_labels", "gauge", "kube-state-metrics",
                          {"namespace", "endpointslice", ksm_label(SERVICE_NAME_LABEL)}, unit="bool",
                          url=KSM_ENDPOINTSLICE)
SERVICE_CREATED = _m("kube_service_created", "gauge", "kube-state-metrics", {"namespace", "service", "uid"},
                     unit="unix seconds", url=KSM_SERVICE)
_POD = {"namespace", "pod", "uid"}
CONTAINER_RESTARTS = _m("kube_pod_container_status_restarts_total", "counter", "kube-state-metrics",
                        _POD | {"container"}, unit="restarts", url=KSM_POD)
INIT_CONTAINER_RESTARTS = _m("kube_pod_init_container_status_restarts_total", "counter", "kube-state-metrics",
                             _POD | {"container"}, unit="restarts", url=KSM_POD)
CONTAINER_READY = _m("kube_pod_container_status_ready", "gauge", "kube-state-metrics", _POD | {"container"},
                     unit="bool", url=KSM_POD)
# Only the current reason of a waiting container (CrashLoopBackOff, ...), value 1.
CONTAINER_WAITING_REASON = _m("kube_pod_container_status_waiting_reason", "gauge", "kube-state-metrics",
                              _POD | {"container", "reason"}, unit="bool", url=KSM_POD)
POD_LABELS = _m("kube_pod_labels", "gauge", "kube-state-metrics",
                _POD | {ksm_label(label) for label in KSM_LABEL_ALLOWLIST["pods"]}, unit="bool", url=KSM_POD)

# --- NVIDIA DCGM exporter (default counters; pod labels when it runs in Kubernetes) -----
_DCGM_LABELS = {"gpu", "UUID", "device", "modelName", "Hostname", "hostname", "DCGM_FI_DRIVER_VERSION",
                "pci_bus_id", "namespace", "pod", "container"}
GPU_UTIL = _m("DCGM_FI_DEV_GPU_UTIL", "gauge", "dcgm-exporter", _DCGM_LABELS, unit="percent", url=DCGM_COUNTERS)
GPU_FB_USED = _m("DCGM_FI_DEV_FB_USED", "gauge", "dcgm-exporter", _DCGM_LABELS, unit="MiB", url=DCGM_COUNTERS)
GPU_FB_FREE = _m("DCGM_FI_DEV_FB_FREE", "gauge", "dcgm-exporter", _DCGM_LABELS, unit="MiB", url=DCGM_COUNTERS)

# --- GKE TPU device plugin (kube-system, port 2112). Runtime metrics may be absent on
# some TPU generations; a missing series means "unknown", never "idle".
_TPU_LABELS = {"make", "model", "tpu_topology", "accelerator_id", "namespace", "pod", "container"}
TPU_DUTY_CYCLE = _m("duty_cycle", "gauge", "gke-tpu-device-plugin", _TPU_LABELS, unit="percent", url=GKE_TPU_PLUGIN,
                    verified=False)
TPU_MEMORY_USED = _m("memory_used", "gauge", "gke-tpu-device-plugin", _TPU_LABELS, unit="bytes", url=GKE_TPU_PLUGIN,
                     verified=False)
TPU_MEMORY_TOTAL = _m("memory_total", "gauge", "gke-tpu-device-plugin", _TPU_LABELS, unit="bytes",
                      url=GKE_TPU_PLUGIN, verified=False)

CATALOG: Mapping[str, Metric] = {m.name: m for m in (
    REQUEST_COUNT, REQUEST_LATENCY, RUNTIME_LATENCY, BATCH_INPUT_SIZE, BATCH_PROCESSED_SIZE, BATCH_PADDING,
    BATCH_QUEUING_LATENCY, LOAD_ATTEMPTS, DEPLOYMENT_READY, DEPLOYMENT_DESIRED, DEPLOYMENT_CONDITION,
    ENDPOINTSLICE_ENDPOINTS, ENDPOINTSLICE_LABELS, SERVICE_CREATED, CONTAINER_RESTARTS, INIT_CONTAINER_RESTARTS,
    CONTAINER_READY, CONTAINER_WAITING_REASON, POD_LABELS,
    GPU_UTIL, GPU_FB_USED, GPU_FB_FREE, TPU_DUTY_CYCLE, TPU_MEMORY_USED, TPU_MEMORY_TOTAL)}

# Labels Prometheus adds to every series of a source's scrape targets. TF Serving pods
# get model/color/version from their pod labels (relabelings in our PodMonitor).
TARGET_LABEL_MODEL = "model"
TARGET_LABEL_COLOR = "color"
TARGET_LABEL_VERSION = "version"
SCRAPE_LABELS: Mapping[Source, frozenset[str]] = {
    "tensorflow-serving": frozenset({"job", "instance", "namespace", "pod", "container",
                                     TARGET_LABEL_MODEL, TARGET_LABEL_COLOR, TARGET_LABEL_VERSION}),
    "kube-state-metrics": frozenset({"job", "instance"}),
    "dcgm-exporter": frozenset({"job", "instance"}),
    "gke-tpu-device-plugin": frozenset({"job", "instance"}),
}

# TF Serving status codes that are the server's fault. Caller mistakes (INVALID_ARGUMENT,
# NOT_FOUND, FAILED_PRECONDITION, ...) stay out of the error ratio so a bad client cannot
# page the model's owners.
SERVER_ERROR_CODES: tuple[str, ...] = ("INTERNAL", "UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED",
                                       "UNKNOWN", "DATA_LOSS", "ABORTED")


def by_series(name: str) -> Metric | None:
    """The catalog entry a stored series name belongs to (histograms by any suffix)."""
    for metric in CATALOG.values():
        if name in metric.series:
            return metric
    return None


# --- reading PromQL written by this package ---------------------------------------------
# Our queries always write a selector as name{...} so the names can be read without a full
# PromQL parser; `bare_identifiers` lets a test prove nothing else names a metric.
_SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}")
_MATCHER = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*')
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_FUNCTION = re.compile(r"\b[a-z_]+\s*\(")
_KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset"})


@dataclass(frozen=True)
class Selector:
    metric: str
    matchers: tuple[tuple[str, str, str], ...]  # (label, op, value)


def selectors(expr: str) -> list[Selector]:
    out = []
    for name, body in _SELECTOR.findall(expr):
        matchers = []
        for part in filter(None, (p.strip() for p in _split_matchers(body))):
            m = _MATCHER.fullmatch(part)
            if m is None:
                raise ValueError(f"cannot read matcher {part!r} in {expr!r}")
            matchers.append((m.group(1), m.group(2), m.group(3)))
        out.append(Selector(name, tuple(matchers)))
    return out


def _split_matchers(body: str) -> list[str]:
    parts, current, quoted = [], "", False
    for ch in body:
        if ch == '"' and not current.endswith("\\"):
            quoted = not quoted
        if ch == "," and not quoted:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return parts


def bare_identifiers(expr: str) -> set[str]:
    """Identifiers left once selectors, strings, ranges, groupings and calls are removed."""
    text = _SELECTOR.sub(" ", expr)
    text = re.sub(r'"(?:[^"\\]|\\.)*"', " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = _GROUPING.sub(" ", text)
    text = _FUNCTION.sub(" ", text)
    text = re.sub(r"\b\d+(?:\.\d+)?(?:ms|s|m|h|d|w|y)?\b", " ", text)  # numbers, durations (offset 15m)
    words = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", text))
    return {w for w in words if w not in _KEYWORDS}
