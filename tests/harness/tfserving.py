"""TF Serving 2.19's Prometheus page for one pod of the stand-in cluster.

What tensorflow_model_server serves at /monitoring/prometheus/metrics
(util/prometheus_exporter.cc): TensorFlow's monitoring registry, names with every
character outside [a-zA-Z0-9_] turned into ':', a Sampler as <name>_bucket{le} (cumulative,
the last bucket "+Inf", limits printed with six significant digits) plus _sum and _count,
TYPE lines and no HELP. The families and labels are those of util.cc (request_count,
request_latency recorded for successful requests only, runtime_latency), batching_util.h
and batching_session.cc (session batching) and TensorFlow's saved_model/loader.cc. The page
exists only while the server runs with its model loaded: the HTTP port opens after the
load and closes when the process exits.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.harness.cluster import Cluster, Pod
from tests.harness.exposition import Page
from tests.harness.traffic import IDLE, Schedule, Traffic, pieces

__all__ = ["IDLE", "LATENCY_US", "TFServingPages", "Traffic"]  # Traffic and IDLE live in traffic.py


def exponential(scale: float, growth: float, count: int) -> list[float]:
    out, bound = [], scale
    for _ in range(count):
        out.append(bound)
        bound *= growth
    return out


LATENCY_US = exponential(10, 1.8, 33)  # request_latency, runtime_latency
BATCH_SIZE = exponential(1, 2, 14)  # input/processed batch size, padding
QUEUING_US = exponential(100, 1.2, 52)  # batching_session queuing_latency


class _Histogram:
    def __init__(self, limits: list[float]) -> None:
        self.limits = limits
        self.counts = [0.0] * (len(limits) + 1)  # TensorFlow adds a DBL_MAX bucket
        self.total = 0.0

    def add(self, value: float, n: float) -> None:
        # TensorFlow's Histogram: the first bucket whose limit is greater than the value.
        self.counts[bisect_right(self.limits, value)] += n
        self.total += value * n

    def samples(self, name: str, labels: dict[str, str]) -> list[str]:
        from tests.harness.exposition import sample

        out, cumulative = [], 0.0
        for i, c in enumerate(self.counts):
            cumulative += c
            le = f"{self.limits[i]:.6g}" if i < len(self.limits) else "+Inf"
            out.append(sample(f"{name}_bucket", {**labels, "le": le}, int(cumulative)))
        out.append(sample(f"{name}_sum", labels, int(self.total)))
        out.append(sample(f"{name}_count", labels, int(cumulative)))
        return out


@dataclass
class _State:
    last_t: float
    counters: dict[tuple[str, str], float] = field(default_factory=lambda: defaultdict(float))
    histograms: dict[tuple[str, str], _Histogram] = field(default_factory=dict)

    def hist(self, name: str, key: str, limits: list[float]) -> _Histogram:
        return self.histograms.setdefault((name, key), _Histogram(limits))


class TFServingPages:
    """Renders the page of every TF Serving pod; counters live as long as the process."""

    def __init__(self, cluster: Cluster, schedule: Schedule, batching: Callable[[str], bool]) -> None:
        self.cluster = cluster
        self.schedule = schedule  # (model, color, t) -> Traffic, and when it may jump
        self.batching = batching
        self._states: dict[tuple[str, float], _State] = {}  # (pod, serving since) -> counters

    def render(self, pod: Pod) -> str | None:
        with self.cluster.lock:
            t = self.cluster.clock.now()  # under the lock: no traffic change lands behind it
            status = pod.status(t)
            if status.serving_since is None:
                return None  # not loaded yet, or the process has exited: no metrics port
            state = self._states.setdefault((pod.name, status.serving_since), _State(last_t=status.serving_since))
            self._advance(pod, state, t)
            return self._page(pod, state)

    def _advance(self, pod: Pod, s: _State, t: float) -> None:
        """Every request the pod served since the last scrape: the color's traffic integrated
        over the span, each piece split over the pods serving at its moment."""
        run, n = IDLE, 0.0  # consecutive pieces with the same traffic are counted as one
        for at, seconds in pieces(s.last_t, t, self._changes(pod, t)):
            tr = self.schedule.at(pod.model, pod.color, at)
            if tr != run:
                self._count(pod, s, run, n)
                run, n = tr, 0.0
            if tr.rps:
                n += tr.rps / self._serving(pod, at) * seconds
        self._count(pod, s, run, n)
        s.last_t = max(s.last_t, t)

    def _peers(self, pod: Pod) -> list[Pod]:
        deployment = self.cluster.models[pod.model].deployments.get(pod.color)
        return [p for p in (deployment.pods if deployment is not None else []) if p is not pod]

    def _changes(self, pod: Pod, t: float) -> list[float]:
        """When the pod's share may have jumped: the color's traffic changed, or a pod of
        the color started serving or went away."""
        moments = self.schedule.changes(pod.model, pod.color)
        for p in [pod, *self._peers(pod)]:
            since = p.status(t).serving_since
            moments += [m for m in (since, p.deleted) if m is not None and m <= t]
        return sorted(moments)

    def _serving(self, pod: Pod, t: float) -> int:
        """Pods of the color sharing its traffic at t: this one (it is serving: its counters
        exist) and the color's other pods whose model is loaded then."""
        return 1 + sum(1 for p in self._peers(pod) if p.status(t).serving_since is not None)

    def _count(self, pod: Pod, s: _State, tr: Traffic, n: float) -> None:
        if n <= 0:
            return
        errors, caller = n * tr.server_error_ratio, n * tr.caller_error_ratio
        ok = n - errors - caller
        s.counters[("request_count", "OK")] += ok
        s.counters[("request_count", "INTERNAL")] += errors
        s.counters[("request_count", "INVALID_ARGUMENT")] += caller
        for ms, share in tr.latency_ms:
            s.hist("request_latency", "", LATENCY_US).add(ms * 1000, ok * share)
            s.hist("runtime_latency", "", LATENCY_US).add(ms * 800, ok * share)
        if self.batching(pod.model):
            s.hist("input_batch_size", "", BATCH_SIZE).add(1, n)
            s.hist("processed_batch_size", "", BATCH_SIZE).add(8, n / 8)
            s.hist("padding_size", "8", BATCH_SIZE).add(0, n / 8)
            s.hist("queuing_latency", "", QUEUING_US).add(900, n)

    def _page(self, pod: Pod, s: _State) -> str:
        model = self.cluster.models[pod.model]
        path = f"{model.base_path}/{pod.version}"
        page = Page()
        b = pod.behaviour
        loads = {("fail", b.transient_failures), ("success", 1)}
        page.family(":tensorflow:cc:saved_model:load_attempt_count", "counter",
                    [({"model_path": path, "status": st}, n) for st, n in sorted(loads) if n])
        page.family(":tensorflow:cc:saved_model:load_latency", "counter",
                    [({"model_path": path}, int(b.load_s * 1e6))])
        statuses = sorted(k for (name, k), v in s.counters.items() if name == "request_count" and v >= 1)
        page.family(":tensorflow:serving:request_count", "counter",
                    [({"model_name": pod.model, "status": st}, int(s.counters[("request_count", st)]))
                     for st in statuses])
        self._hist(page, s, "request_latency", ":tensorflow:serving:request_latency",
                   {"model_name": pod.model, "API": "Predict", "entrypoint": "GRPC"})
        self._hist(page, s, "runtime_latency", ":tensorflow:serving:runtime_latency",
                   {"model_name": pod.model, "API": "Predict", "runtime": "TF1"})
        if self.batching(pod.model):
            prefix = ":tensorflow:serving:batching_session:"
            self._hist(page, s, "input_batch_size", prefix + "input_batch_size", {})
            self._hist(page, s, "processed_batch_size", prefix + "processed_batch_size", {})
            self._hist(page, s, "padding_size", prefix + "padding_size", {"execution_batch_size": "8"},
                       key="8")
            self._hist(page, s, "queuing_latency", prefix + "queuing_latency", {"thread_pool_name": "batch_threads"})
        return page.text()

    @staticmethod
    def _hist(page: Page, s: _State, key_name: str, name: str, labels: dict[str, str], *, key: str = "") -> None:
        page.raw(f"# TYPE {name} histogram")
        h = s.histograms.get((key_name, key))
        if h is not None:
            for line in h.samples(name, labels):
                page.raw(line)
