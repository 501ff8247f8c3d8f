"""fleet-min-replicas with KEDA ScaledObjects, and fleet-scaling-signals."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.conftest import shared_run
from tests.policies.factories import CONTAINER, K8S, deployment, hpa, messages, res, run_stack, scaled_object


def _fleet(name: str = "mobilenet-blue", *, gpu: bool = False) -> Any:
    container = copy.deepcopy(CONTAINER)
    if gpu:
        container["resources"]["limits"]["nvidia.com/gpu"] = 1
        container["resources"]["requests"]["nvidia.com/gpu"] = 1
    return res(K8S["Deployment"], f"serving-{name}", deployment(name, containers=[container]))


def _so(*args: Any, **kwargs: Any) -> Any:
    return res(K8S["ScaledObject"], f"so-{args[0]}", scaled_object(*args, **kwargs))


def test_the_scaled_object_floor_meets_the_tier_minimum() -> None:
    assert run_stack("fleet-min-replicas", [_fleet(), _so("mobilenet-blue", 2)]) == []


@pytest.mark.parametrize(("scaler", "floor", "source"), [
    (_so("mobilenet-blue", 1), 1, "its ScaledObject's floor (minReplicaCount; 0 with idleReplicaCount)"),
    (_so("mobilenet-blue", 3, idle=0), 0, "its ScaledObject's floor (minReplicaCount; 0 with idleReplicaCount)"),
    (_so("mobilenet-blue", None), 0, "its ScaledObject's floor (minReplicaCount; 0 with idleReplicaCount)"),
])
def test_a_scaled_object_that_can_shrink_fails(scaler: Any, floor: int, source: str) -> None:
    findings = run_stack("fleet-min-replicas", [_fleet(), scaler])
    assert messages(findings) == [f"fleet Deployment serving/mobilenet-blue can run {floor} replica(s) ({source}); "
                                  "this tier needs at least 2"]


def test_swap_mode_counts_both_colors_together() -> None:
    colors = [_fleet("mobilenet-blue"), _fleet("mobilenet-green")]
    both = [_so("mobilenet-blue", 1, mode="swap"), _so("mobilenet-green", 1, mode="swap")]
    assert run_stack("fleet-min-replicas", colors + both) == []
    assert len(run_stack("fleet-min-replicas", colors + both, {"minReplicas": 3})) == 2
    # Without swap each color stands alone.
    alone = [_so("mobilenet-blue", 1), _so("mobilenet-green", 1)]
    assert len(run_stack("fleet-min-replicas", colors + alone)) == 2


@pytest.mark.parametrize("triggers", [["cpu"], ["cpu", "cron"], ["memory", "cpu"]])
def test_a_gpu_fleet_scaling_on_cpu_alone_fails(triggers: list[str]) -> None:
    fleet = _fleet(gpu=True)
    findings = run_stack("fleet-scaling-signals", [fleet, _so("mobilenet-blue", 2, triggers=triggers)])
    assert len(findings) == 1
    assert "scales on" in messages(findings)[0] and "alone (its ScaledObject's triggers)" in messages(findings)[0]
    assert findings[0].fix.startswith("scale it on requests, latency, queue or accelerator")
    assert findings[0].resource == fleet


def test_a_gpu_fleet_with_a_cpu_only_hpa_fails() -> None:
    autoscaler = hpa("mobilenet-blue", 2)
    autoscaler["spec"]["metrics"] = [{"type": "Resource", "resource": {"name": "cpu"}}]
    findings = run_stack("fleet-scaling-signals", [_fleet(gpu=True), res(K8S["HPA"], "h", autoscaler)])
    assert messages(findings) == [
        "accelerator fleet Deployment serving/mobilenet-blue scales on cpu alone (its HorizontalPodAutoscaler's "
        "metrics): the host CPU idles while the accelerator saturates, so latency breaks before a replica is added"]


@pytest.mark.parametrize(("gpu", "triggers"), [
    (True, ["prometheus", "cpu"]),  # a serving signal beside CPU
    (True, ["prometheus", "cron"]),
    (False, ["cpu"]),  # a CPU model may scale on CPU
])
def test_serving_signals_or_cpu_models_pass(gpu: bool, triggers: list[str]) -> None:
    assert run_stack("fleet-scaling-signals", [_fleet(gpu=gpu), _so("mobilenet-blue", 2, triggers=triggers)]) == []


def test_offline_plans_scale_accelerator_fleets_on_serving_signals() -> None:
    """The shipped prod stack's ScaledObjects pass (the plan fails on a mandatory violation)."""
    _, run = shared_run("prod")
    kinds = {r.inputs["metadata"]["name"]: {t["type"] for t in r.inputs["spec"]["triggers"]}
             for r in run.records if r.type == K8S["ScaledObject"]}
    assert kinds and all("prometheus" in k for k in kinds.values()), kinds
