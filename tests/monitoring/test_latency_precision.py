"""The precision a latency objective really gets from TF Serving's fixed histogram buckets."""

from __future__ import annotations

import json
import math

from infra.plan.monitoring import latency, queries
from infra.plan.monitoring.latency import objective_warning, precision
from tests.conftest import REPO
from tests.harness.tfserving import LATENCY_US


def test_edges_are_the_ones_tf_serving_prints() -> None:
    # The stand-in exporter builds its buckets independently, as TensorFlow does.
    assert [f"{e:.6g}" for e in LATENCY_US] == [f"{e:.6g}" for e in latency.EDGES_US]
    assert latency.EDGES_US[0] == 10 and len(latency.EDGES_US) == 33
    assert latency.EDGES_US[15] == 67466.4 and latency.EDGES_US[16] == 121440


def test_shipped_objectives_fall_inside_wide_buckets() -> None:
    p = precision(100)
    assert (round(p.lower_ms, 2), round(p.upper_ms, 2)) == (67.47, 121.44)
    assert p.far_from_edge and not p.exact
    assert "(67.47 ms, 121.4 ms]" in p.describe()
    for objective in (50, 80, 100):
        assert objective_warning("m", objective) is not None
    assert objective_warning("m", 121) is None  # 0.4% under the 121.44 ms edge


def test_every_objective_lies_between_its_edges() -> None:
    for objective in range(1, 5000, 7):
        p = precision(objective)
        assert p.lower_ms <= objective <= p.upper_ms
        assert p.upper_ms / p.lower_ms <= 1.8 * 1.0001  # six printed digits round the edges
        assert math.isclose(p.distance, min(objective - p.lower_ms, p.upper_ms - objective) / objective)


def test_schema_states_the_same_edges() -> None:
    schema = json.loads((REPO / "schemas" / "model.schema.json").read_text())
    text = schema["properties"]["serving"]["properties"]["latency_objective_ms"]["description"]
    for edge in latency.edges_ms(10, 2500):
        assert f"{edge:.4g}" in text, edge
    assert "certain above 121.4 ms, certain below 67.47 ms" in text
    assert f"{latency.FAR_FROM_EDGE:.0%}" in text


def test_alert_window_is_the_shared_one() -> None:
    assert queries.RATE_WINDOW == "5m"
