"""Scaling figures: load traces replayed through the HPA algorithm with the scaling tfplat
plans (tests/scaling/replay.py), against the CPU-only HPA it replaced.

    .venv/bin/python bench/scaling_bench.py [--stack prod] [--model resnet50]

Per trace: peak load per ready replica over the request target (a p99 latency proxy: above 1
the batching queue grows) and minutes above it, replica-minutes against a CPU-only HPA on the
same trace, and the scale-up reaction in scrape intervals (30 s): to the first scale-up, and
to the first added replica answering. Then the dev stack's daily cycle with and without scale
to zero.
"""

from __future__ import annotations

import argparse
from pathlib import Path
import sys

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from infra.config.loader import load  # noqa: E402  (after the path set-up above)
from infra.plan.stack import plan_stack  # noqa: E402
from tests.scaling import replay as r  # noqa: E402


def _fleet(stack: str, model: str) -> tuple[float, r.Fleet, r.Fleet]:
    plan = plan_stack(load(REPO, stack))
    fleet = next(f for f in plan.fleets if f.name == model)
    assert fleet.scaling is not None
    color = fleet.scaling.colors[-1]
    planned = r.Fleet.of(fleet.scaling, color, awake=r.awake_hours(color))
    always_on = r.Fleet(**{**planned.__dict__, "idle_zero": False, "awake": None})
    return fleet.scaling.request_target, planned, always_on


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stack", default="prod")
    ap.add_argument("--model", default="resnet50")
    args = ap.parse_args()
    target, fleet, _ = _fleet(args.stack, args.model)
    print(f"{args.model} on {args.stack}: replicas {fleet.min_replicas}-{fleet.max_replicas}, target {target:g} req/s "
          f"per replica, start {fleet.startup_s} s, scale-down window {fleet.behavior.scale_down_stabilization_s} s")
    head = ("trace", "peak load/target", "(cpu-only)", "min over target", "(cpu-only)", "replica-min",
            "(cpu-only)", "ratio", "scale-up polls", "ready polls")
    rows = [head]
    for name, (trace, duration, onset) in sorted(r.TRACES.items()):
        keda, cpu = r.replay(fleet, trace, duration), r.replay(fleet, trace, duration, cpu_only=True)
        up, ready = keda.reactions(onset) if name in ("step", "spike") else (None, None)
        rows.append((name, f"{keda.peak_load_over_target(target):.2f}", f"{cpu.peak_load_over_target(target):.2f}",
                     f"{keda.minutes_over(target):.0f}", f"{cpu.minutes_over(target):.0f}",
                     f"{keda.replica_minutes():.0f}", f"{cpu.replica_minutes():.0f}",
                     f"{keda.replica_minutes() / cpu.replica_minutes():.2f}x", str(up), str(ready)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    for row in rows:
        print("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))))
    _, dev, always_on = _fleet("dev", args.model)
    day = r.workday(3000)
    zero, on = r.replay(dev, day, 24 * r.HOUR), r.replay(always_on, day, 24 * r.HOUR)
    ratio = zero.replica_minutes() / on.replica_minutes()
    print(f"\ndev, a workday (load 08:00-20:00, 3000 req/s at 14:00, none at night): "
          f"{zero.replica_minutes():.0f} replica-minutes with scale to zero vs {on.replica_minutes():.0f} without "
          f"({ratio:.2f}x); requests failed at zero: {zero.dropped:.0f}; replicas given up while starting: "
          f"{zero.removed_waiting}")


if __name__ == "__main__":
    main()
