"""A replay of load traces through the HPA algorithm as Kubernetes documents it, driven by a
fleet's planned scaling (the ScaledObject tfplat renders), with KEDA's activation.

Kubernetes (https://kubernetes.io/docs/concepts/workloads/autoscaling/horizontal-pod-autoscale/):
each metric's desired count is ceil(current x value / target) (AverageValue: ceil(total /
target)), unchanged while the ratio is within the tolerance (10 %); the largest wins. A scale
down takes the highest recommendation of the stabilisation window; rate-limit policies bound
the change per period (scale up: the largest policy, selectPolicy Max; scale down: the
smallest, Min); the result is clamped to [min, max].
KEDA (https://keda.sh/docs/latest/concepts/scaling-deployments/): at zero replicas the
operator activates the workload (0 -> 1) when a trigger is above its activation threshold or
the cron trigger is in its window; it returns it to idleReplicaCount (0) once every trigger has
been at or below its activation for cooldownPeriod (initialCooldownPeriod after creation).

What the fleet sees: a replica answers `startup_s` after it is asked for (node, image, load:
the plan's figure for the accelerator); the triggers read the load of the last scaling window
(2 minutes) as the requests the ready replicas served (a color at zero serves, and counts,
nothing); the accelerator's duty cycle is load per ready replica over its capacity. One step
is one KEDA poll (= one Prometheus scrape, 30 s).

This is a model of the algorithm for checking the plan's numbers, not a scaler: the scaler is
KEDA with the HPA controller, configured by the ScaledObject this replays.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
import itertools
from math import ceil

from infra.plan.scaling.fleet import ColorScaling, FleetScaling
from infra.rules import scaling

Trace = Callable[[float], float]  # seconds since start -> requests per second arriving
POLL_S = scaling.POLLING_INTERVAL_S
WINDOW_S = 120  # the triggers' window (queries.SCALING_WINDOW)


@dataclass
class Run:
    """One replay: replicas asked for and ready at each poll, and what the figures need."""

    times: list[float] = field(default_factory=list)
    load: list[float] = field(default_factory=list)
    desired: list[int] = field(default_factory=list)  # the Deployment's replicas
    ready: list[int] = field(default_factory=list)
    dropped: float = 0.0  # requests that arrived while no replica was ready
    removed_waiting: int = 0  # pods given up while still starting (waiting for their node, loading)

    def replica_minutes(self) -> float:
        return sum(self.desired) * POLL_S / 60

    def peak_load_over_target(self, target: float) -> float:
        """Peak of load per ready replica over the request target (a p99 latency proxy: above
        1 the batching queue grows; infinite while load arrives at no ready replica)."""
        worst = 0.0
        for load, ready in zip(self.load, self.ready, strict=True):
            if load > 0:
                worst = max(worst, float("inf") if ready == 0 else load / ready / target)
        return worst

    def minutes_over(self, target: float) -> float:
        """Minutes during which load per ready replica exceeded the target (queues grow)."""
        over = sum(1 for load, ready in zip(self.load, self.ready, strict=True)
                   if load > 0 and (ready == 0 or load / ready > target))
        return over * POLL_S / 60

    def reactions(self, onset_s: float) -> tuple[int | None, int | None]:
        """Polls from `onset_s` to the first scale-up, and to the first added replica ready."""
        start = next(i for i, t in enumerate(self.times) if t >= onset_s)
        base_desired, base_ready = self.desired[start], self.ready[start]
        up = next((i - start for i in range(start, len(self.times)) if self.desired[i] > base_desired), None)
        ready = next((i - start for i in range(start, len(self.times)) if self.ready[i] > base_ready), None)
        return up, ready

    def direction_changes(self, within_s: float) -> int:
        """Scale-ups followed by a scale-down (or the reverse) within `within_s`: flapping."""
        moves = [(self.times[i], self.desired[i] - self.desired[i - 1]) for i in range(1, len(self.desired))
                 if self.desired[i] != self.desired[i - 1]]
        return sum(1 for (t0, d0), (t1, d1) in itertools.pairwise(moves)
                   if (d0 > 0) != (d1 > 0) and t1 - t0 < within_s)


@dataclass(frozen=True, kw_only=True)
class Fleet:
    """What the replay needs of a planned fleet."""

    min_replicas: int
    max_replicas: int
    idle_zero: bool
    request_target: float
    accelerator_target: float | None  # percent; None: no accelerator trigger
    capacity_rps: float  # one replica at full batches (duty cycle 100 %)
    behavior: scaling.Behavior
    startup_s: int
    cooldown_s: int
    initial_cooldown_s: int
    awake: Callable[[float], bool] | None  # the cron trigger's window

    @classmethod
    def of(cls, s: FleetScaling, color: ColorScaling, *, awake: Callable[[float], bool] | None = None) -> Fleet:
        accelerator = next((t.target for t in color.triggers if t.name == "accelerator"), None)
        return cls(min_replicas=color.min_replicas, max_replicas=color.max_replicas,
                   idle_zero=color.idle_replicas == 0, request_target=s.request_target,
                   accelerator_target=accelerator, capacity_rps=s.request_target / scaling.REQUEST_TARGET_SHARE,
                   behavior=s.behavior, startup_s=s.startup_s, cooldown_s=s.cooldown_s,
                   initial_cooldown_s=s.cold_start_budget_s, awake=awake)


def _limit(b: scaling.Behavior, history: deque[tuple[float, int]], now: float, current: int, want: int) -> int:
    """Apply the rate-limit policies to a change from `current` to `want`."""
    if want > current:
        allowed = []
        for p in b.scale_up:
            base = min((r for t, r in history if now - t <= p.period_s), default=current)
            allowed.append(base + (p.value if p.type == "Pods" else ceil(base * p.value / 100)))
        return min(want, max(allowed))
    if want < current:
        floors = []
        for p in b.scale_down:
            base = max((r for t, r in history if now - t <= p.period_s), default=current)
            floors.append(base - (p.value if p.type == "Pods" else int(base * p.value / 100)))
        return max(want, *floors)  # selectPolicy Min: the smallest change
    return want


def replay(fleet: Fleet, trace: Trace, duration_s: float, *, cpu_only: bool = False) -> Run:
    """Poll every 30 s for `duration_s`. cpu_only: the CPU-only HPA tfplat had before (the
    same bounds and behaviour, one CPU trigger at 60 %, no scale to zero): an accelerator
    pod's host CPU stays near idle, a few percent more under load."""
    run = Run()
    b = fleet.behavior
    desired = 0 if fleet.idle_zero and not cpu_only else fleet.min_replicas
    pods: list[float] = [0.0 - fleet.startup_s] * desired  # ready times (ready from the start)
    served: deque[tuple[float, float]] = deque()  # (time, requests per second the ready pods served)
    recs: deque[tuple[float, int]] = deque()  # (time, recommendation): the stabilisation window
    history: deque[tuple[float, int]] = deque()  # (time, replicas) for the rate limits
    last_active = 0.0
    t = 0.0
    while t <= duration_s:
        load = trace(t)
        ready = sum(1 for r in pods if r <= t)
        served.append((t, load if ready else 0.0))
        if not ready:
            run.dropped += load * POLL_S
        while served and t - served[0][0] > WINDOW_S:
            served.popleft()
        seen = sum(x for _, x in served) / len(served)  # rate over the window
        busy = min(100.0, 100 * load / (ready * fleet.capacity_rps)) if ready else 0.0
        awake = fleet.awake(t) if fleet.awake is not None else False
        if fleet.idle_zero and not cpu_only:
            active = seen > 0 or awake
            if active:
                last_active = t
            cooldown = fleet.initial_cooldown_s if t < fleet.initial_cooldown_s else fleet.cooldown_s
            if desired == 0 and active:
                desired = 1  # KEDA activates; the HPA takes over from here
                pods.append(t + fleet.startup_s)
            elif desired > 0 and not active and t - last_active >= cooldown and t >= fleet.initial_cooldown_s:
                run.removed_waiting += sum(1 for r in pods if r > t)
                desired, pods = 0, []
        if desired > 0:
            if cpu_only:
                cpu = 8 + 6 * min(1.0, busy / 100)  # host CPU of a GPU pod: feeding the device
                want = scaling.desired_replicas(desired, cpu, 60)
            else:
                # AverageValue: the total over the target, unless within the tolerance of now.
                ratio = seen / (fleet.request_target * desired)
                by_requests = desired if abs(ratio - 1) <= scaling.TOLERANCE else ceil(seen / fleet.request_target)
                by_accelerator = (scaling.desired_replicas(desired, busy, fleet.accelerator_target)
                                  if fleet.accelerator_target else 0)
                want = max(by_requests, by_accelerator)
                if awake:
                    want = max(want, fleet.min_replicas)
            want = min(fleet.max_replicas, max(fleet.min_replicas, want))
            recs.append((t, want))
            while recs and t - recs[0][0] > b.scale_down_stabilization_s:
                recs.popleft()
            if want < desired:
                want = min(desired, max(r for _, r in recs))  # the highest of the window
            new = min(fleet.max_replicas, max(fleet.min_replicas, _limit(b, history, t, desired, want)))
            if new > desired:
                pods += [t + fleet.startup_s] * (new - desired)
            elif new < desired:
                # The ReplicaSet controller removes not-ready (still starting) pods first.
                kept = sorted(pods)[: new]
                run.removed_waiting += sum(1 for r in sorted(pods)[new:] if r > t)
                pods = kept
            desired = new
        history.append((t, desired))
        while history and t - history[0][0] > 600:
            history.popleft()
        run.times.append(t)
        run.load.append(load)
        run.desired.append(desired)
        run.ready.append(sum(1 for r in pods if r <= t))
        t += POLL_S
    return run


# --- traces (requests per second at second t) ------------------------------------------------

HOUR = 3600.0


def step(low: float, high: float, at_s: float) -> Trace:
    return lambda t: high if t >= at_s else low


def ramp(top: float, over_s: float) -> Trace:
    return lambda t: top * min(1.0, t / over_s)


def daily(peak: float, night: float = 0.0) -> Trace:
    """A day starting at midnight: quiet at night, peak at 14:00 (half a sine from 06:00 to 22:00)."""
    from math import pi, sin

    def load(t: float) -> float:
        h = (t / HOUR) % 24
        return night + (peak - night) * sin(pi * (h - 6) / 16) if 6 <= h <= 22 else night
    return load


def workday(peak: float, start_h: float = 8.0, end_h: float = 20.0) -> Trace:
    """Load only within working hours (half a sine), none at night: a dev stack's day."""
    from math import pi, sin

    def load(t: float) -> float:
        h = (t / HOUR) % 24
        return peak * sin(pi * (h - start_h) / (end_h - start_h)) if start_h <= h <= end_h else 0.0
    return load


def spike(base: float, top: float, at_s: float, for_s: float) -> Trace:
    return lambda t: top if at_s <= t < at_s + for_s else base


TRACES: dict[str, tuple[Trace, float, float]] = {  # name -> (trace, duration, onset of the rise)
    "step": (step(200, 4000, HOUR), 4 * HOUR, HOUR),
    "ramp": (ramp(6000, 3 * HOUR), 5 * HOUR, 0.0),
    "daily": (daily(5000, 200), 24 * HOUR, 6 * HOUR),
    "spike": (spike(500, 5000, 2 * HOUR, 600), 4 * HOUR, 2 * HOUR),
}


def awake_hours(color: ColorScaling) -> Callable[[float], bool] | None:
    """The cron trigger's window as a function of seconds since a Monday 00:00 (days ignored:
    replays are weekdays)."""
    cron = next((t.cron for t in color.triggers if t.cron is not None), None)
    if cron is None:
        return None

    def seconds(field: str) -> float:
        minute, hour = field.split()[:2]
        return int(hour) * HOUR + int(minute) * 60
    start, end = seconds(cron[1]), seconds(cron[2])
    return lambda t: start <= t % (24 * HOUR) < end
