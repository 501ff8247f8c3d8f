"""Load traces replayed through the HPA algorithm (tests/scaling/replay.py) with the scaling
tfplat plans: replicas track load within the bounds, never flap, never give up a replica that
is still starting, and stay at zero only where the stack allows it."""

from __future__ import annotations

import pytest

from infra.config.loader import load
from infra.plan.scaling.fleet import FleetScaling
from infra.plan.stack import plan_stack
from infra.rules import scaling as scaling_rules
from tests.conftest import REPO
from tests.scaling import replay as r


def _fleet(stack: str, model: str = "resnet50") -> tuple[FleetScaling, r.Fleet]:
    plan = plan_stack(load(REPO, stack))
    fleet = next(f for f in plan.fleets if f.name == model)
    assert fleet.scaling is not None
    color = fleet.scaling.colors[-1]
    return fleet.scaling, r.Fleet.of(fleet.scaling, color, awake=r.awake_hours(color))


@pytest.mark.parametrize("trace", sorted(r.TRACES))
@pytest.mark.parametrize("model", ["resnet50", "bert-ranker", "mobilenet"])
def test_replicas_track_load_within_bounds_without_flapping(trace: str, model: str) -> None:
    scaling, fleet = _fleet("prod", model)
    load_of, duration, _onset = r.TRACES[trace]
    run = r.replay(fleet, load_of, duration)
    assert min(run.desired) >= fleet.min_replicas and max(run.desired) <= fleet.max_replicas
    assert run.direction_changes(within_s=scaling.behavior.scale_down_stabilization_s) == 0
    assert run.removed_waiting == 0
    # Settled (a start after the load last rose): the ready replicas carry the load at their
    # target, unless the fleet is at its maximum.
    settle = fleet.startup_s + 2 * r.WINDOW_S + 4 * r.POLL_S
    for i, t in enumerate(run.times):
        rising = [t2 for t2 in run.times if t - settle <= t2 <= t and load_of(t2) > load_of(t - settle) * 1.01]
        if t < settle or rising or run.desired[i] == fleet.max_replicas:
            continue
        # Within the HPA's tolerance (10 %), and the lag of a slow rise seen through the window.
        assert run.ready[i] * fleet.request_target * (1 + 2 * scaling_rules.TOLERANCE) >= run.load[i], \
            (trace, t, run.ready[i], run.load[i])


def test_a_cpu_only_hpa_lets_accelerator_fleets_drown() -> None:
    """The same step on the CPU-only HPA: the host CPU never crosses its target, so the fleet
    stays at its minimum while each replica takes several times its target."""
    scaling, fleet = _fleet("prod")
    load_of, duration, _ = r.TRACES["step"]
    keda, cpu = r.replay(fleet, load_of, duration), r.replay(fleet, load_of, duration, cpu_only=True)
    assert max(cpu.desired) == fleet.min_replicas
    assert cpu.peak_load_over_target(scaling.request_target) > 1.5
    # Both take the first polls of the step on the replicas they had (a start is not instant);
    # the CPU-only HPA never catches up.
    assert keda.minutes_over(scaling.request_target) <= (fleet.startup_s + 4 * r.POLL_S) / 60
    assert cpu.minutes_over(scaling.request_target) >= (duration - r.HOUR) / 60 - 1


def test_scale_up_reacts_within_a_few_scrapes() -> None:
    _, fleet = _fleet("prod")
    load_of, duration, onset = r.TRACES["step"]
    up, ready = r.replay(fleet, load_of, duration).reactions(onset)
    assert up is not None and up <= 2  # the window shows the step at the next poll
    assert ready is not None and ready * r.POLL_S <= fleet.startup_s + 3 * r.POLL_S


def test_dev_scales_to_zero_at_night_and_is_ready_when_the_day_starts() -> None:
    scaling, fleet = _fleet("dev")
    assert fleet.idle_zero and fleet.awake is not None
    run = r.replay(fleet, r.workday(3000), 24 * r.HOUR)
    at = {t: i for i, t in enumerate(run.times)}
    assert 0 in run.desired, "idle at night: no replica"
    nine = at[9 * r.HOUR]
    assert run.ready[nine] >= fleet.min_replicas, "woken by the cold-start budget before the awake hours"
    evening = [run.desired[i] for i, t in enumerate(run.times) if 20.5 * r.HOUR + scaling.cooldown_s <= t]
    assert evening and set(evening) == {0}, "back to zero after the cooldown once load and the awake hours end"
    assert run.removed_waiting == 0
    assert run.dropped == 0, "woken before the first request of the day"


def test_prod_never_scales_to_zero() -> None:
    _, fleet = _fleet("prod")
    assert not fleet.idle_zero
    run = r.replay(fleet, r.daily(3000, 0.0), 24 * r.HOUR)
    assert min(run.desired) == fleet.min_replicas > 0


def test_replicas_added_at_the_end_of_the_day_are_not_given_up_while_starting() -> None:
    """A burst just before the awake hours end adds replicas; they are still waiting for their
    nodes when the hours end and the burst stops, yet none is removed before it is ready
    (cooldown and stabilisation are at least a start), and the fleet reaches zero after."""
    _scaling, fleet = _fleet("dev")
    burst = r.spike(0.0, 4000.0, 19.9 * r.HOUR, 600)
    run = r.replay(fleet, burst, 24 * r.HOUR)
    assert max(run.desired) > 1
    assert run.removed_waiting == 0
    assert run.desired[-1] == 0


def test_requests_do_not_wake_a_fleet_at_zero() -> None:
    """At zero no TF Serving process counts anything, so the request trigger reads 0 and only
    the awake hours wake the fleet (docs/scaling.md says so): requests in between fail."""
    _, fleet = _fleet("dev")
    run = r.replay(fleet, r.spike(0.0, 50.0, 2 * r.HOUR, 600), 6 * r.HOUR)
    assert set(run.desired[run.times.index(r.HOUR):]) == {0}
    assert run.dropped == 50.0 * 600
