"""The release policy of one model in one stack: every key decided, and what is wrong with it.

Layers, lowest first: the defaults of the stack's tier (`TIER_DEFAULTS`, plus the gate
limits taken from the model itself: its alert threshold and latency objective, so what
pages a human and what stops a release agree), `release:` in models/<model>.yaml,
`tfplat:release` of the stack, `tfplat:models.<model>.release` of the stack.
`policy_problems` reports what the schema cannot: steps that shrink or outgrow the stack's
canary step limit, intervals too short for the scrape interval, bake times that are not a
whole number of intervals, custom gate queries that name metrics nothing exports.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
import math
from typing import Literal

from infra.config.release_spec import (
    BusinessMetric,
    Direction,
    ErrorRatioGate,
    LatencyGate,
    OnUnavailable,
    ReleaseSettings,
)
from infra.config.spec import ModelRollout, ModelSpec, StackSpec
from infra.plan import tfserving
from infra.plan.guards import StepLimits
from infra.plan.monitoring import latency as lat
from infra.plan.release_gates import custom_gate_problems

#: Production scrape interval of the serving pods (the PodMonitor's): an analysis interval
#: must hold at least two scrapes, or `rate` over it has nothing to compute from.
SCRAPE_INTERVAL_S = 30
MIN_INTERVAL_S = 2 * SCRAPE_INTERVAL_S

_STEPS, _INCONCLUSIVE = (5, 50), 3
TIER_DEFAULTS: Mapping[str, ReleaseSettings] = {
    "dev": ReleaseSettings(steps=_STEPS, max_inconclusive=_INCONCLUSIVE, bake_time_s=240, analysis_interval_s=60,
                           min_requests=20, settle_time_s=120, on_metrics_unavailable="abort", max_pause_s=300),
    "staging": ReleaseSettings(steps=_STEPS, max_inconclusive=_INCONCLUSIVE, bake_time_s=360, analysis_interval_s=60,
                               min_requests=50, settle_time_s=300, on_metrics_unavailable="pause", max_pause_s=600),
    "prod": ReleaseSettings(steps=_STEPS, max_inconclusive=_INCONCLUSIVE, bake_time_s=600, analysis_interval_s=120,
                            min_requests=200, settle_time_s=1200, on_metrics_unavailable="pause", max_pause_s=900),
}
ERROR_FACTOR, LATENCY_FACTOR = 2.0, 2.0

Origin = Literal["default", "model", "stack", "stack-model"]
GateKind = Literal["error_ratio", "latency_p99", "custom"]


@dataclass(frozen=True, kw_only=True)
class Gate:
    name: str  # error_ratio, latency_p99, or the custom gate's name
    kind: GateKind
    direction: Direction  # at_most: lower is better
    limit: float  # absolute limit of the new color's value
    live_factor: float | None  # also within this factor of the live color's value
    factor_floor: float  # values on the good side of this are never compared with live
    unit: str  # for the report: "", "ms"
    template: str | None = None  # custom gates: the query template
    precision: str | None = None  # latency: how exactly the histogram decides the limit


@dataclass(frozen=True, kw_only=True)
class ReleasePolicy:
    steps: tuple[int, ...]
    bake_time_s: int
    analysis_interval_s: int
    min_requests: int
    max_inconclusive: int
    settle_time_s: int
    ready_timeout_s: int
    on_metrics_unavailable: OnUnavailable
    max_pause_s: int
    gates: tuple[Gate, ...]
    business_metrics: Mapping[str, BusinessMetric]
    origins: Mapping[str, Origin]  # which layer set each key (for error messages)

    @property
    def passes_per_step(self) -> int:
        """Passing intervals a step needs before it is promoted (at least one)."""
        return max(1, self.bake_time_s // self.analysis_interval_s)

    @property
    def passes_to_settle(self) -> int:
        return self.settle_time_s // self.analysis_interval_s


def _layers(stack: StackSpec, model: ModelSpec, rollout: ModelRollout | None) -> list[tuple[Origin, ReleaseSettings]]:
    base = TIER_DEFAULTS.get(stack.environment, TIER_DEFAULTS["prod"])
    derived = ReleaseSettings(
        ready_timeout_s=tfserving.progress_deadline_s(model.serving.load_timeout_s),
        error_ratio=ErrorRatioGate(max=model.alerts.error_ratio_threshold, max_factor_of_live=ERROR_FACTOR),
        latency_p99=LatencyGate(max_ms=float(model.serving.latency_objective_ms), max_factor_of_live=LATENCY_FACTOR))
    layers: list[tuple[Origin, ReleaseSettings]] = [("default", base.over(derived)), ("model", model.release),
                                                    ("stack", stack.release)]
    if rollout is not None:
        layers.append(("stack-model", rollout.release))
    return layers


def resolve(stack: StackSpec, model: ModelSpec) -> ReleasePolicy:
    """The policy `tfplat release` applies to `model` in `stack`."""
    rollout = stack.models.get(model.name)
    merged, origins = ReleaseSettings(), {}
    for origin, layer in _layers(stack, model, rollout):
        merged = merged.over(layer)
        for key, value in _set_keys(layer).items():
            if value is not None:
                origins[key] = origin
    assert merged.steps is not None and merged.bake_time_s is not None and merged.analysis_interval_s is not None
    assert merged.min_requests is not None and merged.max_inconclusive is not None
    assert merged.settle_time_s is not None and merged.ready_timeout_s is not None
    assert merged.on_metrics_unavailable is not None and merged.max_pause_s is not None
    er, lt = merged.error_ratio, merged.latency_p99
    assert er.max is not None and lt.max_ms is not None
    gates = [
        Gate(name="error_ratio", kind="error_ratio", direction="at_most", limit=er.max,
             live_factor=er.max_factor_of_live, factor_floor=er.factor_floor if er.factor_floor is not None
             else er.max / 10, unit=""),
        Gate(name="latency_p99", kind="latency_p99", direction="at_most", limit=lt.max_ms,
             live_factor=lt.max_factor_of_live, factor_floor=0.0, unit="ms",
             precision=lat.precision(lt.max_ms).describe()),
    ]
    gates += [Gate(name=g.name, kind="custom", direction=g.direction, limit=g.threshold, live_factor=g.live_factor,
                   factor_floor=-math.inf if g.direction == "at_most" else math.inf, unit="", template=g.query)
              for g in merged.custom_gates.values()]
    return ReleasePolicy(
        steps=merged.steps, bake_time_s=merged.bake_time_s, analysis_interval_s=merged.analysis_interval_s,
        min_requests=merged.min_requests, max_inconclusive=merged.max_inconclusive,
        settle_time_s=merged.settle_time_s, ready_timeout_s=merged.ready_timeout_s,
        on_metrics_unavailable=merged.on_metrics_unavailable, max_pause_s=merged.max_pause_s,
        gates=tuple(gates), business_metrics=merged.business_metrics, origins=origins)


def _set_keys(layer: ReleaseSettings) -> dict[str, object]:
    """Top-level keys a layer sets (gates.* as one key each)."""
    return {"steps": layer.steps, "bake_time": layer.bake_time_s, "analysis_interval": layer.analysis_interval_s,
            "min_requests": layer.min_requests, "max_inconclusive": layer.max_inconclusive,
            "settle_time": layer.settle_time_s, "ready_timeout": layer.ready_timeout_s,
            "on_metrics_unavailable": layer.on_metrics_unavailable, "max_pause": layer.max_pause_s,
            "gates.error_ratio.max": layer.error_ratio.max,
            "gates.error_ratio.factor_floor": layer.error_ratio.factor_floor,
            "gates.latency_p99.max_factor_of_live": layer.latency_p99.max_factor_of_live}


# --------------------------------------------------------------------------- problems


@dataclass(frozen=True, kw_only=True)
class Problem:
    """A policy mistake: where (which layer, key path below its release mapping), what, how to fix."""

    origin: Origin
    path: tuple[str | int, ...]
    message: str
    hint: str
    value: object = None


def _duration(seconds: int) -> str:
    return f"{seconds // 3600}h" if seconds % 3600 == 0 and seconds else \
        f"{seconds // 60}m" if seconds % 60 == 0 and seconds else f"{seconds}s"


def policy_problems(stack: StackSpec, model: ModelSpec) -> list[Problem]:
    """What is wrong with `model`'s resolved release policy in `stack` ([] if nothing)."""
    p = resolve(stack, model)
    at = p.origins.get
    out: list[Problem] = []
    if list(p.steps) != sorted(p.steps):
        out.append(Problem(origin=at("steps", "default"), path=("steps",), value=list(p.steps),
                           message="canary steps must grow", hint=f"list them in order, e.g. {sorted(p.steps)}"))
    limit = StepLimits.for_stack(stack.environment, stack.rollout.max_canary_step_percent).max_canary_step
    for before, after in zip((0, *p.steps), p.steps, strict=False):
        if after - before > limit:
            out.append(Problem(
                origin=at("steps", "default"), path=("steps",), value=list(p.steps),
                message=f"the step from {before}% to {after}% grows the canary by {after - before} points; "
                        f"stack {stack.name} allows {limit} per change (tfplat:rollout.max_canary_step_percent), "
                        "so the release would be refused half way",
                hint=f"add steps so that none grows by more than {limit} points, e.g. "
                     f"{_spaced(p.steps, limit)}"))
            break
    if p.analysis_interval_s < MIN_INTERVAL_S:
        out.append(Problem(origin=at("analysis_interval", "default"), path=("analysis_interval",),
                           value=_duration(p.analysis_interval_s),
                           message=f"an analysis interval needs at least two scrapes ({SCRAPE_INTERVAL_S}s apart), "
                                   "or its rates have nothing to compute from",
                           hint=f"use {_duration(MIN_INTERVAL_S)} or more"))
    for key, seconds, zero_ok in (("bake_time", p.bake_time_s, False), ("settle_time", p.settle_time_s, True)):
        if (seconds == 0 and zero_ok) or (seconds >= p.analysis_interval_s and seconds % p.analysis_interval_s == 0):
            continue
        whole = max(1, round(seconds / p.analysis_interval_s)) * p.analysis_interval_s
        out.append(Problem(origin=at(key, "default"), path=(key,), value=_duration(seconds),
                           message=f"must be a whole number of analysis intervals ({_duration(p.analysis_interval_s)})"
                                   + (" or 0s" if zero_ok else ""),
                           hint=f"use {_duration(whole)}, or change analysis_interval"))
    if p.on_metrics_unavailable == "pause" and p.max_pause_s < p.analysis_interval_s:
        out.append(Problem(origin=at("max_pause", "default"), path=("max_pause",), value=_duration(p.max_pause_s),
                           message="a pause shorter than one analysis interval never waits",
                           hint=f"use {_duration(p.analysis_interval_s)} or more, or on_metrics_unavailable: abort"))
    latency = next(g for g in p.gates if g.kind == "latency_p99")
    if latency.live_factor is not None and latency.live_factor < lat.GROWTH:
        out.append(Problem(origin=at("gates.latency_p99.max_factor_of_live", "default"),
                           path=("gates", "latency_p99", "max_factor_of_live"), value=latency.live_factor,
                           message=f"TF Serving's latency buckets grow by {lat.GROWTH:g}x, so two p99 estimates "
                                   f"inside one bucket can differ by up to {lat.GROWTH:g}x on interpolation alone: "
                                   f"a factor of {latency.live_factor:g} would fail healthy versions",
                           hint=f"use {lat.GROWTH:g} or more (the default is {LATENCY_FACTOR:g}); the ceiling "
                                "max_ms still bounds the p99 itself"))
    errors = next(g for g in p.gates if g.kind == "error_ratio")
    if errors.factor_floor >= errors.limit:
        out.append(Problem(origin=at("gates.error_ratio.factor_floor", "default"),
                           path=("gates", "error_ratio", "factor_floor"), value=errors.factor_floor,
                           message=f"is not below the ceiling max ({errors.limit:g}): no ratio would ever be "
                                   "compared with the live color",
                           hint=f"use a value below {errors.limit:g}, e.g. {errors.limit / 10:g}"))
    out += [Problem(origin="model", path=path, message=msg, hint=hint, value=value)
            for path, msg, hint, value in custom_gate_problems(model.release)]
    return out


def _spaced(steps: tuple[int, ...], limit: int) -> list[int]:
    """Steps with gaps filled so that none grows by more than `limit`."""
    out: list[int] = []
    for step in sorted(steps):
        while step - (out[-1] if out else 0) > limit:
            out.append((out[-1] if out else 0) + limit)
        out.append(step)
    return out
