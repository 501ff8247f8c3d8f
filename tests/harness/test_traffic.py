"""The stand-in exporters count requests as they arrive, whenever they are scraped.

Driven on a clock the test sets (no Prometheus, no threads), so each case is exact and
deterministic. The first cases are the release scenario "zero-request windows (NaN)" that
failed under load: the new color's 60 s of traffic fell between two scrapes, and a stand-in
that credited "rate at the scrape x time since the last one" never created its counter.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
import re

import pytest

from tests.conftest import REPO
from tests.harness.cluster import Behaviour, Clock, Cluster, Model
from tests.harness.harness import Harness, rig
from tests.harness.release import Follower, Quality
from tests.harness.tfserving import TFServingPages
from tests.harness.traffic import STEP_S, Schedule, Traffic, pieces

INSTANT = Behaviour(start_delay_s=0, load_s=0)  # serving from the moment it is deployed
_SAMPLE = re.compile(r'^(\S+)\{([^}]*)\} (\S+)$')


class SetClock(Clock):
    def __init__(self) -> None:
        super().__init__(1.0)
        self.t = 0.0

    def now(self) -> float:
        return self.t


def samples(page: str | None, name: str) -> dict[str, float]:
    """{labels text: value} of one sample name on a page."""
    assert page is not None
    found = (_SAMPLE.match(line) for line in page.splitlines())
    return {m.group(2): float(m.group(3)) for m in found if m is not None and m.group(1) == name}


def requests(page: str | None) -> float:
    return sum(samples(page, ":tensorflow:serving:request_count").values())


def rig_of(clock: SetClock) -> tuple[Cluster, Schedule, TFServingPages]:
    cluster, schedule = Cluster(clock), Schedule()
    cluster.add_model(Model(name="m", namespace="ns", accelerator="cpu", load_timeout_s=600, base_path="/m",
                            has_fetch=False))
    return cluster, schedule, TFServingPages(cluster, schedule, lambda _m: True)


def scrape_at(clock: SetClock, pages: TFServingPages, cluster: Cluster, times: list[float]) -> list[str]:
    """The pages of every pod of m/green after scrapes at `times` (the last scrape's)."""
    out: list[str] = []
    for t in times:
        clock.t = t
        out = [page for p in cluster.models["m"].deployments["green"].pods
               if (page := pages.render(p)) is not None]
    return out


def test_a_burst_between_two_scrapes_is_counted() -> None:
    clock = SetClock()
    cluster, schedule, pages = rig_of(clock)
    cluster.deploy("m", "green", 3, 2, INSTANT, at=0.0)
    first = scrape_at(clock, pages, cluster, [10.0])
    assert [requests(p) for p in first] == [0, 0]  # no request yet: no request_count series
    clock.t = 30.0
    schedule.set("m", "green", 30.0, Traffic(rps=2.0, server_error_ratio=0.25))
    clock.t = 90.0
    schedule.set("m", "green", 90.0, Traffic())
    last = scrape_at(clock, pages, cluster, [100.0])  # no scrape landed in [30, 90)
    assert [requests(p) for p in last] == [60, 60]
    statuses = samples(last[0], ":tensorflow:serving:request_count")
    assert statuses == {'model_name="m",status="INTERNAL"': 15, 'model_name="m",status="OK"': 45}
    latency = samples(last[0], ":tensorflow:serving:request_latency_count")
    assert list(latency.values()) == [45]  # successful requests only, same integration
    batches = samples(last[0], ":tensorflow:serving:batching_session:input_batch_size_count")
    assert list(batches.values()) == [60]


def test_a_rate_that_starts_just_before_a_scrape_is_not_credited_to_the_whole_span() -> None:
    clock = SetClock()
    cluster, schedule, pages = rig_of(clock)
    cluster.deploy("m", "green", 3, 1, INSTANT, at=0.0)
    scrape_at(clock, pages, cluster, [0.0])
    clock.t = 29.0
    schedule.set("m", "green", 29.0, Traffic(rps=10.0))
    assert [requests(p) for p in scrape_at(clock, pages, cluster, [30.0])] == [10]


@pytest.mark.parametrize("times", [
    [200.0], [45.5, 200.0], [31.0, 61.0, 91.0, 121.0, 151.0, 181.0, 200.0], [89.99, 90.01, 133.3, 200.0]])
def test_the_count_does_not_depend_on_when_scrapes_land(times: list[float]) -> None:
    clock = SetClock()
    cluster, schedule, pages = rig_of(clock)
    cluster.deploy("m", "green", 3, 2, INSTANT, at=0.0)
    # A second pod starts serving at 100 s: the traffic is split two ways from then on.
    cluster.models["m"].deployments["green"].pods[1].behaviour = Behaviour(start_delay_s=40, load_s=60)
    for t, rps in ((12.3, 4.0), (47.9, 0.0), (88.8, 6.0)):
        schedule.set("m", "green", t, Traffic(rps=rps, latency_ms=((8.0, 0.5), (300.0, 0.5))))
    pages_now = scrape_at(clock, pages, cluster, [0.0, *times])
    # 4 rps over [12.3, 47.9), 6 rps over [88.8, 200): one pod alone until 100, two after
    # (the page prints whole requests).
    assert [requests(p) for p in pages_now] == pytest.approx([4 * 35.6 + 6 * 11.2 + 3 * 100, 3 * 100], abs=1)
    latency = [sum(samples(p, ":tensorflow:serving:request_latency_sum").values()) for p in pages_now]
    assert latency == pytest.approx([(4 * 35.6 + 6 * 11.2 + 3 * 100) * 154_000, 300 * 154_000], abs=1e3)


def _covers(cut: list[float], changes: list[float]) -> Iterator[tuple[float, float]]:
    for a, b in pairwise(cut):
        yield from pieces(a, b, changes)


def test_pieces_cover_the_span_read_only_the_past_and_ignore_where_it_is_cut() -> None:
    changes = [3.25, 7.5, 7.5, 40.0]
    whole = list(pieces(0.0, 50.0, changes))
    assert sum(s for _, s in whole) == pytest.approx(50.0)
    start = 0.0
    for at, seconds in whole:
        assert at <= start and seconds > 0
        start += seconds
    # after a change the grid starts at the change (a script's "60 s after" is exact)
    assert {at for at, _ in whole} >= {3.25, 4.25, 7.5, 8.5, 40.0, 41.0}
    assert {at for at, _ in whole} <= {float(i) for i in range(4)} | {3.25 + i * STEP_S for i in range(5)} \
        | {7.5 + i * STEP_S for i in range(33)} | {40.0 + i * STEP_S for i in range(10)}

    def weighted(parts: list[tuple[float, float]]) -> dict[float, float]:
        out: dict[float, float] = {}
        for at, seconds in parts:
            out[at] = out.get(at, 0.0) + seconds
        return out

    cut = list(_covers([0.0, 0.3, 3.3, 7.49, 7.5, 8.0, 19.99, 50.0], changes))
    assert weighted(cut) == pytest.approx(weighted(whole))


# --- the release follower: scripted weights over time ------------------------------------------

def test_the_new_colors_first_minute_is_counted_though_no_scrape_lands_in_it(tmp_path: Path) -> None:
    """The NaN scenario's route (green serves its first 60 s at its weight, then nothing),
    with scrapes only before and after that minute."""
    h = Harness(tmp_path, *rig(REPO, "dev"))  # never entered: no Prometheus, pages rendered here
    try:
        clock = SetClock()
        h.clock = h.cluster.clock = clock
        bad = Quality(server_error_ratio=0.5, bad=True)
        follower = Follower(h, tmp_path, "bert-ranker", total_rps=40.0,
                            script=lambda v, w, s: bad if v == 3 and s >= 30 else Quality(),
                            route=lambda c, w, s: w if c != "green" or s < 60 else 0)
        follower.deploy("blue", 2, live=True, at=-600.0)
        follower.h.schedule.script = follower
        clock.t = 0.0
        colors = {"blue": {"version": 2}, "green": {"version": 3}}
        follower._apply({"models": {"bert-ranker": {"colors": colors, "live": "blue", "weights": {"blue": 100}}}})
        clock.t = 100.0
        follower._apply({"models": {"bert-ranker": {"colors": colors, "live": "blue",
                                                    "weights": {"blue": 95, "green": 5}}}})
        green = h.cluster.models["bert-ranker"].deployments["green"].pods
        before = [h.pages.render(p) for p in green]  # loaded by 100 s (POD: 10 s start, 30 s load)
        assert [requests(p) for p in before] == [0, 0]
        clock.t = 190.0
        after = [h.pages.render(p) for p in green]
        assert sum(requests(p) for p in after) == pytest.approx(40 * 0.05 * 60)
        errors = sum(samples(p, ":tensorflow:serving:request_count").get(
            'model_name="bert-ranker",status="INTERNAL"', 0) for p in after)
        assert errors == pytest.approx(40 * 0.05 * 30 * 0.5, abs=2)
        assert follower.onset == 130.0  # the first bad request, not the scrape that saw it
    finally:
        h.targets.httpd.server_close()  # bound, never served
