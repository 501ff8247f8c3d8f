"""The release figures from scenario results: onset to decision in analysis intervals,
promotions on bad or missing data, wall time (tests/release/test_scenarios.py and
bench/release_bench.py print the same table)."""

from __future__ import annotations

from collections.abc import Sequence

from tests.release.scenarios import INTERVAL_S, Result


def promotions_on_bad_data(results: Sequence[Result]) -> int:
    """Promotions decided on an interval that was not a pass on complete data."""
    return sum(1 for r in results for i in r.intervals() if i["action"] == "promote" and i["verdict"] != "pass")


def figures_table(results: Sequence[Result]) -> str:
    lines = ["| scenario | outcome | onset -> decision (intervals) | intervals judged | promotions | wall (s) |",
             "|---|---|---|---|---|---|"]
    for r in results:
        decided = r.first("decision:")
        to_decision = "-" if r.onset is None or decided is None else f"{(decided - r.onset) / INTERVAL_S:.2f}"
        promotions = sum(1 for i in r.intervals() if i["action"] == "promote")
        status = r.outcome.status if r.outcome else f"error: {r.error[:60]}"
        lines.append(f"| {r.scenario.name} | {status} | {to_decision} | {len(r.intervals())} | {promotions} | "
                     f"{r.wall_s:.1f} |")
    lines.append(f"\npromotions on bad or missing data: {promotions_on_bad_data(results)}")
    return "\n".join(lines) + "\n"
