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
from typing import Any

import pytest

from tests.conftest import REPO
from tests.harness import timescale
from tests.harness.harness import rig, scrape_gaps
from tests.harness.release import FRONTEND_JOB
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


def _scrape_gap(r: s.Result, wall: float) -> list[str]:
    """The targets the gates read (the model's pods, the frontend) that went more than 2 s
    between two successful scrapes in the window an interval printed at `wall` judged.

    The gates read [2m] windows: 4 s here (1 s scrapes). A series with fewer than two
    samples in such a window has no rate: no data. Fewer than two samples in 4 s means two
    consecutive successful scrapes more than 2 s apart somewhere across it; in a healthy
    window they are 1 s apart. The queries ran in the seconds before the line (allowed: 3).
    """
    window = s.INTERVAL_S * timescale.FACTOR
    gates = {target: samples for target, samples in r.scrapes.items()
             if target[0] == FRONTEND_JOB or target[0].endswith(f"/tfplat-{s.MODEL}")}
    return scrape_gaps(gates, longer_than_s=2.0, after=wall - window - 3.0, before=wall)


def _excused(r: s.Result, interval: dict[str, Any], wall: float) -> bool:
    """An interval the rig left without data: inconclusive, with a scrape gap of a gate's
    target in its window (`_scrape_gap`; the reason then says no data, or too few requests).
    Such an interval is the engine being right (a window without data is never judged); it
    is no verdict on the version."""
    return interval["verdict"] == "inconclusive" and bool(_scrape_gap(r, wall))


def _judged(r: s.Result) -> list[dict[str, Any]]:
    """The intervals, less the excused ones (`_excused`). Any other stays, so a test sees it."""
    return [i for i, _, wall in r.timed_intervals() if not _excused(r, i, wall)]


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
    judged = _judged(r)
    assert [(i["verdict"], i["reason"]) for i in judged] == [("pass", i["reason"]) for i in judged], judged
    assert len(judged) == 6  # 2 per step, 2 settling
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
    # An interval the rig left without data is no analysis (_excused).
    analyses = [at for i, at, wall in r.timed_intervals()
                if i["phase"] == "canary 5%" and r.onset <= at <= decided and not _excused(r, i, wall)]
    assert 1 <= len(analyses) <= 2, (r.onset, decided, r.lines)
    failed = [c for i in r.intervals() for c in i["checks"] if c["verdict"] == "fail"]
    assert failed and all(c["gate"] == "error_ratio" for c in failed)
    assert {"blue": 50, "green": 50} not in _weights(r)
    _restored(r)


def test_latency_regression_at_50_percent_rolls_back(results: dict[str, s.Result]) -> None:
    r = results["latency regression at 50%"]
    _ok(r)
    phases = {(i["phase"], i["verdict"]) for i in _judged(r)}
    assert ("canary 5%", "pass") in phases and ("canary 50%", "fail") in phases
    assert not any(i["phase"] == "canary 5%" and i["verdict"] != "pass" for i in _judged(r))
    assert {"green": 100} not in _weights(r)
    _restored(r)


def test_business_gate_failing_alone_rolls_back(results: dict[str, s.Result]) -> None:
    r = results["business gate fails"]
    _ok(r)
    checks = [c for i in _judged(r) for c in i["checks"]]
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


# --- the rig's own evidence, on made-up scrape records -----------------------------------------

POD_TARGET = (f"monitoring/tfplat-{s.MODEL}", "10.8.0.11:8501")


def _record(scrapes: dict[tuple[str, str], list[tuple[float, float]]], verdict: str = "inconclusive") -> s.Result:
    r = s.Result(s.Scenario("made up", "released"), scrapes=scrapes)
    r.lines, r.walls = [(0.0, f"canary 5% interval 2: {verdict.upper()} - requests new 240")], [100.0]
    r.events = [{"kind": "interval", "phase": "canary 5%", "verdict": verdict,
                 "reason": "click_through (limit): no data", "checks": []}]
    return r


def _every_second(start: int, end: int, skip: tuple[float, float] = (0.0, 0.0)) -> list[tuple[float, float]]:
    """A scrape at every half second mark; those inside `skip` failed (up 0)."""
    return [(t + 0.5, 0.0 if skip[0] <= t + 0.5 < skip[1] else 1.0) for t in range(start, end)]


def test_an_interval_without_a_scrape_gap_is_not_explained_away() -> None:
    r = _record({(FRONTEND_JOB, "10.4.0.20:9090"): _every_second(80, 110), POD_TARGET: _every_second(80, 110)})
    assert _scrape_gap(r, 100.0) == [] and _judged(r) == r.intervals()


@pytest.mark.parametrize("target", [(FRONTEND_JOB, "10.4.0.20:9090"), POD_TARGET])
def test_failed_scrapes_of_a_gate_target_in_the_window_explain_an_inconclusive_interval(
        target: tuple[str, str]) -> None:
    scrapes = {(FRONTEND_JOB, "10.4.0.20:9090"): _every_second(80, 110), POD_TARGET: _every_second(80, 110)}
    scrapes[target] = _every_second(80, 110, skip=(96.0, 99.0))  # up 0: timed out
    r = _record(scrapes)
    assert _scrape_gap(r, 100.0) == [f"{target[0]} {target[1]}: 4.0 s without a scrape"] and _judged(r) == []


def test_a_gap_elsewhere_explains_nothing() -> None:
    frontend = (FRONTEND_JOB, "10.4.0.20:9090")
    early = _record({frontend: _every_second(80, 110, skip=(85.0, 90.0))})  # before the window
    other_job = _record({frontend: _every_second(80, 110), ("kube-state-metrics", "10.4.0.9:8080"): [(90.0, 1.0)]})
    short = _record({frontend: [(t, 1.0) for t in (93.0, 95.0, 97.0, 99.0)]})  # 2 s apart: still a rate
    passed = _record({frontend: _every_second(80, 110, skip=(96.0, 99.0))}, verdict="pass")
    assert [_scrape_gap(r, 100.0) for r in (early, other_job, short)] == [[], [], []]
    assert [len(_judged(r)) for r in (early, other_job, short, passed)] == [1, 1, 1, 1]
