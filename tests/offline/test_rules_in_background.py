"""promtool checks the plan's alert rules in the background; its verdict still fails the plan."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from infra.offline import plan as offline
from infra.offline import render, rulecheck
from infra.offline.plan import InvalidPlanError, offline_plan
from tests.conftest import REPO


def _broken_rule() -> dict[str, Any]:
    return {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
            "metadata": {"name": "tfplat-broken", "namespace": "monitoring"},
            "spec": {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "sum by (le (rate(x[5m]))"}]}]}}


def test_a_rule_promtool_rejects_fails_the_plan_naming_its_file(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    real = render.kubernetes_objects
    monkeypatch.setattr(render, "kubernetes_objects", lambda records: [*real(records), _broken_rule()])
    with pytest.raises(InvalidPlanError) as err:
        offline_plan(REPO, "dev", tmp_path)
    [problem] = [p for p in err.value.problems if "promtool" in p.message]
    assert problem.where == "manifests/monitoring/prometheusrule-tfplat-broken.yaml"
    assert problem.path == "spec.groups" and problem.message.startswith("promtool check rules: ")


def test_a_plan_failing_meanwhile_stops_promtool_and_removes_its_files(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[rulecheck.RuleCheck] = []
    real = offline.start_checks

    def spy(*args: Any, **kwargs: Any) -> Any:
        problems, rules = real(*args, **kwargs)
        started.append(rules)
        return problems, rules

    def fail(*_: Any, **__: Any) -> Any:
        raise OSError("disk full")

    monkeypatch.setattr(offline, "start_checks", spy)
    monkeypatch.setattr(render, "write_build", fail)
    with pytest.raises(OSError, match="disk full"):
        offline_plan(REPO, "dev", tmp_path)
    manifests = started[0]  # started first; the charts' checks (if any) ran to the end before the failure
    assert manifests._proc is not None and manifests._proc.poll() is not None  # not left running
    for rules in started:
        assert rules._tmp is None or not Path(rules._tmp.name).exists()
