"""fleet-pdb, fleet-min-replicas."""

from __future__ import annotations

from typing import Any

import pytest

from policies.tfplat_policies.fleets import Budgets, selects
from policies.tfplat_policies.model import UNKNOWN
from tests.policies.factories import FLEET_LABELS, K8S, deployment, hpa, messages, pdb, res, run_stack

SELECTOR = {"matchLabels": {"app.kubernetes.io/name": "tensorflow-serving", "tfplat.dev/color": "blue",
                            "tfplat.dev/model": "mobilenet"}}


def _fleet() -> Any:
    return res(K8S["Deployment"], "serving-mobilenet-blue", deployment())


def test_a_fleet_with_its_budget_passes() -> None:
    budget = res(K8S["PDB"], "serving-mobilenet-blue", pdb("mobilenet-blue", SELECTOR))
    assert run_stack("fleet-pdb", [_fleet(), budget]) == []


@pytest.mark.parametrize(("budget", "why"), [
    (None, "no budget at all"),
    (pdb("mobilenet-green", {"matchLabels": {**SELECTOR["matchLabels"], "tfplat.dev/color": "green"}}), "other color"),
    (pdb("mobilenet-blue", SELECTOR, namespace="other"), "other namespace"),
])
def test_a_fleet_without_a_budget_selecting_it_fails(budget: dict[str, Any] | None, why: str) -> None:
    fleet = _fleet()
    resources = [fleet] + ([res(K8S["PDB"], "pdb", budget)] if budget else [])
    findings = run_stack("fleet-pdb", resources)
    assert messages(findings) == ["fleet Deployment serving/mobilenet-blue has no PodDisruptionBudget selecting its "
                                  "pods, so a node drain can take every replica down at once"], why
    assert findings[0].resource == fleet


def test_other_deployments_are_not_fleets() -> None:
    assert run_stack("fleet-pdb", [res(K8S["Deployment"], "x", deployment(fleet=False))]) == []


@pytest.mark.parametrize(("selector", "selected"), [
    ({}, True),  # policy/v1: an empty selector selects every pod of the namespace
    ({"matchLabels": {"tfplat.dev/model": "mobilenet"}}, True),
    ({"matchLabels": {"tfplat.dev/model": "resnet50"}}, False),
    ({"matchExpressions": [{"key": "tfplat.dev/color", "operator": "In", "values": ["blue", "green"]}]}, True),
    ({"matchExpressions": [{"key": "tfplat.dev/color", "operator": "NotIn", "values": ["blue"]}]}, False),
    ({"matchExpressions": [{"key": "tfplat.dev/model", "operator": "Exists"}]}, True),
    ({"matchExpressions": [{"key": "tfplat.dev/model", "operator": "DoesNotExist"}]}, False),
    (None, False),
])
def test_label_selectors(selector: dict[str, Any] | None, selected: bool) -> None:
    assert selects(selector, FLEET_LABELS) is selected


BUDGET_SELECTORS: list[Any] = [
    {}, None, "not a selector", {"matchLabels": None}, {"matchLabels": {"tfplat.dev/model": 3}},
    {"matchLabels": {"tfplat.dev/model": "mobilenet"}}, {"matchLabels": {"tfplat.dev/model": "resnet50"}},
    {"matchLabels": {"tfplat.dev/color": "blue", "tfplat.dev/model": "resnet50"}},
    {"matchLabels": {"tfplat.dev/model": "mobilenet"},
     "matchExpressions": [{"key": "tfplat.dev/color", "operator": "NotIn", "values": ["blue"]}]},
    {"matchExpressions": [{"key": "tfplat.dev/color", "operator": "In", "values": ["blue", "green"]}]},
    {"matchExpressions": [{"key": "tfplat.dev/model", "operator": "DoesNotExist"}]},
]


@pytest.mark.parametrize("pods", [FLEET_LABELS, {"tfplat.dev/model": "resnet50", "tfplat.dev/color": "blue"}, {}])
def test_indexed_budgets_select_what_a_scan_of_every_selector_selects(pods: dict[str, Any]) -> None:
    """Budgets (the per-namespace index fleet-pdb looks fleets up in) against the plain scan."""
    for n in range(len(BUDGET_SELECTORS) + 1):
        for chosen in (BUDGET_SELECTORS[:n], BUDGET_SELECTORS[n:], BUDGET_SELECTORS[n::2]):
            budgets = Budgets()
            for selector in chosen:
                budgets.add(selector)
            assert budgets.select(pods) is any(selects(s, pods) for s in chosen), chosen
    unknown = Budgets()
    unknown.add(UNKNOWN)
    assert unknown.select(pods)  # computed at deploy time: not reported


def test_the_hpa_floor_meets_the_tier_minimum() -> None:
    fleet = _fleet()
    assert run_stack("fleet-min-replicas", [fleet, res(K8S["HPA"], "h", hpa("mobilenet-blue", 2))]) == []
    assert run_stack("fleet-min-replicas", [fleet, res(K8S["HPA"], "h", hpa("mobilenet-blue", 1))],
                     {"minReplicas": 1}) == []


@pytest.mark.parametrize(("autoscaler", "expected"), [
    (hpa("mobilenet-blue", 1), "can run 1 replica(s) (its HorizontalPodAutoscaler's minReplicas)"),
    (hpa("mobilenet-blue", None), "can run 1 replica(s) (its HorizontalPodAutoscaler's minReplicas)"),
    (hpa("mobilenet-green", 3), "can run 1 replica(s) (spec.replicas (no HPA))"),  # targets another Deployment
    (None, "can run 1 replica(s) (spec.replicas (no HPA))"),
])
def test_a_fleet_that_can_shrink_to_one_replica_fails(autoscaler: dict[str, Any] | None, expected: str) -> None:
    fleet = _fleet()
    resources = [fleet] + ([res(K8S["HPA"], "h", autoscaler)] if autoscaler else [])
    findings = run_stack("fleet-min-replicas", resources)
    assert messages(findings) == [f"fleet Deployment serving/mobilenet-blue {expected}; this tier needs at least 2"]
    assert findings[0].fix.startswith(
        "set tfplat:models.mobilenet.autoscaling.min_replicas to 2 or more in the stack file")


def test_the_minimum_comes_from_the_settings() -> None:
    fleet = _fleet()
    findings = run_stack("fleet-min-replicas", [fleet, res(K8S["HPA"], "h", hpa("mobilenet-blue", 2))],
                         {"minReplicas": 3})
    assert messages(findings) == ["fleet Deployment serving/mobilenet-blue can run 2 replica(s) (its "
                                  "HorizontalPodAutoscaler's minReplicas); this tier needs at least 3"]
