"""The Pulumi program itself, run under Pulumi's mock engine for every shipped stack."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pulumi
import pytest

from infra.offline import engine
from infra.offline.engine import Record
from infra.offline.plan import engine_config
from infra.program import main as program
from tests.conftest import STACKS, shared_run

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SERVICE = "kubernetes:core/v1:Service"


def _by(records: list[Record], typ: str) -> dict[str, Record]:
    return {r.inputs["metadata"]["name"]: r for r in records if r.type == typ}


@pytest.fixture(scope="module", params=STACKS)
def run(request: pytest.FixtureRequest) -> tuple[Any, engine.RunResult]:
    return shared_run(request.param)


def test_namespace_enforces_restricted_pod_security(run: tuple[Any, engine.RunResult]) -> None:
    plan, result = run
    ns = _by(result.records, "kubernetes:core/v1:Namespace")[plan.stack.serving.namespace]
    assert ns.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_one_deployment_per_color_with_a_version(run: tuple[Any, engine.RunResult]) -> None:
    plan, result = run
    deployments = _by(result.records, DEPLOYMENT)
    expected = {c.deployment for f in plan.fleets for c in f.colors}
    assert set(deployments) == expected
    for fleet in plan.fleets:
        for color in fleet.colors:
            dep = deployments[color.deployment]
            pod = dep.inputs["spec"]["template"]["spec"]
            server = pod["containers"][0]
            assert server["image"] == fleet.image.ref
            assert pod["nodeSelector"] == dict(fleet.placement.node_selector)
            limits = server["resources"]["limits"]
            if fleet.placement.accelerator_resource:
                assert limits[fleet.placement.accelerator_resource] == fleet.placement.accelerator_count
            assert f"/v1/models/{fleet.name}/versions/{color.version}/metadata" == \
                server["readinessProbe"]["httpGet"]["path"]
            assert "replicas" not in dep.inputs["spec"]  # the HPA owns the count
            assert dep.parent is not None and dep.parent.endswith(f"tfplat:serving:Fleet::{fleet.name}")


def test_live_service_selects_live_color_and_waits_for_it(run: tuple[Any, engine.RunResult]) -> None:
    plan, result = run
    services = _by(result.records, SERVICE)
    deployments = _by(result.records, DEPLOYMENT)
    for fleet in plan.fleets:
        live = services[fleet.live_service]
        assert live.inputs["spec"]["selector"]["tfplat.dev/color"] == fleet.rollout.live
        assert deployments[fleet.live_color.deployment].urn in live.depends_on
        for color in fleet.colors:
            svc = services[color.service]
            assert svc.inputs["spec"]["selector"]["tfplat.dev/color"] == color.color


def test_every_color_has_pdb_and_scaled_object_within_bounds(run: tuple[Any, engine.RunResult]) -> None:
    plan, result = run
    pdbs = _by(result.records, "kubernetes:policy/v1:PodDisruptionBudget")
    scalers = _by(result.records, "kubernetes:keda.sh/v1alpha1:ScaledObject")
    assert not _by(result.records, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"), "KEDA owns the HPAs"
    release = next(r for r in result.records if r.type == "kubernetes:helm.sh/v3:Release" and r.name == "keda")
    for fleet in plan.fleets:
        assert fleet.scaling is not None
        for color in fleet.colors:
            assert pdbs[color.deployment].inputs["spec"]["maxUnavailable"] == 1
            scaler = scalers[color.deployment]
            spec: Mapping[str, Any] = scaler.inputs["spec"]
            assert spec["scaleTargetRef"]["name"] == color.deployment
            assert spec["advanced"]["horizontalPodAutoscalerConfig"]["name"] == color.deployment
            assert spec["maxReplicaCount"] == fleet.max_replicas
            assert 1 <= spec["minReplicaCount"] <= fleet.min_replicas
            assert ("idleReplicaCount" in spec) == fleet.scaling.scale_to_zero
            # Created after KEDA (its CRDs) and after the Deployment it scales.
            assert release.urn in scaler.depends_on


def test_stack_outputs_report_rollout_state(run: tuple[Any, engine.RunResult]) -> None:
    plan, result = run
    models = result.outputs["models"]
    for fleet in plan.fleets:
        assert models[fleet.name]["live"] == fleet.rollout.live
        assert models[fleet.name]["weights"] == {c.color: c.weight for c in fleet.colors}


def test_a_config_error_registers_nothing(repo_copy: Path) -> None:
    stack_path = repo_copy / "stacks" / "Pulumi.dev.yaml"
    stack_path.write_text(stack_path.read_text().replace("live: green", "live: purple"))
    values, secret = engine_config(repo_copy, "dev")
    with pytest.raises(engine.ProgramFailedError) as err:
        engine.run(program, project="tfplat", stack="dev", config=values, secret_keys=secret)
    assert isinstance(err.value.cause, pulumi.RunError)
    assert "configuration error" in str(err.value.cause)
    assert err.value.records == []
