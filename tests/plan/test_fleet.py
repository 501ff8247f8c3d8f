"""The fleet planner: names, placement, resources, storage paths, per cloud. Plain pytest."""

from __future__ import annotations

import dataclasses

import pytest

from infra.config.loader import load
from infra.plan.fleet import FleetPlan
from infra.plan.stack import StackPlan, plan_stack
from infra.rules.quantity import cpu_millis, memory_bytes, with_headroom
from tests.conftest import REPO, STACKS


def _plan(stack: str) -> StackPlan:
    return plan_stack(load(REPO, stack))


def _fleet(stack: str, model: str) -> FleetPlan:
    return next(f for f in _plan(stack).fleets if f.name == model)


@pytest.mark.parametrize("stack", STACKS)
def test_every_shipped_stack_plans(stack: str) -> None:
    plan = _plan(stack)
    assert [f.name for f in plan.fleets] == sorted(plan.stack.models)
    for fleet in plan.fleets:
        assert fleet.live_color.live
        assert sum(c.weight for c in fleet.colors) == 100


def test_names_come_from_map_keys() -> None:
    f = _fleet("dev", "resnet50")
    assert [(c.color, c.deployment, c.service) for c in f.colors] == [
        ("blue", "resnet50-blue", "resnet50-blue"), ("green", "resnet50-green", "resnet50-green")]
    assert (f.live_service, f.service_account) == ("resnet50", "resnet50-serving")
    # Adding a model renames nothing else.
    assert {x.name: x.colors for x in _plan("prod").fleets}["resnet50"][0].deployment == "resnet50-blue"


def test_gpu_placement_and_resources() -> None:
    f = _fleet("prod", "resnet50")
    assert dict(f.placement.node_selector) == {"tfplat.dev/accelerator": "nvidia-l4"}
    assert f.placement.tolerations == ({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},)
    assert (f.placement.accelerator_resource, f.placement.accelerator_count) == ("nvidia.com/gpu", 1)
    assert f.placement.pools == ("l4",)
    assert f.image.ref == "docker.io/tensorflow/serving:2.19.1-gpu"


def test_tpu_placement_uses_gke_labels_and_chips_of_the_topology() -> None:
    f = _fleet("prod", "bert-ranker")
    assert dict(f.placement.node_selector) == {"cloud.google.com/gke-tpu-accelerator": "tpu-v5-lite-podslice",
                                               "cloud.google.com/gke-tpu-topology": "2x2"}
    assert (f.placement.accelerator_resource, f.placement.accelerator_count) == ("google.com/tpu", 4)
    assert f.image.ref.startswith("us-central1-docker.pkg.dev/acme-ml-shared/serving/tfserving-tpu:")


def test_cpu_placement() -> None:
    f = _fleet("prod-aws", "mobilenet")
    assert dict(f.placement.node_selector) == {"tfplat.dev/accelerator": "cpu"}
    assert f.placement.accelerator_resource is None and f.placement.tolerations == ()


def test_memory_has_reload_headroom() -> None:
    f = _fleet("dev", "resnet50")  # 8Gi, default 50 % headroom
    assert f.memory == "12288Mi"
    assert memory_bytes(f.memory) == memory_bytes("8Gi") * 3 // 2


@pytest.mark.parametrize(("text", "percent", "expected"), [
    ("1Gi", 50, "1536Mi"), ("1G", 0, "954Mi"), ("100Mi", 33, "133Mi"), ("512Mi", 0, "512Mi")])
def test_with_headroom_rounds_up_to_whole_mib(text: str, percent: int, expected: str) -> None:
    assert with_headroom(text, percent) == expected


def test_cpu_quantities() -> None:
    assert [cpu_millis(x) for x in ("2", "0.5", "250m", "1.25")] == [2000, 500, 250, 1250]


def test_storage_paths_per_cloud() -> None:
    gcp = _fleet("prod", "mobilenet")
    assert gcp.source_uri == gcp.base_path == "gs://acme-ml-prod-prod-models/vision/mobilenet"
    assert gcp.sync_image is None
    aws = _fleet("prod-aws", "mobilenet")
    assert aws.source_uri == "s3://tfplat-prod-aws-models-111122223333/vision/mobilenet"
    assert aws.base_path == "/models/mobilenet"  # TF Serving >= 2.7 cannot read s3://
    assert aws.sync_image is not None and aws.sync_image.pinned_by_digest


def test_stack_replica_override_wins() -> None:
    f = _fleet("prod", "mobilenet")
    assert (f.min_replicas, f.max_replicas) == (3, 12)
    d = _fleet("dev", "mobilenet")
    assert (d.min_replicas, d.max_replicas) == (1, 6)


def test_config_maps_are_content_addressed() -> None:
    blue, green = _fleet("dev", "resnet50").colors
    assert blue.config_map != green.config_map
    assert blue.config_map.startswith("resnet50-blue-") and len(blue.config_map) == len("resnet50-blue-") + 8
    again = _fleet("dev", "resnet50").colors[0]
    assert again.config_map == blue.config_map  # same content, same name
    other_bucket = _fleet("prod", "resnet50").colors[0]
    assert other_bucket.config_files != blue.config_files and other_bucket.config_map != blue.config_map


def test_identity_binding_per_cloud() -> None:
    assert _plan("dev").identity_annotations() == {
        "iam.gke.io/gcp-service-account": "tfplat-dev-serving@acme-ml-dev.iam.gserviceaccount.com"}
    assert _plan("prod-aws").identity_annotations() == {}


def test_plans_are_frozen() -> None:
    f = _fleet("dev", "resnet50")
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.min_replicas = 9  # type: ignore[misc]
    with pytest.raises(TypeError):
        f.placement.node_selector["x"] = "y"  # type: ignore[index]
