"""The release's pure decisions: judging an interval and what follows from it.

The property test drives `judge` and `advance` with random metric series (values missing,
NaN, infinite, below and above every limit; request counts around the minimum; outages)
and checks the rule the issue asks for: never a promotion on an interval whose data is
missing or below the minimum request count.
"""

from __future__ import annotations

from dataclasses import replace
import math

from hypothesis import find, given, settings
from hypothesis import strategies as st
import pytest

from infra.config.loader import load
from infra.plan.release_policy import ReleasePolicy, resolve
from infra.release.decide import Progress, Reading, advance, judge, usable
from tests.conftest import REPO


def _policy() -> ReleasePolicy:
    loaded = load(REPO, "dev")
    return resolve(loaded.stack, loaded.models["bert-ranker"])  # error, latency and a business gate


POLICY = _policy()
GOOD = {"error_ratio": 0.0, "latency_p99": 20.0, "click_through": 0.05}


def reading(new_requests: float | None = 1000.0, live_requests: float | None = 1000.0, **new: float | None) -> Reading:
    return Reading(new_requests=new_requests, live_requests=live_requests, new={**GOOD, **new}, live=dict(GOOD))


def test_healthy_interval_passes_and_promotes_after_enough_passes() -> None:
    progress = Progress()
    for n in range(1, 3):
        result = judge(POLICY, reading(), compare_live=True)
        assert result.verdict == "pass"
        progress, decision = advance(POLICY, progress, result, needed=2)
        assert decision.action == ("promote" if n == 2 else "continue")


@pytest.mark.parametrize(("change", "why"), [
    ({"new_requests": None}, "no requests recorded"),
    ({"new_requests": math.nan}, "no requests recorded"),
    ({"new_requests": 10.0}, "10 requests, fewer than min_requests"),
    ({"error_ratio": math.nan}, "error_ratio (limit): NaN"),
    ({"latency_p99": None}, "latency_p99 (limit): no data"),
    ({"click_through": None}, "click_through (limit): no data"),
])
def test_missing_nan_or_too_few_requests_is_inconclusive(change: dict[str, float | None], why: str) -> None:
    requests = change.pop("new_requests", 1000.0)
    result = judge(POLICY, reading(requests, **change), compare_live=True)
    assert result.verdict == "inconclusive" and why in result.reason, result.reason


def test_too_few_requests_is_inconclusive_even_when_a_gate_would_fail() -> None:
    """Three requests with one error is noise, not a 33% error ratio."""
    assert judge(POLICY, reading(3.0, error_ratio=0.33), compare_live=True).verdict == "inconclusive"


def test_a_failing_gate_wins_over_a_gate_without_data() -> None:
    result = judge(POLICY, reading(error_ratio=0.2, latency_p99=math.nan), compare_live=True)
    assert result.verdict == "fail" and "error_ratio 0.2 beyond limit 0.01" in result.reason
    _, decision = advance(POLICY, Progress(passes=1), result, needed=2)
    assert decision.action == "rollback"


def test_infinite_latency_is_a_real_value_and_fails() -> None:
    """histogram_quantile says +Inf when p99 is beyond the last bucket: very slow, not unknown."""
    assert judge(POLICY, reading(latency_p99=math.inf), compare_live=True).verdict == "fail"


def test_live_comparison() -> None:
    live = Reading(new_requests=1000.0, live_requests=1000.0, new={**GOOD, "latency_p99": 45.0},
                   live={**GOOD, "latency_p99": 20.0})
    result = judge(POLICY, live, compare_live=True)  # 45 > 20 x 2, under the 50 ms ceiling
    assert result.verdict == "fail" and "latency_p99 45 beyond vs live 40" in result.reason
    assert judge(POLICY, live, compare_live=False).verdict == "pass"  # after the switch: limits only
    few = replace(live, live_requests=5.0)
    assert judge(POLICY, few, compare_live=True).verdict == "inconclusive"
    small = replace(live, new={**GOOD, "error_ratio": 0.0008}, live={**GOOD, "error_ratio": 0.0})
    checks = {c.test: c for c in judge(POLICY, small, compare_live=True).checks if c.gate == "error_ratio"}
    assert checks["vs live"].verdict == "pass" and "not compared" in checks["vs live"].note  # under factor_floor
    business = replace(live, new={**GOOD, "click_through": 0.03}, live={**GOOD, "click_through": 0.05})
    assert "click_through 0.03 beyond vs live 0.04" in judge(POLICY, business, compare_live=True).reason


def test_outages_count_or_pause_as_the_policy_says() -> None:
    down = judge(POLICY, Reading(new_requests=None, live_requests=None, unavailable="refused"), compare_live=True)
    assert down.verdict == "unavailable"
    counting = replace(POLICY, on_metrics_unavailable="abort", max_inconclusive=2)
    p, d = advance(counting, Progress(), down, needed=2)
    assert d.action == "continue"
    assert advance(counting, p, down, needed=2)[1].action == "abort"
    pausing = replace(POLICY, on_metrics_unavailable="pause", max_pause_s=2 * POLICY.analysis_interval_s)
    p = Progress()
    actions = []
    for _ in range(3):
        p, d = advance(pausing, p, down, needed=2)
        actions.append(d.action)
    assert actions == ["continue", "continue", "abort"] and p.inconclusive_run == 0


# --------------------------------------------------------------------------- the property

def _gate_values(good: float, bad: float) -> st.SearchStrategy[float | None]:
    """Mostly good numbers (so that promotions happen), else bad ones, none, NaN, +Inf or any."""
    kinds = ["good"] * 10 + ["bad", "none", "nan", "inf", "any"]
    fixed = {"good": good, "bad": bad, "none": None, "nan": math.nan, "inf": math.inf}
    return st.sampled_from(kinds).flatmap(
        lambda k: st.floats(min_value=0, max_value=1000, allow_nan=False) if k == "any" else st.just(fixed[k]))


_new = st.fixed_dictionaries({"error_ratio": _gate_values(0.0, 0.2), "latency_p99": _gate_values(20.0, 400.0),
                              "click_through": _gate_values(0.05, 0.001)})
_requests = st.sampled_from(["many"] * 6 + ["none", "nan", "around the minimum"]).flatmap(
    lambda k: st.integers(min_value=0, max_value=400).map(float) if k == "around the minimum"
    else st.just({"many": 5000.0, "none": None, "nan": math.nan}[k]))
_reading = st.builds(Reading, new_requests=_requests, live_requests=_requests, new=_new, live=_new,
                     unavailable=st.sampled_from([None, None, None, "connection refused"]))


def _complete(policy: ReleasePolicy, r: Reading, compare_live: bool) -> bool:
    """Everything a promotion may rest on is there: metrics read, enough requests, every
    gate's value a number, and for each live comparison the live side too."""
    if r.unavailable is not None or not usable(r.new_requests) or (r.new_requests or 0) < policy.min_requests:
        return False
    if not all(usable(r.new.get(g.name)) for g in policy.gates):
        return False
    if compare_live:
        live_ok = usable(r.live_requests) and (r.live_requests or 0) >= policy.min_requests
        for g in policy.gates:
            value = r.new[g.name]
            assert value is not None
            floor_ok = value <= g.factor_floor if g.direction == "at_most" else value >= g.factor_floor
            if g.live_factor is not None and not floor_ok and not (live_ok and usable(r.live.get(g.name))):
                return False
    return True


@settings(max_examples=400, deadline=None)
@given(readings=st.lists(_reading, min_size=1, max_size=30), compare_live=st.booleans(),
       needed=st.integers(min_value=1, max_value=5), min_requests=st.integers(min_value=1, max_value=300),
       on_unavailable=st.sampled_from(["abort", "pause"]))
def test_never_promotes_on_missing_data_or_too_few_requests(readings: list[Reading], compare_live: bool, needed: int,
                                                            min_requests: int, on_unavailable: str) -> None:
    policy = replace(POLICY, min_requests=min_requests, on_metrics_unavailable=on_unavailable)  # type: ignore[arg-type]
    progress = Progress()
    for r in readings:
        result = judge(policy, r, compare_live=compare_live)
        before = progress.passes
        progress, decision = advance(policy, progress, result, needed)
        if decision.action == "promote":
            assert result.verdict == "pass" and _complete(policy, r, compare_live), (r, result)
            assert progress.passes == before + 1 >= needed
        if result.verdict == "fail":
            assert decision.action == "rollback"
        if decision.action != "continue":
            break


def test_the_random_series_do_reach_promotions() -> None:
    """The property above is not vacuous: its generator produces promoting series."""
    def promotes(readings: list[Reading]) -> bool:
        progress = Progress()
        for r in readings:
            progress, decision = advance(POLICY, progress, judge(POLICY, r, compare_live=True), 2)
            if decision.action != "continue":
                return decision.action == "promote"
        return False

    found = find(st.lists(_reading, min_size=1, max_size=30), promotes, settings=settings(max_examples=2000))
    assert len(found) >= 2
