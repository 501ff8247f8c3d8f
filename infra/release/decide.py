"""The release's decisions, as pure functions of what the metrics said (no I/O, no clock).

`judge` turns one analysis interval's readings into a verdict with its numbers; `advance`
turns a verdict into what the release does next. The rules that matter:

- too few requests of the new color, a missing series, NaN (a zero-request window) or an
  empty result is INCONCLUSIVE, never a pass; unreadable metrics are UNAVAILABLE;
- a gate that fails on real data fails the interval even if another gate had no data (a
  rollback never waits for more evidence than one bad interval);
- a step is promoted only on a passing interval, after `needed` passing intervals;
- max_inconclusive inconclusive intervals in a row abort; an outage longer than
  max_pause aborts when the policy pauses on one (otherwise an outage is inconclusive).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
import math
from typing import Literal

from infra.plan.release_policy import Gate, ReleasePolicy

Verdict = Literal["pass", "fail", "inconclusive", "unavailable"]
Action = Literal["continue", "promote", "rollback", "abort"]


@dataclass(frozen=True, kw_only=True)
class Reading:
    """What the queries returned for one interval (None: empty result; NaN kept as NaN)."""

    new_requests: float | None
    live_requests: float | None
    new: Mapping[str, float | None] = field(default_factory=dict)  # gate name -> value
    live: Mapping[str, float | None] = field(default_factory=dict)
    unavailable: str | None = None  # why the metrics could not be read at all


@dataclass(frozen=True, kw_only=True)
class Check:
    gate: str
    test: str  # "limit" or "vs live"
    new: float | None
    live: float | None
    bound: float | None  # what the new value was compared with
    verdict: Verdict
    note: str = ""


@dataclass(frozen=True, kw_only=True)
class IntervalResult:
    verdict: Verdict
    reason: str
    new_requests: float | None
    live_requests: float | None
    checks: tuple[Check, ...] = ()


def usable(value: float | None) -> bool:
    """A number the gates may judge: present and not NaN (+Inf is a real, very bad value)."""
    return value is not None and not math.isnan(value)


def _ok(direction: str, value: float, bound: float) -> bool:
    return value <= bound if direction == "at_most" else value >= bound


def _limit_check(gate: Gate, value: float | None) -> Check:
    if not usable(value):
        return Check(gate=gate.name, test="limit", new=value, live=None, bound=gate.limit, verdict="inconclusive",
                     note="no data" if value is None else "NaN (no requests in the window)")
    assert value is not None
    return Check(gate=gate.name, test="limit", new=value, live=None, bound=gate.limit,
                 verdict="pass" if _ok(gate.direction, value, gate.limit) else "fail")


def _live_check(gate: Gate, value: float | None, live: float | None, live_requests_ok: bool) -> Check | None:
    if gate.live_factor is None:
        return None
    if usable(value):
        assert value is not None
        if _ok(gate.direction, value, gate.factor_floor):
            return Check(gate=gate.name, test="vs live", new=value, live=live, bound=None, verdict="pass",
                         note=f"within {gate.factor_floor:g}: not compared with live")
    if not usable(value):
        return None  # the limit check already says why this gate has no data
    if not live_requests_ok or not usable(live):
        return Check(gate=gate.name, test="vs live", new=value, live=live, bound=None, verdict="inconclusive",
                     note="the live color has too few requests" if not live_requests_ok else "no live data")
    assert value is not None and live is not None
    bound = live * gate.live_factor
    return Check(gate=gate.name, test="vs live", new=value, live=live, bound=bound,
                 verdict="pass" if _ok(gate.direction, value, bound) else "fail",
                 note=f"live x {gate.live_factor:g}")


def judge(policy: ReleasePolicy, reading: Reading, *, compare_live: bool) -> IntervalResult:
    """The verdict of one interval. compare_live: False after the switch (the old color
    serves nothing then, so only the absolute limits apply)."""
    if reading.unavailable is not None:
        return IntervalResult(verdict="unavailable", reason=f"metrics unavailable: {reading.unavailable}",
                              new_requests=None, live_requests=None)
    checks: list[Check] = []
    live_ok = usable(reading.live_requests) and (reading.live_requests or 0) >= policy.min_requests
    for gate in policy.gates:
        value = reading.new.get(gate.name)
        checks.append(_limit_check(gate, value))
        if compare_live:
            versus = _live_check(gate, value, reading.live.get(gate.name), live_ok)
            if versus is not None:
                checks.append(versus)
    requests = reading.new_requests
    if not usable(requests) or (requests or 0) < policy.min_requests:
        served = "no requests recorded" if not usable(requests) else f"{requests:.0f} requests"
        return IntervalResult(verdict="inconclusive", checks=tuple(checks), new_requests=requests,
                              live_requests=reading.live_requests,
                              reason=f"the new color served {served}, fewer than min_requests {policy.min_requests}")
    failed = [c for c in checks if c.verdict == "fail"]
    unknown = [c for c in checks if c.verdict == "inconclusive"]
    if failed:
        verdict: Verdict = "fail"
        reason = "; ".join(f"{c.gate} {_fmt(c.new)} beyond {c.test} {_fmt(c.bound)}" for c in failed)
    elif unknown:
        verdict, reason = "inconclusive", "; ".join(f"{c.gate} ({c.test}): {c.note}" for c in unknown)
    else:
        verdict, reason = "pass", "every gate passed"
    return IntervalResult(verdict=verdict, reason=reason, checks=tuple(checks), new_requests=requests,
                          live_requests=reading.live_requests)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


@dataclass(frozen=True, kw_only=True)
class Progress:
    """Where one phase (a canary step, or the settle period) stands."""

    intervals: int = 0
    passes: int = 0
    inconclusive_run: int = 0
    outage_s: int = 0


@dataclass(frozen=True, kw_only=True)
class Decision:
    action: Action
    reason: str


def advance(policy: ReleasePolicy, progress: Progress, result: IntervalResult,
            needed: int) -> tuple[Progress, Decision]:
    """What to do after one interval of a phase that needs `needed` passing intervals."""
    progress = replace(progress, intervals=progress.intervals + 1)
    if result.verdict == "fail":
        return progress, Decision(action="rollback", reason=f"gate failed: {result.reason}")
    if result.verdict == "unavailable" and policy.on_metrics_unavailable == "pause":
        outage = progress.outage_s + policy.analysis_interval_s
        progress = replace(progress, outage_s=outage)
        if outage > policy.max_pause_s:
            return progress, Decision(action="abort", reason=f"metrics unavailable for {outage}s, longer than "
                                                             f"max_pause ({policy.max_pause_s}s): {result.reason}")
        return progress, Decision(action="continue", reason=f"paused, metrics unavailable for {outage}s "
                                                            f"(max_pause {policy.max_pause_s}s)")
    if result.verdict in ("inconclusive", "unavailable"):
        run = progress.inconclusive_run + 1
        progress = replace(progress, inconclusive_run=run, outage_s=0)
        if run >= policy.max_inconclusive:
            return progress, Decision(action="abort", reason=f"{run} inconclusive intervals in a row "
                                                             f"(max_inconclusive {policy.max_inconclusive}): "
                                                             f"{result.reason}")
        return progress, Decision(action="continue", reason=f"inconclusive ({run}/{policy.max_inconclusive}): "
                                                            f"{result.reason}")
    progress = replace(progress, passes=progress.passes + 1, inconclusive_run=0, outage_s=0)
    if progress.passes >= needed:
        return progress, Decision(action="promote", reason=f"{progress.passes} passing intervals")
    return progress, Decision(action="continue", reason=f"passed ({progress.passes}/{needed})")
