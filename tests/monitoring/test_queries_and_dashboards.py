"""Every query names catalog metrics and labels; every model has its dashboard; PromQL parses."""

from __future__ import annotations

from pathlib import Path
import re
import shutil
import subprocess
from typing import Any

import pytest
import yaml

from infra.config.loader import load
from infra.plan.manifests import monitoring as mm
from infra.plan.monitoring import metrics as m
from infra.plan.monitoring.alerts import dashboard_uid
from infra.plan.monitoring.dashboards import OVERVIEW_UID, queries
from infra.plan.monitoring.plan import MonitoringPlan
from infra.plan.stack import plan_stack
from tests.conftest import REPO, STACKS
from tests.monitoring.catalog import assert_catalog_query


def _plans() -> dict[str, MonitoringPlan]:
    out = {}
    for stack in STACKS:
        mon = plan_stack(load(REPO, stack)).monitoring
        assert mon is not None
        out[stack] = mon
    return out


PLANS = _plans()


def _all_queries(mon: MonitoringPlan) -> list[str]:
    exprs = [r["expr"] for g in mon.rule_groups.values() for r in g["rules"]]
    for board in mon.dashboards.values():
        exprs += queries(dict(board))
    return exprs


@pytest.mark.parametrize("stack", STACKS)
def test_queries_name_only_catalog_metrics_and_their_labels(stack: str) -> None:
    mon = PLANS[stack]
    exprs = _all_queries(mon)
    assert len(exprs) > 20
    for expr in exprs:
        assert_catalog_query(expr)



def test_catalog_reader_is_not_blind() -> None:
    """The checks above only mean something if the reader finds names and leftovers."""
    assert [s.metric for s in m.selectors('sum(rate(foo_total{a="1",b=~"x|y"}[5m])) / bar{}')] == ["foo_total", "bar"]
    assert m.bare_identifiers("sum by (pod) (rate(foo_total[5m]))") == {"foo_total"}
    assert m.bare_identifiers('avg(x{a="b"}) > 90 and on (pod) y{c="d"}') == set()
    assert m.by_series(":tensorflow:serving:request_latency_bucket") is m.REQUEST_LATENCY
    assert m.by_series(":tensorflow:serving:request_latency") is None  # histograms are stored in parts
    assert m.by_series("DCGM_FI_DEV_GPU_UTILIZATION") is None


def test_catalog_entries_cite_their_source() -> None:
    assert {x.name for x in m.CATALOG.values() if not x.verified} == {"duty_cycle", "memory_used", "memory_total"}
    for metric in m.CATALOG.values():
        assert metric.url.startswith("https://github.com/"), metric.name
        if metric.source == "tensorflow-serving":
            # TF Serving's exporter replaces '/' of the metric path with ':'
            assert metric.name.startswith(":tensorflow:"), metric.name
        if metric.source == "dcgm-exporter":
            assert re.fullmatch(r"DCGM_FI_DEV_[A-Z_]+", metric.name)


@pytest.mark.parametrize("stack", STACKS)
def test_every_model_has_its_dashboard_and_the_fleet_an_overview(stack: str) -> None:
    mon = PLANS[stack]
    plan = plan_stack(load(REPO, stack))
    assert set(mon.dashboards) == {dashboard_uid(f.name) for f in plan.fleets} | {OVERVIEW_UID}
    maps = {o["metadata"]["name"]: o for o in mm.dashboard_objects(mon)}
    for fleet in plan.fleets:
        cm = maps[f"{dashboard_uid(fleet.name)}-dashboard"]
        assert cm["metadata"]["labels"][mm.DASHBOARD_LABEL] == "1"
        assert cm["metadata"]["namespace"] == mon.namespace
        board = yaml.safe_load(cm["data"][f"{dashboard_uid(fleet.name)}.json"])
        assert board["uid"] == dashboard_uid(fleet.name) and len(board["uid"]) <= 40
        titles = {p["title"] for p in board["panels"]}
        assert {"Requests per second by color", "Latency p50 / p90 / p99 (successful requests)",
                "Server error ratio", "Ready replicas per color"} <= titles
        assert ("Batch size (processed, after padding)" in titles) == fleet.model.serving.batching.enabled
        kind = fleet.model.serving.accelerator.kind
        assert ("GPU utilization" in titles) == (kind == "gpu")
        assert ("GPU memory used" in titles) == (kind == "gpu")
        assert ("TPU duty cycle (unverified source)" in titles) == (kind == "tpu")
        for panel in board["panels"]:
            # no first-party source for the TPU plugin's endpoint
            if panel["type"] != "row" and panel["title"].startswith("TPU"):
                assert "UNVERIFIED" in panel["description"], panel["title"]
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids))
        latency = next(p for p in board["panels"] if p["title"].startswith("Latency"))
        steps = latency["fieldConfig"]["defaults"]["thresholds"]["steps"]
        assert steps[-1]["value"] == fleet.model.serving.latency_objective_ms
        assert {t["expr"].split("(", 2)[1] for t in latency["targets"]} == {"0.5, sum by ", "0.9, sum by ",
                                                                          "0.99, sum by "}


def test_replica_panel_shows_both_colors_of_a_blue_green_pair() -> None:
    mon = PLANS["dev"]
    board = mon.dashboards[dashboard_uid("resnet50")]
    panel = next(p for p in board["panels"] if p["title"] == "Ready replicas per color")
    exprs = " ".join(t["expr"] for t in panel["targets"])
    assert 'deployment=~"resnet50-blue|resnet50-green"' in exprs
    assert '"color", "$1", "deployment"' in exprs


def test_dashboards_are_deterministic() -> None:
    again = plan_stack(load(REPO, "dev")).monitoring
    assert again is not None
    assert [o["data"] for o in mm.dashboard_objects(again)] == [o["data"] for o in mm.dashboard_objects(PLANS["dev"])]


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
@pytest.mark.parametrize("stack", STACKS)
def test_dashboard_queries_are_valid_promql(stack: str, tmp_path: Path) -> None:
    """promtool parses each panel query (as a recording rule, with Grafana's window filled in)."""
    exprs = [q for b in PLANS[stack].dashboards.values() for q in queries(dict(b))]
    rules: list[dict[str, Any]] = [{"record": f"tfplat:panel_{i}", "expr": e.replace("$__rate_interval", "5m")}
                                   for i, e in enumerate(exprs)]
    path = tmp_path / "panels.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "panels", "rules": rules}]}, width=1000))
    proc = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
