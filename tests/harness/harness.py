"""The whole rig: stand-in exporters for one stack, scraped by a real Prometheus that
evaluates the stack's rendered (time-scaled) rules.

    h = Harness(tmp_path, plan, mon, ksm_config)   # from plan_stack (its .monitoring) / helm
    h.cluster.deploy("resnet50", "blue", 7, 2, Behaviour())
    h.set_traffic("resnet50", "blue", Traffic(rps=50))   # from now on (traffic.py)
    with h:                                        # starts targets and Prometheus
        h.wait_until(lambda: h.firing("TFServingErrorRatioHigh"), sim_s=900)
        h.query('...')                             # any PromQL, e.g. queries.py's
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from itertools import pairwise
import math
import os
from pathlib import Path
import threading
from types import TracebackType
from typing import Any

from infra.plan.manifests import monitoring as mm
from infra.plan.monitoring.plan import MonitoringPlan
from infra.plan.stack import StackPlan
from tests.harness import accelerators, ksm, timescale
from tests.harness.cluster import Clock, Cluster, Model, Pod
from tests.harness.prometheus import PrometheusServer
from tests.harness.targets import Target, TargetServer
from tests.harness.tfserving import TFServingPages
from tests.harness.traffic import Schedule, Traffic

KSM_JOB = "kube-state-metrics"
DCGM_JOB = "dcgm-exporter"
TPU_JOB = "gke-tpu-device-plugin"


def _snake(key: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in key)


def _pod_meta(label: str) -> str:
    return "__meta_kubernetes_pod_label_" + "".join(c if c.isalnum() else "_" for c in label)


def rig(root: Path, stack: str = "dev") -> tuple[StackPlan, MonitoringPlan, ksm.KsmConfig]:
    """A stack's plan, its monitoring plan, and what kube-state-metrics runs with under the
    pinned chart rendered by real helm (the inputs of a Harness)."""
    from infra.config.loader import load
    from infra.plan.monitoring.plan import KPS_RELEASE
    from infra.plan.stack import plan_stack
    from tests.harness import helm

    plan = plan_stack(load(root, stack))
    mon = plan.monitoring
    assert mon is not None
    kps = mon.release(KPS_RELEASE)
    assert kps is not None
    rendered = helm.template(kps.chart, release=kps.name, namespace=mon.namespace, values=kps.values,
                             kube_version=plan.stack.cluster.version)
    return plan, mon, ksm.KsmConfig.from_rendered(rendered)


Scrapes = Mapping[tuple[str, str], Sequence[tuple[float, float]]]  # Harness.scrapes


def scrape_gaps(scrapes: Scrapes, longer_than_s: float, after: float = -math.inf,
                before: float = math.inf) -> list[str]:
    """Targets that went longer than `longer_than_s` wall seconds between two successful
    scrapes, in gaps that overlap (after, before) (Unix seconds)."""
    gaps = []
    for (job, instance), samples in sorted(scrapes.items()):
        ok = [t for t, up in samples if up == 1]
        gaps += [f"{job} {instance}: {b - a:.1f} s without a scrape" for a, b in pairwise(ok)
                 if b - a > longer_than_s and a < before and b > after]
    return gaps


class Harness:
    def __init__(self, workdir: Path, plan: StackPlan, mon: MonitoringPlan, ksm_config: ksm.KsmConfig,
                 factor: float = timescale.FACTOR, *, extra_jobs: Sequence[str] = ()) -> None:
        """extra_jobs: more scrape jobs (30s production interval) whose targets a test adds
        with put_target, e.g. an application exporting business metrics."""
        self.workdir, self.mon, self.ksm_config, self.factor = workdir, mon, ksm_config, factor
        self.extra_jobs = tuple(extra_jobs)
        # What each color receives over time: set_traffic, or a scenario's script (its .script).
        self.schedule = Schedule()
        self.clock = Clock(factor)
        self.cluster = Cluster(self.clock)
        self.utilization: dict[tuple[str, str], float] = {}
        batching = {f.name: f.model.serving.batching.enabled for f in plan.fleets}
        for f in plan.fleets:
            self.cluster.add_model(Model(
                name=f.name, namespace=f.namespace, accelerator=f.model.serving.accelerator.kind,
                load_timeout_s=f.model.serving.load_timeout_s, base_path=f.base_path,
                has_fetch=f.sync_image is not None))
        self.pages = TFServingPages(self.cluster, self.schedule, lambda m: batching[m])
        (workdir / "sd").mkdir(parents=True, exist_ok=True)
        self.targets = TargetServer(workdir / "sd")
        self.prometheus = PrometheusServer(
            workdir, scrape_configs=self._scrape_configs(), rule_groups=self.rule_groups(),
            scrape_interval=timescale.scale("30s", factor), evaluation_interval=timescale.scale("30s", factor),
            lookback_delta=timescale.scale("5m", factor))
        self._stop = threading.Event()
        self._sync = threading.Thread(target=self._sync_loop, daemon=True)

    # --- what Prometheus is told ---------------------------------------------------------
    def rule_groups(self) -> list[dict[str, Any]]:
        """The stack's PrometheusRule groups exactly as rendered, durations scaled."""
        groups = [g for o in mm.monitoring_objects(self.mon) if o["kind"] == "PrometheusRule"
                  for g in o["spec"]["groups"]]
        return [timescale.scale_group(g, self.factor) for g in groups]

    def _scrape_configs(self) -> list[dict[str, Any]]:
        def job(name: str, interval: str, honor: bool, relabel: list[dict[str, Any]] | None = None) -> dict[str, Any]:
            scaled = timescale.scale(interval, self.factor)
            cfg: dict[str, Any] = {"job_name": name, "scrape_interval": scaled, "scrape_timeout": scaled,
                                   "honor_labels": honor,
                                   "file_sd_configs": [{"files": [str(self.targets.sd_file(name))],
                                                        "refresh_interval": "1s"}]}
            if relabel:
                cfg["relabel_configs"] = relabel
            return cfg

        configs = []
        for obj in mm.monitoring_objects(self.mon):
            if obj["kind"] != "PodMonitor" or obj["metadata"]["name"] == "tfplat-gke-tpu-device-plugin":
                continue
            endpoint = obj["spec"]["podMetricsEndpoints"][0]
            # What the Prometheus operator generates for a PodMonitor endpoint, then its relabelings.
            relabel = [{"source_labels": [f"__meta_kubernetes_{src}"], "target_label": dst}
                       for src, dst in (("namespace", "namespace"), ("pod_container_name", "container"),
                                        ("pod_name", "pod"))]
            relabel += [{_snake(k): v for k, v in r.items()} for r in endpoint["relabelings"]]
            configs.append(job(self._pod_job(obj["metadata"]["name"]), endpoint["interval"], False, relabel))
        configs.append(job(KSM_JOB, "30s", True))  # the chart's ServiceMonitor: honorLabels, default interval
        configs.append(job(DCGM_JOB, "15s", True))  # values.dcgm_exporter: 15s, honorLabels
        configs.append(job(TPU_JOB, mm.SCRAPE_INTERVAL, True))
        configs += [job(name, "30s", True) for name in self.extra_jobs]
        return configs

    def _pod_job(self, podmonitor: str) -> str:
        return f"{self.mon.namespace}/{podmonitor}"

    # --- targets follow the cluster --------------------------------------------------------
    def _sync_loop(self) -> None:
        known: set[str] = set()
        while not self._stop.is_set():
            t = self.clock.now()
            with self.cluster.lock:
                pods = list(self.cluster.pods(t))
            seen = set()
            for pod in pods:
                seen.add(pod.name)
                if pod.name in known:
                    continue
                model = self.cluster.models[pod.model]
                meta = {_pod_meta(k): v for k, v in pod.labels.items()}
                self.targets.put(Target(job=self._pod_job(f"tfplat-{pod.model}"), id=pod.name, labels={
                    **meta, "__meta_kubernetes_namespace": pod.namespace, "__meta_kubernetes_pod_name": pod.name,
                    "__meta_kubernetes_pod_container_name": "tensorflow-serving", "endpoint": "http",
                    "instance": f"{pod.ip}:8501", "job": self._pod_job(f"tfplat-{pod.model}")}),
                    self._page_of(pod))
                if model.accelerator in ("gpu", "tpu"):
                    self._put_node(pod.node, model.accelerator)
            for gone in known - seen:
                self.targets.remove(gone)
            known = seen
            self._stop.wait(0.1)

    def _page_of(self, pod: Pod) -> Callable[[], str | None]:
        return lambda: self.pages.render(pod)

    def _put_node(self, node: str, kind: str) -> None:
        def util(model: str, color: str) -> float:
            return self.utilization.get((model, color), 30.0)

        if kind == "gpu":
            self.targets.put(Target(job=DCGM_JOB, id=f"dcgm-{node}", labels={
                "job": DCGM_JOB, "namespace": self.mon.namespace, "pod": f"dcgm-exporter-{node[-5:]}",
                "container": "exporter", "endpoint": "metrics", "instance": f"{node}:9400"}),
                lambda: accelerators.dcgm_page(self.cluster, node, util))
        else:
            self.targets.put(Target(job=TPU_JOB, id=f"tpu-{node}", labels={
                "job": TPU_JOB, "namespace": "kube-system", "pod": f"tpu-device-plugin-{node[-5:]}",
                "instance": f"{node}:2112"}), lambda: accelerators.tpu_page(self.cluster, node, util))

    # --- scenario controls -----------------------------------------------------------------
    def set_traffic(self, model: str, color: str, traffic: Traffic) -> None:
        """What the color receives from now on (the pods count it as it arrives)."""
        with self.cluster.lock:  # no render integrates past the moment of the change meanwhile
            self.schedule.set(model, color, self.clock.now(), traffic)

    def put_target(self, job: str, target_id: str, labels: dict[str, str], render: Callable[[], str | None]) -> None:
        """A target of one of the extra jobs (its page rendered at every scrape)."""
        assert job in self.extra_jobs, f"{job} is not among extra_jobs {self.extra_jobs}"
        self.targets.put(Target(job=job, id=target_id, labels={"job": job, **labels}), render)

    def set_utilization(self, model: str, color: str, percent: float) -> None:
        self.utilization[(model, color)] = percent

    def now(self) -> float:
        """Sim seconds since start (production time)."""
        return self.clock.now()

    # --- lifecycle and reading ------------------------------------------------------------
    def __enter__(self) -> Harness:
        if (current := os.environ.get("PYTEST_CURRENT_TEST")) is not None:
            from tests.clock_scheduling import require_grouped

            require_grouped(current)
        self.targets.start()
        self.targets.put(Target(job=KSM_JOB, id="kube-state-metrics", labels={
            "job": KSM_JOB, "namespace": self.mon.namespace, "pod": "kps-kube-state-metrics-6b9d4f7c8-x2x9z",
            "service": "kps-kube-state-metrics", "container": "kube-state-metrics", "endpoint": "http",
            "instance": "10.4.0.9:8080"}), lambda: ksm.render(self.cluster, self.clock.now(), self.ksm_config))
        self._sync.start()
        self.prometheus.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._sync.join(timeout=5)
        self.prometheus.stop()
        self.targets.stop()

    def query(self, expr: str) -> list[dict[str, Any]]:
        return self.prometheus.query(expr)

    def scrapes(self, seconds: float) -> dict[tuple[str, str], list[tuple[float, float]]]:
        """Every scrape of the last `seconds` (wall) as Prometheus recorded it: `up` per
        (job, instance), [(Unix seconds, up)]. A loaded machine can starve the stand-in
        pages past their scrape timeout (1 s or less at the harness scale); this is the
        evidence of when it did."""
        return {(m["metric"]["job"], m["metric"]["instance"]): [(float(t), float(v)) for t, v in m["values"]]
                for m in self.prometheus.samples(f"up[{math.ceil(seconds) + 5}s]")}

    def firing(self, alertname: str | None = None) -> list[dict[str, str]]:
        """Label sets of firing alerts (all, or one alert name)."""
        return [a["labels"] for a in self.prometheus.alerts()
                if a["state"] == "firing" and (alertname is None or a["labels"]["alertname"] == alertname)]

    def wait_until(self, check: Callable[[], bool], sim_s: float, what: str = "condition") -> float:
        """Poll until `check()`; the budget is in production seconds. Returns sim seconds taken."""
        start = self.now()
        PrometheusServer.wait_for(check, self.clock.wall(sim_s), what)
        return self.now() - start
