"""`tfplat release` against a real Prometheus scraping stand-in exporters (tests/harness):
every scenario of the issue, each a test, all run at once (one Prometheus each).

The figures (onset to decision in analysis intervals, promotions on bad or missing data,
wall time) are printed and written to build/harness/release-figures.md; bench/release_bench.py
prints the same table on its own.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
import math
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.harness.harness import rig
from tests.release import scenarios as s
from tests.release.figures import figures_table, promotions_on_bad_data

FIGURES = REPO / "build" / "harness" / "release-figures.md"


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, s.Result]:
    setup = rig(REPO, s.STACK)
    todo = s.scenarios()
    folders = [tmp_path_factory.mktemp("release") for _ in todo]  # not from threads: mktemp is not thread-safe
    with ThreadPoolExecutor(max_workers=5) as pool:
        done = list(pool.map(lambda job: s.run(job[0], setup, job[1]), zip(todo, folders, strict=True)))
    table = figures_table(done)
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    FIGURES.write_text(table)
    print("\n" + table)
    return {r.scenario.name: r for r in done}


def _ok(r: s.Result) -> None:
    assert not r.error, r.error
    assert r.outcome is not None and r.outcome.status == r.scenario.expect, \
        (r.outcome, "\n".join(line for _, line in r.lines))


def _weights(r: s.Result) -> list[dict[str, int]]:
    return [a["models"][s.MODEL]["weights"] for a in r.applied]


def _restored(r: s.Result) -> None:
    """Back where it started: blue v2 live with all traffic, green gone, no marker."""
    last = r.applied[-1]["models"][s.MODEL]
    assert last["live"] == "blue" and last["weights"] == {"blue": 100} and set(last["colors"]) == {"blue"}, last
    assert "release_in_progress" not in r.stack_text and "green: 3" not in r.stack_text


def test_healthy_release_promotes_through_every_step_and_switches(results: dict[str, s.Result]) -> None:
    r = results["healthy"]
    _ok(r)
    assert _weights(r) == [{"blue": 100}, {"blue": 95, "green": 5}, {"blue": 50, "green": 50}, {"green": 100}]
    stage = r.applied[0]["models"][s.MODEL]
    assert stage["colors"]["green"]["version"] == 3 and stage["live"] == "blue"
    assert [i["verdict"] for i in r.intervals()] == ["pass"] * 6  # 2 per step, 2 settling
    assert r.commits[:5] == [f"release bert-ranker v3 on dev: {x} [skip ci]" for x in
                             ("release done", "switch to green", "canary 50%", "canary 5%", "stage v3 in green")]
    assert "green: 3" in r.stack_text and "live: green" in r.stack_text and "blue: 2" in r.stack_text
    assert "release_in_progress" not in r.stack_text
    assert "## Release bert-ranker v3 on dev: released" in r.report and r.report.count("| pass |") == 6


def test_weight_never_moves_before_the_new_color_is_ready(results: dict[str, s.Result]) -> None:
    r = results["healthy"]
    ready, canary = r.first("ready: 2 of 2 replicas of green ready with v3"), r.first("step canary 5%")
    assert ready is not None and canary is not None and ready <= canary


def test_error_spike_at_5_percent_rolls_back_within_two_intervals(results: dict[str, s.Result]) -> None:
    r = results["error spike at 5%"]
    _ok(r)
    decided = r.first("decision: rollback")
    assert r.onset is not None and decided is not None
    # Counted in analyses, not in harness seconds: on a starved machine the scaled clock
    # stretches, but each analysis still reads the last interval's data, so the spike must
    # be caught by the first or second analysis that ends after its onset. (The figure in
    # seconds is bench/release_bench.py's.)
    analyses = [t for t, line in r.lines
                if line.startswith("canary 5% interval ") and r.onset <= t <= decided]
    assert 1 <= len(analyses) <= 2, (r.onset, decided, r.lines)
    failed = [c for i in r.intervals() for c in i["checks"] if c["verdict"] == "fail"]
    assert failed and all(c["gate"] == "error_ratio" for c in failed)
    assert {"blue": 50, "green": 50} not in _weights(r)
    _restored(r)


def test_latency_regression_at_50_percent_rolls_back(results: dict[str, s.Result]) -> None:
    r = results["latency regression at 50%"]
    _ok(r)
    phases = {(i["phase"], i["verdict"]) for i in r.intervals()}
    assert ("canary 5%", "pass") in phases and ("canary 50%", "fail") in phases
    assert not any(i["phase"] == "canary 5%" and i["verdict"] != "pass" for i in r.intervals())
    assert {"green": 100} not in _weights(r)
    _restored(r)


def test_business_gate_failing_alone_rolls_back(results: dict[str, s.Result]) -> None:
    r = results["business gate fails"]
    _ok(r)
    checks = [c for i in r.intervals() for c in i["checks"]]
    assert {c["gate"] for c in checks if c["verdict"] == "fail"} == {"click_through"}
    assert all(c["verdict"] == "pass" for c in checks if c["gate"] in ("error_ratio", "latency_p99"))
    _restored(r)


@pytest.mark.parametrize("name", ["no traffic at all", "only the live color's series", "zero-request windows (NaN)"])
def test_missing_data_never_promotes_and_aborts_after_the_limit(results: dict[str, s.Result], name: str) -> None:
    r = results[name]
    _ok(r)
    intervals = r.intervals()
    verdicts = [i["verdict"] for i in intervals]
    # (the NaN scenario's new color serves its first minute: one interval may pass on it)
    assert verdicts[-3:] == ["inconclusive"] * 3 and set(verdicts[:-3]) <= {"pass"}, verdicts
    assert "promote" not in {i["action"] for i in intervals} and intervals[-1]["action"] == "abort"
    assert {"blue": 50, "green": 50} not in _weights(r)
    _restored(r)


def test_a_zero_request_window_shows_as_nan_not_as_healthy(results: dict[str, s.Result]) -> None:
    r = results["zero-request windows (NaN)"]
    values = [c["new"] for i in r.intervals() for c in i["checks"] if c["gate"] == "error_ratio"]
    assert any(isinstance(v, float) and math.isnan(v) for v in values), values


@pytest.mark.parametrize("name", ["prometheus stops (abort)", "prometheus stops (pause)"])
def test_prometheus_stopping_mid_release_never_promotes(results: dict[str, s.Result], name: str) -> None:
    r = results[name]
    _ok(r)
    after = [i for i in r.intervals() if i["verdict"] == "unavailable"]
    assert after and all(i["action"] != "promote" for i in after)
    assert {"blue": 50, "green": 50} not in _weights(r)
    if "pause" in name:
        assert "longer than max_pause" in (r.outcome.reason if r.outcome else "")
        assert [i["action"] for i in after][-1] == "abort" and len(after) == 3  # 2m intervals, 4m pause
    else:
        assert len(after) == 3  # max_inconclusive
    _restored(r)


def test_no_promotion_ever_rests_on_bad_or_missing_data(results: dict[str, s.Result]) -> None:
    assert promotions_on_bad_data(list(results.values())) == 0


def test_figures_are_written(results: dict[str, s.Result]) -> None:
    assert FIGURES.is_file() and "promotions on bad or missing data: 0" in FIGURES.read_text()
    assert Path(FIGURES).read_text().count("\n|") >= len(results)
