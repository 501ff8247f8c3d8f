"""Each scaling trigger against a real Prometheus (the Debian package's server) scraping
stand-in TF Serving and DCGM exporters (tests/harness): the value KEDA would read.

resnet50's blue color runs 2 pods on GPUs with 300 requests per second between them, every
request 40 ms, every batch 0.9 ms in the queue, the GPUs 60 % busy. The harness runs at 30
production seconds per wall second (its counters count production time, while Prometheus'
rate() is per wall second), so the request rate reads 30 x 300; every window is scaled the
same way (timescale.scale_expr), as the alert tests do.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator

import pytest

from infra.plan.fleet import FleetPlan
from infra.plan.scaling.fleet import Trigger
from tests.conftest import REPO
from tests.harness import timescale
from tests.harness.cluster import Behaviour
from tests.harness.harness import Harness, rig
from tests.harness.tfserving import LATENCY_US, QUEUING_US, Traffic

RPS = 300.0
LATENCY_MS = 40.0
QUEUED_US = 900.0  # what the stand-in records per batched request (tests/harness/tfserving.py)
GPU_BUSY = 60.0


def _p99_of_one_bucket(value: float, limits: list[float]) -> float:
    """Prometheus' histogram_quantile when every observation sits in one bucket: linear
    interpolation from the bucket's lower to its upper bound (TensorFlow files a value
    under the first limit above it; the exporter prints limits with six digits)."""
    limits = [float(f"{x:.6g}") for x in limits]
    i = bisect_right(limits, value)
    lo, hi = (limits[i - 1] if i else 0.0), limits[i]
    return lo + (hi - lo) * 0.99


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Harness, FleetPlan]]:
    plan, mon, cfg = rig(REPO, "dev")
    fleet = next(f for f in plan.fleets if f.name == "resnet50")
    h = Harness(tmp_path_factory.mktemp("triggers"), plan, mon, cfg)
    h.cluster.deploy("resnet50", "blue", 7, 2, Behaviour())
    h.set_traffic("resnet50", "blue", Traffic(rps=RPS, latency_ms=((LATENCY_MS, 1.0),)))
    h.set_utilization("resnet50", "blue", GPU_BUSY)
    with h:
        yield h, fleet


def _value(h: Harness, t: Trigger) -> float:
    assert t.query is not None
    result = h.query(timescale.scale_expr(t.query))
    assert len(result) == 1, f"KEDA needs exactly one series: {t.query} gave {result}"
    return float(result[0]["value"][1])


def _triggers(fleet: FleetPlan, color: str) -> dict[str, Trigger]:
    assert fleet.scaling is not None
    scaling = fleet.scaling.color(color)
    assert scaling is not None
    return {t.name: t for t in scaling.triggers if t.type == "prometheus"}


def _settle(h: Harness, fleet: FleetPlan) -> None:
    """Both pods serving and a whole scaling window of their samples."""
    requests = _triggers(fleet, "blue")["requests"]
    h.wait_until(lambda: _value(h, requests) > 0, sim_s=1800, what="requests counted")
    start = h.now()
    h.wait_until(lambda: h.now() - start > 2 * timescale.parse_ms("2m") / 1000, sim_s=900, what="a full window")


def test_each_trigger_returns_the_value_expected(live: tuple[Harness, FleetPlan]) -> None:
    h, fleet = live
    _settle(h, fleet)
    t = _triggers(fleet, "blue")
    assert set(t) == {"requests", "latency", "queue", "accelerator"}
    # KEDA's HPA divides the request trigger by the replicas (AverageValue): 150 per replica.
    assert _value(h, t["requests"]) * timescale.FACTOR == pytest.approx(RPS, rel=0.1)
    assert _value(h, t["latency"]) == pytest.approx(_p99_of_one_bucket(LATENCY_MS * 1000, LATENCY_US) / 1000,
                                                    rel=1e-6)
    assert _value(h, t["queue"]) == pytest.approx(_p99_of_one_bucket(QUEUED_US, QUEUING_US) / 1000, rel=1e-6)
    assert _value(h, t["accelerator"]) == pytest.approx(GPU_BUSY)


def test_a_color_without_pods_reads_zero_not_nothing(live: tuple[Harness, FleetPlan]) -> None:
    """green has no pod: every trigger reads 0 (an idle color asks for no replicas, and a
    trigger that errors would freeze the HPA)."""
    h, fleet = live
    _settle(h, fleet)
    for trigger in _triggers(fleet, "green").values():
        assert _value(h, trigger) == 0.0, trigger.name


def test_a_queries_window_is_short_enough_to_react(live: tuple[Harness, FleetPlan]) -> None:
    """A traffic step shows in the request trigger within 3 scrape intervals of the harness."""
    h, fleet = live
    _settle(h, fleet)
    requests = _triggers(fleet, "blue")["requests"]
    before = _value(h, requests) * timescale.FACTOR
    h.set_traffic("resnet50", "blue", Traffic(rps=3 * RPS, latency_ms=((LATENCY_MS, 1.0),)))
    took = h.wait_until(lambda: _value(h, requests) * timescale.FACTOR > 1.5 * before, sim_s=600,
                        what="the step in the request trigger")
    h.set_traffic("resnet50", "blue", Traffic(rps=RPS, latency_ms=((LATENCY_MS, 1.0),)))
    assert took <= 3 * 30 + 60  # three 30 s scrapes, plus scheduling slack on a loaded machine
