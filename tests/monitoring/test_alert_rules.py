"""Alert rules: promtool unit tests (fire / must not fire) and the offline plan's rule checker."""

from __future__ import annotations

from pathlib import Path
import shutil
import subprocess
from typing import Any

import pytest
import yaml

from infra.config.loader import load
from infra.offline import rulecheck
from infra.plan.monitoring import alerts as a
from infra.plan.monitoring.latency import precision
from infra.plan.monitoring.scope import FleetScope
from infra.plan.stack import plan_stack
from tests.conftest import REPO, STACKS
from tests.monitoring.promtool_cases import cases, humanize, render, unit_test_file

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (apt-get install prometheus)")


def _fleets() -> list[tuple[str, Any]]:
    out = []
    for stack in STACKS:
        plan = plan_stack(load(REPO, stack))
        out += [(f"{stack}/{f.name}", (plan, f)) for f in plan.fleets]
    return out


FLEETS = _fleets()


def _promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=120)


@needs_promtool
@pytest.mark.parametrize(("plan", "fleet"), [f[1] for f in FLEETS], ids=[f[0] for f in FLEETS])
def test_every_alert_fires_and_stays_quiet_as_specified(plan: Any, fleet: Any, tmp_path: Path) -> None:
    mon = plan.monitoring
    assert mon is not None
    group = dict(mon.rule_groups[fleet.name])
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": [group]}, sort_keys=True, width=1000))
    case_list = cases(FleetScope.of(fleet), fleet.model.alerts)
    tested = {c.alert for c in case_list}
    generated = {r["alert"] for r in group["rules"]}
    assert tested == generated, "every generated alert needs unit tests (and only those)"
    for alert in generated:
        assert any(c.fires for c in case_list if c.alert == alert) or alert == a.ALERT_LATENCY
        assert any(not c.fires for c in case_list if c.alert == alert), f"{alert}: no must-not-fire case"
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(unit_test_file("rules.yaml", group, case_list), sort_keys=False,
                                                         width=1000))
    proc = _promtool("test", "rules", "tests.yaml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@needs_promtool
def test_the_unit_tests_detect_a_wrong_threshold(tmp_path: Path) -> None:
    """Guard against tests that cannot fail: loosen one rule and promtool must complain."""
    plan, fleet = next(f[1] for f in FLEETS if f[1][1].name == "resnet50")
    mon = plan.monitoring
    assert mon is not None
    group = dict(mon.rule_groups[fleet.name])
    case_list = cases(FleetScope.of(fleet), fleet.model.alerts)
    broken = {**group, "rules": [dict(r, expr=r["expr"].replace(" > 0.005", " > 0.5"))
                                 if r["alert"] == a.ALERT_ERRORS else r for r in group["rules"]]}
    assert broken != group
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": [broken]}, width=1000))
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(unit_test_file("rules.yaml", group, case_list), width=1000))
    proc = _promtool("test", "rules", "tests.yaml", cwd=tmp_path)
    assert proc.returncode != 0
    assert a.ALERT_ERRORS in proc.stdout + proc.stderr


def test_latency_alert_uses_the_models_objective_and_config() -> None:
    for _, (plan, fleet) in FLEETS:
        mon = plan.monitoring
        assert mon is not None
        rules = {r["alert"]: r for r in mon.rule_groups[fleet.name]["rules"]}
        latency = rules[a.ALERT_LATENCY]
        assert latency["expr"].endswith(f"> {fleet.model.serving.latency_objective_ms}")
        assert latency["for"] == fleet.model.alerts.latency.for_
        assert latency["labels"]["severity"] == fleet.model.alerts.latency.severity
        assert latency["labels"]["team"] == fleet.model.owner
        assert latency["annotations"]["runbook_url"] == a.RUNBOOK_LATENCY
        assert (REPO / a.RUNBOOK_LATENCY).is_file()
        errors = rules[a.ALERT_ERRORS]
        assert errors["expr"].endswith(f"> {fleet.model.alerts.error_ratio_threshold:g}")
        assert errors["for"] == fleet.model.alerts.errors.for_
        no_ready = rules[a.ALERT_NO_READY]
        assert f'label_kubernetes_io_service_name="{fleet.live_service}"' in no_ready["expr"]
        assert "kube_endpoint_address" not in no_ready["expr"]  # not collected by kube-state-metrics 2.18
        assert "color" not in no_ready["labels"]
        bounds = precision(fleet.model.serving.latency_objective_ms)
        assert f"{bounds.upper_ms:.4g} ms" in latency["annotations"]["precision"]


def test_a_switch_or_a_stage_changes_no_rule_and_no_dashboard() -> None:
    """Rollout steps change serving objects only (tests/offline/test_diff.py relies on it)."""
    import dataclasses

    from infra.rules.rollout import Rollout, switch

    loaded = load(REPO, "dev")
    rollout = loaded.stack.models["resnet50"]
    assert rollout.blue is not None and rollout.green is not None
    switched = switch(Rollout.of(rollout))
    assert switched.live != rollout.live
    models = dict(loaded.stack.models)
    models["resnet50"] = dataclasses.replace(rollout, live=switched.live)
    mobilenet = loaded.stack.models["mobilenet"]
    assert mobilenet.green is None and mobilenet.blue is not None
    models["mobilenet"] = dataclasses.replace(mobilenet, green=mobilenet.blue + 1)  # a stage
    other = dataclasses.replace(loaded, stack=dataclasses.replace(loaded.stack, models=models))
    before, after = plan_stack(loaded).monitoring, plan_stack(other).monitoring
    assert before is not None and after is not None
    assert plan_stack(loaded).fleets != plan_stack(other).fleets
    assert before.rule_groups == after.rule_groups
    assert before.dashboards == after.dashboards


def test_accelerator_alerts_follow_the_accelerator_and_gpu_metrics_source() -> None:
    for name, (plan, fleet) in FLEETS:
        mon = plan.monitoring
        assert mon is not None
        alerts = {r["alert"] for r in mon.rule_groups[fleet.name]["rules"]}
        kind = fleet.model.serving.accelerator.kind
        assert (a.ALERT_GPU_SATURATED in alerts) == (kind == "gpu" and mon.gpu_metrics_in_cluster), name
        assert (a.ALERT_TPU_SATURATED in alerts) == (kind == "tpu"), name


def test_template_helpers_match_prometheus() -> None:
    # Values taken from Prometheus' template tests (humanize) and checked by promtool above.
    assert humanize(0.1) == "100m"
    assert humanize(1234567.0) == "1.235M"
    assert humanize(199.0) == "199"
    assert render("{{ $value | humanizePercentage }} of {{ $labels.color }}", {"color": "blue"}, 0.04) == "4% of blue"


# --- check_rule_objects (called by the offline plan) ----------------------------------------

def _rule_object(expr: str) -> dict[str, Any]:
    return {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
            "metadata": {"name": "tfplat-x", "namespace": "monitoring"},
            "spec": {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": expr, "for": "5m"}]}]}}


@needs_promtool
def test_rule_checker_accepts_the_generated_rules() -> None:
    plan, _ = FLEETS[0][1]
    from infra.plan.manifests.monitoring import monitoring_objects

    mon = plan.monitoring
    assert mon is not None
    objects = monitoring_objects(mon)
    assert any(o["kind"] == "PrometheusRule" for o in objects)
    assert rulecheck.check_rule_objects(objects) == []


@needs_promtool
def test_rule_checker_reports_broken_promql_with_its_file() -> None:
    problems = rulecheck.check_rule_objects([_rule_object("sum by (le (rate(x[5m]))"), _rule_object("up == 0"),
                                             {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}])
    assert len(problems) == 1
    assert problems[0].where == "manifests/monitoring/prometheusrule-tfplat-x.yaml"
    assert problems[0].path == "spec.groups"
    assert "promtool check rules" in problems[0].message


def test_rule_checker_without_promtool_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.which", lambda _: None)
    assert rulecheck.check_rule_objects([]) == []  # nothing to check needs no promtool
    with pytest.raises(rulecheck.PromtoolMissingError, match="apt-get install prometheus"):
        rulecheck.check_rule_objects([_rule_object("up == 0")])
