"""Blue-green rollout rules: each runbook step, and properties over random step sequences."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st
import pytest

from infra.rules.rollout import (
    Rollout,
    RolloutError,
    canary,
    check_rollout,
    retire,
    rollback,
    stage,
    switch,
    transition_problems,
)

BASE = Rollout(blue=7, green=None, live="blue")


def test_stage_loads_the_idle_color_only() -> None:
    after = stage(BASE, 8)
    assert (after.blue, after.green, after.live, after.canary_percent) == (7, 8, "blue", 0)
    assert after.weights() == {"blue": 100, "green": 0}


def test_full_release_cycle() -> None:
    r = canary(stage(BASE, 8), 10)
    assert r.weights() == {"blue": 90, "green": 10}
    r = switch(r)
    assert (r.live, r.canary_percent, r.weights()) == ("green", 0, {"green": 100, "blue": 0})
    r = retire(r)
    assert (r.blue, r.green, r.live) == (None, 8, "green")


def test_rollback_aborts_a_canary_first_then_switches_back() -> None:
    r = canary(stage(BASE, 8), 25)
    assert rollback(r) == stage(BASE, 8)
    switched = switch(stage(BASE, 8))
    assert rollback(switched).live == "blue"


@pytest.mark.parametrize(("step", "fragment"), [
    (lambda r: stage(r, 7), "version 7 is already live in blue"),
    (lambda r: canary(r, 10), "the idle color green has no version"),
    (lambda r: canary(r, 101), "must be between 0 and 100"),
    (switch, "the idle color green has no version to switch to"),
    (rollback, "nothing to roll back to: green has no version"),
    (retire, "the idle color green runs nothing"),
])
def test_unsafe_steps_are_refused(step: Callable[[Rollout], Rollout], fragment: str) -> None:
    with pytest.raises(RolloutError, match=fragment):
        step(BASE)


def test_staging_over_a_canary_is_refused() -> None:
    with pytest.raises(RolloutError, match="still receives 10% canary traffic"):
        stage(canary(stage(BASE, 8), 10), 9)


def test_retiring_a_canary_target_is_refused() -> None:
    with pytest.raises(RolloutError, match="receives 10% canary traffic"):
        retire(canary(stage(BASE, 8), 10))


@pytest.mark.parametrize(("state", "field", "fragment"), [
    (Rollout(blue=None, green=3, live="blue"), "blue", "the live color blue has no version"),
    (Rollout(blue=3, green=3, live="blue"), "green", "both run version 3"),
    (Rollout(blue=3, green=None, live="blue", canary_percent=5), "canary_percent", "needs a version in the idle"),
])
def test_invalid_states_name_the_field(state: Rollout, field: str, fragment: str) -> None:
    with pytest.raises(RolloutError, match=fragment) as err:
        check_rollout(state)
    assert err.value.field == field


def test_transition_problems_catch_a_switch_and_retire_in_one_change() -> None:
    before = stage(BASE, 8)
    after = Rollout(blue=None, green=8, live="green")  # switch + retire at once: fine (blue loses traffic)
    assert transition_problems(before, after) == ["blue carries traffic (v7) and would change to nothing "
                                                  "in the same apply; stage into the idle color and switch instead"]
    unstaged = Rollout(blue=7, green=9, live="green")  # traffic to a version that was never staged
    assert any("not running yet" in p for p in transition_problems(before, unstaged))


STEPS: dict[str, Callable[[Rollout, int], Rollout]] = {
    "stage": stage,
    "canary": lambda r, n: canary(r, n % 101),
    "switch": lambda r, _n: switch(r),
    "rollback": lambda r, _n: rollback(r),
    "retire": lambda r, _n: retire(r),
}


@settings(max_examples=400, deadline=None)
@given(start=st.integers(min_value=1, max_value=50),
       steps=st.lists(st.tuples(st.sampled_from(sorted(STEPS)), st.integers(min_value=0, max_value=60)),
                      max_size=30))
def test_every_reachable_state_is_valid_and_every_step_safe(start: int, steps: list[tuple[str, int]]) -> None:
    state = Rollout(blue=start, green=None, live="blue")
    for name, arg in steps:
        try:
            after = STEPS[name](state, arg)
        except RolloutError:
            continue  # refused: nothing changed (the state is immutable)
        check_rollout(after)
        weights = after.weights()
        assert sum(weights.values()) == 100
        assert all(after.version(c) is not None for c in weights)
        assert after.version(after.live) is not None
        # No accepted step removes or changes a version that carries traffic, and
        # traffic only ever moves to a version that was already running.
        assert transition_problems(state, after) == [], (name, state, after)
        state = after
