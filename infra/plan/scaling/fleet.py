"""How one model's fleet scales in one stack: bounds, triggers and behaviour per color.

Triggers (KEDA; the largest replica count any of them asks for wins):
- requests: requests per second per replica (AverageValue: KEDA's HPA divides the color's
  request rate by its replicas) against the model's target, stated or derived from batching;
- latency: the color's p99 (the alert's and the release analysis' expression) against 80 %
  of the objective;
- queue: the color's p99 wait in the batching queue against the queue's share of the
  objective (what is left after the batch timeout and one batch);
- accelerator: mean GPU utilisation (DCGM) or TPU duty cycle of the color's pods;
- cpu: CPU utilisation of the pods (CPU models);
- awake (scale to zero only): a cron trigger holding min replicas during the awake hours.
Every Prometheus query comes from infra.plan.monitoring.queries, the one home of PromQL.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from math import ceil
from typing import Literal

from infra.config.spec import AwakeHours, Batching, StackSpec
from infra.plan import tfserving
from infra.plan.cloud import PoolPlan
from infra.plan.fleet import FleetPlan
from infra.plan.monitoring import metrics as m
from infra.plan.monitoring import queries as q
from infra.plan.monitoring.scope import FleetScope
from infra.plan.monitoring.values import wants_dcgm_chart
from infra.rules import scaling

Signal = Literal["requests", "latency", "queue", "accelerator", "cpu"]
DEFAULT_SIGNALS: Mapping[str, tuple[Signal, ...]] = {
    "cpu": ("requests", "latency", "queue", "cpu"),
    "gpu": ("requests", "latency", "queue", "accelerator"),
    "tpu": ("requests", "latency", "queue", "accelerator"),
}


@dataclass(frozen=True, kw_only=True)
class Trigger:
    name: str  # requests | latency | queue | accelerator | cpu | awake
    type: str  # KEDA scaler: prometheus | cpu | cron
    metric_type: str | None  # AverageValue | Value | Utilization (None: cron)
    target: float  # the threshold (cron: the replicas it holds)
    unit: str
    query: str | None  # PromQL (prometheus triggers)
    activation: float | None = None  # KEDA activationThreshold (request trigger, scale to zero)
    cron: tuple[str, str, str] | None = None  # (timezone, start, end) of the awake trigger

    def describe(self) -> str:
        if self.type == "cron":
            assert self.cron is not None
            timezone, start, end = self.cron

            def hhmm(cron: str) -> str:
                minute, hour = cron.split()[:2]
                return f"{int(hour):02d}:{int(minute):02d}"
            return f"awake {hhmm(start)}-{hhmm(end)} days {start.split()[-1]} {timezone}: {self.target:g} replicas"
        return f"{self.name} {self.target:g} {self.unit}"


@dataclass(frozen=True, kw_only=True)
class ColorScaling:
    color: str
    scaled_object: str  # = the Deployment's name, and the name of the HPA KEDA creates
    min_replicas: int  # while active
    max_replicas: int
    idle_replicas: int | None  # 0: scales to zero when idle (KEDA idleReplicaCount)
    triggers: tuple[Trigger, ...]


@dataclass(frozen=True, kw_only=True)
class FleetScaling:
    signals: tuple[str, ...]
    behavior: scaling.Behavior
    startup_s: int  # node provisioning + image pull + load budget on this accelerator
    scale_to_zero: bool
    cold_start_budget_s: int
    cooldown_s: int  # KEDA cooldownPeriod (last activity -> zero)
    request_target: float
    request_target_derived: bool
    version_change: scaling.VersionChange
    colors: tuple[ColorScaling, ...]
    notes: tuple[str, ...]  # what the plan could not give this fleet, and why

    def color(self, color: str) -> ColorScaling | None:
        return next((c for c in self.colors if c.color == color), None)


def scale_to_zero_enabled(stack: StackSpec) -> bool:
    """Dev by default, never staging or prod unless the stack says so."""
    enabled = stack.serving.scale_to_zero.enabled
    return stack.environment == "dev" if enabled is None else enabled


def _cron(awake: AwakeHours, budget_s: int) -> tuple[str, str, str]:
    """The awake trigger's (timezone, start, end): woken earlier by the cold-start budget so
    the fleet answers when the hours begin (never before midnight of the same day)."""
    def minutes(hhmm: str) -> int:
        h, mm = hhmm.split(":")
        return int(h) * 60 + int(mm)
    start = max(0, minutes(awake.start) - ceil(budget_s / 60))
    end = minutes(awake.end)
    return (awake.timezone, f"{start % 60} {start // 60} * * {awake.days}", f"{end % 60} {end // 60} * * {awake.days}")


def offer_units(fleet: FleetPlan, pools: Sequence[PoolPlan]) -> tuple[int, int | None]:
    """(units one replica takes, units its pools can grow to): GPUs, or TPU hosts. None: a
    CPU or shared-GPU fleet, not a scarce pool."""
    kind = fleet.model.serving.accelerator.kind
    mine = [p for p in pools if p.pool in fleet.placement.pools and p.role == "serving"]
    if kind == "cpu" or not mine or any(p.gpu_sharing is not None and p.gpu_sharing.strategy != "none" for p in mine):
        return 1, None
    if kind == "gpu":
        return fleet.model.serving.accelerator.count, sum(p.max_nodes * p.gpus_per_node for p in mine)
    return 1, sum(p.max_nodes for p in mine)


def plan_scaling(stack: StackSpec, fleet: FleetPlan, pools: Sequence[PoolPlan]) -> FleetScaling:
    model = fleet.model
    serving = model.serving
    auto = serving.autoscaling
    kind = serving.accelerator.kind
    batching = tfserving.resolve_batching(serving)
    scope = FleetScope.of(fleet)
    notes: list[str] = []
    signals: list[str] = list(auto.signals or DEFAULT_SIGNALS[kind])
    if not batching.enabled and "queue" in signals:
        signals.remove("queue")  # defaults only (the loader refuses it stated without batching)
    prometheus = stack.monitoring.enabled
    if not prometheus:
        dropped = [s for s in signals if s != "cpu"]
        signals = ["cpu"]
        notes.append(f"tfplat:monitoring is off: no Prometheus to query, so {', '.join(dropped)} cannot scale "
                     "this fleet; it scales on CPU alone")
    elif kind == "gpu" and "accelerator" in signals and not wants_dcgm_chart(stack):
        signals.remove("accelerator")
        notes.append("gpu_metrics: gke-managed sends DCGM data to Cloud Monitoring, not to this Prometheus: "
                     "no GPU duty-cycle trigger (requests, latency and queue still scale it)")
    execution = tfserving.execution_batch(batching)
    assert batching.batch_execution_ms is not None
    capacity = scaling.replica_capacity_rps(kind=kind, execution_batch=execution if batching.enabled else 1,
                                            execution_ms=batching.batch_execution_ms,
                                            batch_threads=batching.num_batch_threads)
    derived = auto.target_requests_per_replica is None
    request_target = scaling.request_target(capacity) if derived else float(auto.target_requests_per_replica or 0)
    startup = scaling.startup_s(kind, serving.load_timeout_s)
    budget = auto.cold_start_budget_s or startup
    zero = scale_to_zero_enabled(stack) and auto.scale_to_zero and prometheus
    units, offer = offer_units(fleet, pools)
    rollout = fleet.rollout
    mode = scaling.version_change(stack.models[model.name].version_change, min_replicas=fleet.min_replicas,
                                  units_per_replica=units, offer_units=offer)
    floors = scaling.color_floors(fleet.min_replicas, {str(c): w for c, w in rollout.weights().items()}, mode)
    colors = []
    for c in fleet.colors:
        triggers = _triggers(scope, c.color, signals, request_target=request_target,
                             objective=serving.latency_objective_ms,
                             batching_queue_ms=_queue_target(batching, serving.latency_objective_ms),
                             cpu_target=auto.target_cpu_utilization_percent, kind=kind,
                             activation=stack.serving.scale_to_zero.activation_requests_per_second if zero else None)
        awake = stack.serving.scale_to_zero.awake
        if zero and awake is not None:
            triggers += (Trigger(name="awake", type="cron", metric_type=None, target=float(floors[c.color]),
                                 unit="replicas", query=None, cron=_cron(awake, budget)),)
        colors.append(ColorScaling(color=c.color, scaled_object=c.deployment, min_replicas=floors[c.color],
                                   max_replicas=fleet.max_replicas, idle_replicas=0 if zero else None,
                                   triggers=triggers))
    return FleetScaling(signals=tuple(signals), behavior=scaling.behavior(kind, serving.load_timeout_s),
                        startup_s=startup, scale_to_zero=zero, cold_start_budget_s=budget,
                        cooldown_s=scaling.cooldown_s(budget), request_target=request_target,
                        request_target_derived=derived, version_change=mode, colors=tuple(colors), notes=tuple(notes))


def _queue_target(b: Batching, objective_ms: int) -> float:
    """What the queue may take of the objective: the objective less the batch timeout and one
    batch (at least 1 ms)."""
    assert b.batch_execution_ms is not None
    return max(1.0, round(objective_ms - b.batch_timeout_micros / 1000 - b.batch_execution_ms, 1))


def _triggers(scope: FleetScope, color: str, signals: Sequence[str], *, request_target: float, objective: int,
              batching_queue_ms: float, cpu_target: int, kind: str,
              activation: float | None) -> tuple[Trigger, ...]:
    w = q.SCALING_WINDOW
    out: list[Trigger] = []
    for s in signals:
        if s == "requests":
            out.append(Trigger(name=s, type="prometheus", metric_type="AverageValue", target=request_target,
                               unit="req/s per replica", query=q.scaling_value(q.color_request_rate(scope, color, w)),
                               activation=activation))
        elif s == "latency":
            out.append(Trigger(name=s, type="prometheus", metric_type="Value",
                               target=round(objective * scaling.LATENCY_TARGET_SHARE, 1), unit="ms p99",
                               query=q.scaling_value(q.latency_quantile(scope, 0.99, "", w, color=color))))
        elif s == "queue":
            out.append(Trigger(name=s, type="prometheus", metric_type="Value", target=batching_queue_ms,
                               unit="ms p99 queued", query=q.scaling_value(q.queue_p99_ms(scope, color, w))))
        elif s == "accelerator":
            metric = m.GPU_UTIL if kind == "gpu" else m.TPU_DUTY_CYCLE
            out.append(Trigger(name=s, type="prometheus", metric_type="Value",
                               target=float(scaling.ACCELERATOR_TARGET_PERCENT), unit=f"% {kind} busy",
                               query=q.scaling_value(q.accelerator_busy(scope, metric, color))))
        elif s == "cpu":
            out.append(Trigger(name=s, type="cpu", metric_type="Utilization", target=float(cpu_target),
                               unit="% CPU", query=None))
    return tuple(out)

