"""The scaling triggers: valid PromQL on catalog metrics, the same expressions as the alerts,
dashboards and release analysis, and ScaledObjects that KEDA's own CRD (from the pinned chart,
rendered with real helm) accepts."""

from __future__ import annotations

import copy
from pathlib import Path
import shutil
import subprocess
from typing import Any

import pytest
import yaml

from infra.config.loader import load
from infra.engines import helm
from infra.engines.chartstore import ChartStore
from infra.engines.crds import CrdCatalog
from infra.plan.charts import KEDA, chart
from infra.plan.manifests.scaling import scaled_object
from infra.plan.monitoring import metrics as m
from infra.plan.monitoring import queries as q
from infra.plan.monitoring.scope import FleetScope
from infra.plan.stack import StackPlan, plan_stack
from tests.conftest import REPO, STACKS
from tests.monitoring.catalog import assert_catalog_query

PLANS: dict[str, StackPlan] = {s: plan_stack(load(REPO, s)) for s in STACKS}


def _objects(stack: str) -> list[dict[str, Any]]:
    plan = PLANS[stack]
    return [scaled_object(f, c, plan.prometheus_url) for f in plan.fleets for c in f.colors]


def _queries(stack: str) -> list[str]:
    return [t["metadata"]["query"] for o in _objects(stack) for t in o["spec"]["triggers"] if t["type"] == "prometheus"]


@pytest.mark.parametrize("stack", STACKS)
def test_trigger_queries_name_only_catalog_metrics_and_their_labels(stack: str) -> None:
    exprs = _queries(stack)
    assert len(exprs) >= 6
    for expr in exprs:
        assert_catalog_query(expr)


@pytest.mark.parametrize("stack", STACKS)
def test_trigger_queries_are_valid_promql(stack: str, tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool comes with the Debian package prometheus (make setup)"
    rules = [{"record": f"tfplat:trigger_{i}", "expr": e} for i, e in enumerate(_queries(stack))]
    path = tmp_path / "triggers.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "triggers", "rules": rules}]}, width=1000))
    proc = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_triggers_read_the_alerts_and_release_expressions() -> None:
    """One source: the latency trigger is the release gate's p99, the accelerator trigger the
    saturation alert's mean restricted to one color, the request trigger the dashboard's rate."""
    plan = PLANS["dev"]
    fleet = next(f for f in plan.fleets if f.name == "resnet50")
    scope = FleetScope.of(fleet)
    assert fleet.scaling is not None
    by_name = {t.name: t.query for t in fleet.scaling.colors[0].triggers}
    color = fleet.scaling.colors[0].color
    window = q.SCALING_WINDOW
    assert by_name["latency"] == q.scaling_value(q.release_latency_p99(scope, color, window))
    assert by_name["requests"] == q.scaling_value(q.color_request_rate(scope, color, window))
    assert by_name["accelerator"] == q.scaling_value(q.accelerator_busy(scope, m.GPU_UTIL, color))
    alerts = {r["alert"]: r["expr"] for r in plan.monitoring.rule_groups["resnet50"]["rules"]} \
        if plan.monitoring else {}
    assert m.GPU_UTIL.name in alerts["TFServingGPUSaturated"]
    assert by_name["queue"] == q.scaling_value(q.queue_p99_ms(scope, color, window))


@pytest.fixture(scope="module")
def keda_crds() -> CrdCatalog:
    """KEDA's CRDs as its pinned chart renders them (they are templates, not crds/ files)."""
    plan = PLANS["dev"]
    assert plan.keda is not None
    pin = chart(KEDA)
    objects = helm.render(helm.ReleaseInput(name=plan.keda.release, namespace=plan.keda.namespace, chart=pin,
                                            values=plan.keda.values, kube_version=plan.stack.cluster.version),
                          ChartStore.from_env().archive(pin))
    crds = [o for o in objects if o["kind"] == "CustomResourceDefinition"]
    assert {c["spec"]["names"]["kind"] for c in crds} >= {"ScaledObject", "ScaledJob", "TriggerAuthentication"}
    catalog = CrdCatalog()
    catalog.add_objects(crds, f"{pin.chart} {pin.version}")
    return catalog


@pytest.mark.parametrize("stack", STACKS)
def test_scaled_objects_validate_against_kedas_crd(stack: str, keda_crds: CrdCatalog) -> None:
    objects = _objects(stack)
    assert objects
    problems = keda_crds.validate({f"{o['metadata']['name']}.yaml": o for o in objects})
    assert problems == [], problems


@pytest.mark.parametrize(("change", "why"), [
    (lambda s: s.update(minReplicaCount=9, maxReplicaCount=2), "minReplicaCount must be less than or equal"),
    (lambda s: s["triggers"][0].pop("type"), "type"),
    (lambda s: s.update(pollingInterval="30s"), "pollingInterval"),
    (lambda s: s.pop("scaleTargetRef"), "scaleTargetRef"),
])
def test_kedas_crd_refuses_a_broken_scaled_object(change: Any, why: str, keda_crds: CrdCatalog) -> None:
    obj = copy.deepcopy(_objects("dev")[0])
    change(obj["spec"])
    problems = keda_crds.validate({"so.yaml": obj})
    assert problems, why
    assert any(why in str(p) for p in problems), problems
