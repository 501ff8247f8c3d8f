"""A small stand-in for the cluster the exporters describe: models, colors, pods.

Only what the exporters report is modelled, on the harness clock (sim seconds; see
timescale.py): each pod's server container goes through what the kubelet and
tensorflow_model_server do (start, load, retry a failed load 1 + MAX_LOAD_RETRIES times a
minute apart then exit, be killed by the startup probe after the load budget, restart with
the kubelet's 10 s .. 5 min back-off), Deployments report their Progressing/Available
conditions, and Services select the pods of one color (the live Service the live color).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
import hashlib
import threading
import time
from typing import Literal

from infra.plan import tfserving
from infra.rules import names

Outcome = Literal["loads", "fails", "hangs"]
BACKOFF_S, BACKOFF_MAX_S = 10.0, 300.0  # kubelet container restart back-off
READY_AFTER_LOAD_S = 5.0  # the readiness probe's period


class Clock:
    """Sim seconds since start, advancing 1/factor times faster than the wall clock."""

    def __init__(self, factor: float) -> None:
        self.factor = factor
        self._t0 = time.monotonic()
        self.epoch0 = 1_760_000_000.0

    def now(self) -> float:
        return (time.monotonic() - self._t0) / self.factor

    def wall(self, sim_s: float) -> float:
        return sim_s * self.factor


def _h(text: str, n: int) -> str:
    alphabet = "bcdfghjklmnpqrstvwxz2456789"  # Kubernetes' name-suffix alphabet
    digest = hashlib.sha256(text.encode()).digest()
    return "".join(alphabet[b % len(alphabet)] for b in digest[:n])


@dataclass(frozen=True)
class Behaviour:
    start_delay_s: float = 20.0  # scheduling + image pull before the server starts
    load_s: float = 60.0  # a successful load (download, restore, warmup)
    outcome: Outcome = "loads"
    fail_after_s: float = 5.0  # one failing load attempt
    transient_failures: int = 0  # attempts that fail before one succeeds (TF Serving retries)
    fetch_fails: bool = False  # AWS: the init container cannot copy the version from S3


@dataclass(frozen=True)
class PodStatus:
    exists: bool
    init_restarts: int = 0
    init_waiting: str | None = None  # reason
    restarts: int = 0
    running: bool = False
    waiting: str | None = None  # ContainerCreating, PodInitializing, CrashLoopBackOff
    ready: bool = False
    serving_since: float | None = None  # the metrics port is open from then on
    last_terminated: tuple[str, int] | None = None  # (reason, exit code)


@dataclass
class Pod:
    name: str
    namespace: str
    model: str
    color: str
    version: int
    ip: str
    node: str
    uid: str
    created: float
    behaviour: Behaviour
    load_timeout_s: float
    has_fetch: bool  # AWS pods copy the model in an init container first
    deleted: float | None = None
    unready_from: float | None = None  # readiness fails from then on (a wedged server)

    @property
    def labels(self) -> dict[str, str]:
        return names.model_labels(model=self.model, component="server", team="t", environment="e",
                                  color=self.color, version=self.version)

    def status(self, t: float) -> PodStatus:
        if t < self.created or (self.deleted is not None and t >= self.deleted):
            return PodStatus(exists=False)
        b = self.behaviour
        start = self.created + b.start_delay_s
        if t < start:
            return PodStatus(exists=True, waiting="ContainerCreating", init_waiting="PodInitializing")
        if b.fetch_fails:  # init container: fails after a few seconds, restarts with back-off
            restarts, s = self._crashloop(t, start, lambda s: s + 5.0)
            return PodStatus(exists=True, init_restarts=restarts, waiting="PodInitializing",
                             init_waiting="CrashLoopBackOff" if t >= s else None)
        if b.outcome == "loads":
            loaded = start + b.transient_failures * (b.fail_after_s + tfserving.LOAD_RETRY_INTERVAL_S) + b.load_s
            wedged = self.unready_from is not None and t >= self.unready_from
            return PodStatus(exists=True, running=True, ready=t >= loaded + READY_AFTER_LOAD_S and not wedged,
                             serving_since=loaded if t >= loaded else None)
        if b.outcome == "fails":  # every attempt fails; the server gives up and exits (255)
            attempts = 1 + tfserving.MAX_LOAD_RETRIES
            run = attempts * b.fail_after_s + tfserving.MAX_LOAD_RETRIES * tfserving.LOAD_RETRY_INTERVAL_S
            reason = ("Error", 255)
        else:  # hangs: the startup probe gives up after the load budget and the kubelet kills it
            run, reason = self.load_timeout_s, ("Error", 137)
        restarts, s = self._crashloop(t, start, lambda s: s + run)
        if t < s:
            return PodStatus(exists=True, restarts=restarts, waiting="CrashLoopBackOff",
                             last_terminated=reason if restarts else None)
        return PodStatus(exists=True, restarts=restarts, running=True, last_terminated=reason if restarts else None)

    @staticmethod
    def _crashloop(t: float, start: float, ends: object) -> tuple[int, float]:
        """(restarts so far, when the current run started or will start) of a container that
        always ends after a run; between runs the kubelet waits its back-off."""
        assert callable(ends)
        restarts, s = 0, start
        while True:
            end = ends(s)
            if t < end:
                return restarts, s
            backoff = min(BACKOFF_S * 2 ** restarts, BACKOFF_MAX_S)
            restarts += 1
            s = end + backoff
            if t < s:
                return restarts, s


@dataclass
class Deployment:
    model: str
    color: str
    version: int
    replicas: int
    rollout_at: float
    progress_deadline_s: float
    pods: list[Pod]

    @property
    def name(self) -> str:
        return names.fleet_name(self.model, self.color)

    def ready(self, t: float) -> int:
        return sum(1 for p in self.pods if p.status(t).ready)

    def conditions(self, t: float) -> list[tuple[str, str, str]]:
        """(type, status, reason) as the Deployment controller sets them."""
        ready = self.ready(t)
        available = ("Available", "True", "MinimumReplicasAvailable") if ready >= self.replicas else \
            ("Available", "False", "MinimumReplicasUnavailable")
        done = [self._first_ready(p) for p in self.pods]
        if all(d is not None and d <= t for d in done):
            progressing = ("Progressing", "True", "NewReplicaSetAvailable")
        elif t - self.rollout_at > self.progress_deadline_s:
            progressing = ("Progressing", "False", "ProgressDeadlineExceeded")
        else:
            progressing = ("Progressing", "True", "ReplicaSetUpdated")
        return [available, progressing]

    @staticmethod
    def _first_ready(pod: Pod) -> float | None:
        b = pod.behaviour
        if b.outcome != "loads" or b.fetch_fails:
            return None
        retries = b.transient_failures * (b.fail_after_s + tfserving.LOAD_RETRY_INTERVAL_S)
        return pod.created + b.start_delay_s + retries + b.load_s + READY_AFTER_LOAD_S


@dataclass
class Model:
    name: str
    namespace: str
    accelerator: str  # cpu | gpu | tpu
    load_timeout_s: int
    base_path: str  # what TF Serving loads: <base_path>/<version>
    has_fetch: bool
    live: str = "blue"
    created: float = 0.0
    deployments: dict[str, Deployment] = field(default_factory=dict)


class Cluster:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.models: dict[str, Model] = {}
        self._ips = iter(f"10.8.{i // 250}.{i % 250 + 2}" for i in range(100_000))
        self.lock = threading.RLock()

    def add_model(self, model: Model) -> None:
        with self.lock:
            self.models[model.name] = model

    def deploy(self, model: str, color: str, version: int, replicas: int, behaviour: Behaviour, *,
               at: float | None = None) -> Deployment:
        """A color's Deployment (re)rolled to `version` at sim time `at` (default now)."""
        with self.lock:
            m = self.models[model]
            t = self.clock.now() if at is None else at
            old = m.deployments.get(color)
            if old is not None:
                for p in old.pods:
                    p.deleted = t if p.deleted is None else p.deleted
            rs = _h(f"{model}/{color}/{version}/{t}", 10)
            pods = [Pod(name=f"{names.fleet_name(model, color)}-{rs}-{_h(f'{rs}/{i}', 5)}", namespace=m.namespace,
                        model=model, color=color, version=version, ip=next(self._ips),
                        node=f"node-{_h(f'{rs}/{i}/node', 6)}", uid=_h(f"{rs}/{i}/uid", 12), created=t,
                        behaviour=behaviour, load_timeout_s=m.load_timeout_s, has_fetch=m.has_fetch)
                    for i in range(replicas)]
            dep = Deployment(model=model, color=color, version=version, replicas=replicas, rollout_at=t,
                             progress_deadline_s=tfserving.progress_deadline_s(m.load_timeout_s), pods=pods)
            m.deployments[color] = dep
            return dep

    def pods(self, t: float) -> Iterator[Pod]:
        with self.lock:
            for m in self.models.values():
                for d in m.deployments.values():
                    yield from (p for p in d.pods if p.status(t).exists)

    def slice_name(self, service: str) -> str:
        return f"{service}-{_h(service, 5)}"
