"""Scenarios for the rendered alert rules against stand-in exporters (tests/harness).

Each scenario sets up the dev stack's three models (resnet50 on GPUs, live green v8 with
blue v7 warm; mobilenet on CPU; bert-ranker on TPU) and, at its onset, breaks one thing
or nothing. `expect` lists the alerts that must fire (labels they must carry) and the
time each is stated to need after the onset, in production seconds; any other tfplat
alert that fires is a false fire.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from infra.plan import tfserving
from infra.plan.monitoring import alerts as a
from infra.plan.monitoring import queries as q
from infra.plan.stack import StackPlan
from tests.harness.cluster import Behaviour
from tests.harness.harness import Harness
from tests.harness.tfserving import Traffic
from tests.harness.timescale import parse_ms

WARM = -6000.0  # sim seconds: "deployed long ago" (before Prometheus started)
# Prometheus has no history before it starts, so every scenario first runs healthy for
# longer than the longest look-back of any rule (the live Service's grace for bert-ranker,
# 1320 s); the onset comes after that.
ONSET = 1500.0
HEALTHY = Traffic(rps=40, latency_ms=((8.0, 0.9), (15.0, 0.09), (30.0, 0.01)))


@dataclass(frozen=True)
class Expected:
    alert: str
    labels: dict[str, str]
    stated_s: float  # production seconds after the onset


@dataclass
class Scenario:
    name: str
    duration_s: float  # production seconds from the harness start
    change: Callable[[Harness, StackPlan], None] | None = None  # applied at ONSET
    setup: Callable[[Harness, StackPlan], None] | None = None  # instead of the steady setup
    expect: list[Expected] = field(default_factory=list)


def _for_s(plan: StackPlan, model: str, rule: str) -> float:
    fleet = next(f for f in plan.fleets if f.name == model)
    return parse_ms(getattr(fleet.model.alerts, rule).for_) / 1000


def _window_s(window: str) -> float:
    return parse_ms(window) / 1000


def steady(h: Harness, plan: StackPlan, *, rps: float = HEALTHY.rps) -> None:
    """Every model running its stack's versions since long before the start, healthy."""
    for f in plan.fleets:
        model = h.cluster.models[f.name]
        model.live, model.created = f.rollout.live, WARM
        for c in f.colors:
            h.cluster.deploy(f.name, c.color, c.version, 2, Behaviour(start_delay_s=10, load_s=30), at=WARM)
            h.set_traffic(f.name, c.color, Traffic(rps=rps if c.live else 0.0, latency_ms=HEALTHY.latency_ms))
            h.set_utilization(f.name, c.color, 55.0 if c.live else 1.0)


def fresh_rollout(h: Harness, plan: StackPlan) -> None:
    """Every model deployed for the first time at the start: GPU/TPU nodes come up, images
    pull, models load for most of their load budget, then traffic arrives."""
    for f in plan.fleets:
        model = h.cluster.models[f.name]
        model.live, model.created = f.rollout.live, 0.0
        load = 0.6 * f.model.serving.load_timeout_s
        for c in f.colors:
            h.cluster.deploy(f.name, c.color, c.version, 2, Behaviour(start_delay_s=90, load_s=load), at=0.0)
            h.set_traffic(f.name, c.color, HEALTHY if c.live else Traffic())
            h.set_utilization(f.name, c.color, 50.0 if c.live else 1.0)


def idle(h: Harness, plan: StackPlan) -> None:
    steady(h, plan, rps=0.0)
    for f in plan.fleets:
        for c in f.colors:
            h.set_utilization(f.name, c.color, 0.0)


def _live(plan: StackPlan, model: str) -> str:
    return next(f for f in plan.fleets if f.name == model).rollout.live


def _idle_color(plan: StackPlan, model: str) -> str:
    return "blue" if _live(plan, model) == "green" else "green"


def error_spike(h: Harness, plan: StackPlan) -> None:
    h.set_traffic("resnet50", _live(plan, "resnet50"), Traffic(rps=40, server_error_ratio=0.05))


def latency_regression(h: Harness, plan: StackPlan) -> None:
    # 5% of mobilenet's requests now take 150 ms: p99 above 121.4 ms, the bucket edge over
    # its 80 ms objective, so the verdict is certain (latency.precision).
    h.set_traffic("mobilenet", _live(plan, "mobilenet"),
                  Traffic(rps=40, latency_ms=((8.0, 0.9), (15.0, 0.05), (150.0, 0.05))))


def never_loads(h: Harness, plan: StackPlan) -> None:
    # A new version staged on resnet50's idle color whose SavedModel cannot be loaded.
    h.cluster.deploy("resnet50", _idle_color(plan, "resnet50"), 9, 2,
                     Behaviour(start_delay_s=60, outcome="fails"))


def no_ready(h: Harness, plan: StackPlan) -> None:
    live = _live(plan, "mobilenet")
    for pod in h.cluster.models["mobilenet"].deployments[live].pods:
        pod.unready_from = h.now()
    h.set_traffic("mobilenet", live, Traffic())  # nothing reaches an unready pod


def gpu_saturated(h: Harness, plan: StackPlan) -> None:
    h.set_utilization("resnet50", _live(plan, "resnet50"), 95.0)  # the idle color stays at 1%


def tpu_saturated(h: Harness, plan: StackPlan) -> None:
    h.set_utilization("bert-ranker", _live(plan, "bert-ranker"), 96.0)


def scenarios(plan: StackPlan) -> list[Scenario]:
    resnet, mobilenet, bert = "resnet50", "mobilenet", "bert-ranker"
    rate = _window_s(q.RATE_WINDOW)
    scrape = 60.0  # two scrape intervals and one evaluation of slack for the data to arrive
    never_loads_s = (60 + (1 + tfserving.MAX_LOAD_RETRIES) * 5
                     + tfserving.MAX_LOAD_RETRIES * tfserving.LOAD_RETRY_INTERVAL_S)
    resnet_fleet = next(f for f in plan.fleets if f.name == resnet)
    stuck_s = tfserving.progress_deadline_s(resnet_fleet.model.serving.load_timeout_s)
    end = ONSET + 1500
    return [
        Scenario("healthy", end),
        Scenario("fresh rollout", 2900, setup=fresh_rollout),
        Scenario("idle models", end, setup=idle),
        Scenario("error spike", end, error_spike, expect=[
            Expected(a.ALERT_ERRORS, {"model": resnet, "color": _live(plan, resnet)},
                     _for_s(plan, resnet, "errors") + rate + scrape)]),
        Scenario("latency regression", end, latency_regression, expect=[
            Expected(a.ALERT_LATENCY, {"model": mobilenet, "color": _live(plan, mobilenet)},
                     _for_s(plan, mobilenet, "latency") + rate + scrape)]),
        Scenario("version never loads", ONSET + 1400, never_loads, expect=[
            Expected(a.ALERT_LOAD_FAILED, {"model": resnet, "color": _idle_color(plan, resnet), "version": "9"},
                     never_loads_s + _for_s(plan, resnet, "load_failure") + scrape),
            Expected(a.ALERT_ROLLOUT_STUCK, {"model": resnet, "color": _idle_color(plan, resnet)},
                     stuck_s + _for_s(plan, resnet, "load_failure") + scrape)]),
        Scenario("no ready replicas", end, no_ready, expect=[
            Expected(a.ALERT_NO_READY, {"model": mobilenet}, _for_s(plan, mobilenet, "no_ready_replicas") + scrape)]),
        Scenario("GPU saturated (live color only)", end, gpu_saturated, expect=[
            Expected(a.ALERT_GPU_SATURATED, {"model": resnet, "color": _live(plan, resnet)},
                     _for_s(plan, resnet, "accelerator_saturation") + scrape)]),
        Scenario("TPU saturated", end, tpu_saturated, expect=[
            Expected(a.ALERT_TPU_SATURATED, {"model": bert, "color": _live(plan, bert)},
                     _for_s(plan, bert, "accelerator_saturation") + scrape)]),
    ]
