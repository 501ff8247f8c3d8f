"""Release benchmark: every release scenario of the tests (tests/release/scenarios.py)
against a real Prometheus, on the harness time scale (1 s of wall time = 30 s).

Prints, per scenario: the outcome, the time from the failure's onset to the rollback
decision in analysis intervals (the onset: the first bad request served, the metrics
going away, or the canary step whose data never comes), the intervals judged, the
promotions, and the wall time; then the promotions made on bad or missing data (target
0) and the whole accelerated healthy release's wall time and production-time length.

    python bench/release_bench.py [--repeat N] [--parallel N]   (runs in .venv)
"""

from __future__ import annotations

import argparse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
import statistics
import sys
import tempfile

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.harness.harness import rig  # noqa: E402  (after the path set-up above)
from tests.release import scenarios as s  # noqa: E402
from tests.release.figures import figures_table, promotions_on_bad_data  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs of every scenario")
    parser.add_argument("--parallel", type=int, default=5, help="scenarios at once (one Prometheus each)")
    args = parser.parse_args()
    setup = rig(REPO, s.STACK)
    results = []
    with tempfile.TemporaryDirectory(prefix="tfplat-release-bench-") as tmp:
        jobs = [(sc, Path(tmp) / f"{i}-{n}") for n in range(args.repeat) for i, sc in enumerate(s.scenarios())]
        for _, folder in jobs:
            folder.mkdir(parents=True)
        with ThreadPoolExecutor(max_workers=args.parallel) as pool:
            results = list(pool.map(lambda job: s.run(job[0], setup, job[1]), jobs))
    print(figures_table(results))
    bad = [r for r in results if r.error or r.outcome is None or r.outcome.status != r.scenario.expect]
    for r in bad:
        print(f"UNEXPECTED {r.scenario.name}: {r.outcome} {r.error}")
    healthy = [r for r in results if r.scenario.name == "healthy" and r.outcome is not None]
    if healthy:
        spans = []
        for r in healthy:
            start, end = r.first("release "), next((t for t, line in reversed(r.lines)
                                                     if line.startswith("release released")), None)
            if start is not None and end is not None:
                spans.append(end - start)
        print(f"healthy release: wall {statistics.median(r.wall_s for r in healthy):.1f} s for the whole run "
              f"(harness start, {len(s.scenarios())} scenarios sharing the machine), "
              f"release itself {statistics.median(spans) if spans else float('nan'):.0f} s of production time "
              f"= {statistics.median(spans) * 1 / 30 if spans else float('nan'):.1f} s of wall time at 1/30")
    decisions = [((d - r.onset) / s.INTERVAL_S) for r in results if r.onset is not None
                 and (d := r.first("decision:")) is not None]
    if decisions:
        print(f"onset -> decision: median {statistics.median(decisions):.2f}, max {max(decisions):.2f} intervals")
    print(f"promotions on bad or missing data: {promotions_on_bad_data(results)} (target 0)")
    return 1 if bad or promotions_on_bad_data(results) else 0


if __name__ == "__main__":
    sys.exit(main())
