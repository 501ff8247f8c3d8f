"""The serving fleet of one model in one stack: a frozen plan the Kubernetes layer renders.

Everything a Deployment needs is decided here (names, image, flags, config files,
resources, placement, replica bounds, traffic weights), from the model file and the
stack's rollout entry. The manifests module only turns it into Kubernetes objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from infra.config.spec import COLORS, Color, ModelRollout, ModelSpec, NodePoolSpec, StackSpec, frozen_map
from infra.plan import tfserving
from infra.plan.cluster import model_bucket_name
from infra.rules import catalog, names
from infra.rules.images import Image, image, serving_image_key, sync_image
from infra.rules.quantity import with_headroom
from infra.rules.rollout import Rollout

if TYPE_CHECKING:
    from infra.plan.scaling.fleet import FleetScaling

#: Where the AWS init container puts the SavedModel version (TF Serving has no s3://).
LOCAL_MODEL_ROOT = "/models"

# Node labels the platform puts on every pool (GKE TPU pools are matched on GKE's own).
GKE_TPU_ACCELERATOR = "cloud.google.com/gke-tpu-accelerator"
GKE_TPU_TOPOLOGY = "cloud.google.com/gke-tpu-topology"
GPU_RESOURCE = "nvidia.com/gpu"
TPU_RESOURCE = "google.com/tpu"


@dataclass(frozen=True, kw_only=True)
class Placement:
    node_selector: Mapping[str, str]
    tolerations: tuple[Mapping[str, str], ...]
    accelerator_resource: str | None  # nvidia.com/gpu, google.com/tpu
    accelerator_count: int
    pools: tuple[str, ...]  # the stack's pools that match (for the summary and the policies)


@dataclass(frozen=True, kw_only=True)
class ColorPlan:
    color: Color
    version: int
    live: bool
    weight: int  # percent of traffic through the gateway
    deployment: str
    service: str
    config_map: str  # content-addressed, immutable
    config_files: Mapping[str, str]


@dataclass(frozen=True, kw_only=True)
class FleetPlan:
    model: ModelSpec
    rollout: Rollout
    namespace: str
    environment: str
    cloud: str
    bucket: str
    base_path: str  # what TF Serving's model config names
    source_uri: str  # where the versions live in object storage
    image: Image
    sync_image: Image | None  # AWS: copies the version from S3 before TF Serving starts
    service_account: str
    live_service: str
    colors: tuple[ColorPlan, ...]  # colors that have a version, blue first
    min_replicas: int
    max_replicas: int
    cpu: str
    memory: str  # request = limit, steady state plus reload headroom
    placement: Placement
    args: tuple[str, ...]
    scaling: FleetScaling | None = None  # infra.plan.scaling.fleet, once the stack's pools are planned

    @property
    def name(self) -> str:
        return self.model.name

    def color(self, color: Color) -> ColorPlan | None:
        return next((c for c in self.colors if c.color == color), None)

    def rollout_state(self) -> dict[str, Any]:
        """What the stack exports per model (tfplat diff reads it): live color, versions, weights."""
        return {"live": self.rollout.live,
                "versions": {c.color: c.version for c in self.colors},
                "weights": {c.color: c.weight for c in self.colors}}

    @property
    def live_color(self) -> ColorPlan:
        live = self.color(self.rollout.live)
        assert live is not None, "check_rollout guarantees the live color has a version"
        return live


def placement(stack: StackSpec, model: ModelSpec, pools: list[NodePoolSpec]) -> Placement:
    acc = model.serving.accelerator
    pool_names = tuple(sorted(p.name for p in pools))
    if acc.kind == "gpu":
        assert acc.type is not None
        return Placement(
            node_selector=frozen_map({names.LABEL_ACCELERATOR: acc.type}),
            tolerations=({"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"},),
            accelerator_resource=GPU_RESOURCE, accelerator_count=acc.count, pools=pool_names,
        )
    if acc.kind == "tpu":
        assert acc.type is not None and acc.topology is not None
        shape = catalog.resolve_tpu_pool(accelerator=acc.type, topology=acc.topology)
        return Placement(
            node_selector=frozen_map({GKE_TPU_ACCELERATOR: acc.type, GKE_TPU_TOPOLOGY: acc.topology}),
            tolerations=({"key": TPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"},),
            accelerator_resource=TPU_RESOURCE, accelerator_count=shape.chips_per_node, pools=pool_names,
        )
    return Placement(
        node_selector=frozen_map({names.LABEL_ACCELERATOR: "cpu"}),
        tolerations=(), accelerator_resource=None, accelerator_count=0, pools=pool_names,
    )


def _config_files(model: ModelSpec, base_path: str, version: int) -> dict[str, str]:
    files = {
        tfserving.MODEL_CONFIG_FILE: tfserving.model_config(name=model.name, base_path=base_path, version=version),
        tfserving.MONITORING_FILE: tfserving.monitoring_config(),
    }
    if model.serving.batching.enabled:
        files[tfserving.BATCHING_FILE] = tfserving.batching_config(tfserving.resolve_batching(model.serving))
    return files


def plan_fleet(stack: StackSpec, model: ModelSpec, rollout_spec: ModelRollout,
               pools: list[NodePoolSpec]) -> FleetPlan:
    """Assumes the loader's checks passed (model exists, rollout valid, pools match)."""
    rollout = Rollout.of(rollout_spec)
    bucket = model.artifact.bucket or model_bucket_name(stack)
    scheme = "gs" if stack.cloud == "gcp" else "s3"
    source_uri = f"{scheme}://{bucket}/{model.artifact.prefix}"
    # GCS is native to TF Serving; on AWS an init container copies the version locally.
    base_path = source_uri if stack.cloud == "gcp" else f"{LOCAL_MODEL_ROOT}/{model.name}"
    weights = rollout.weights()
    colors = []
    for color in COLORS:
        version = rollout.version(color)
        if version is None:
            continue
        files = _config_files(model, base_path, version)
        colors.append(ColorPlan(
            color=color, version=version, live=color == rollout.live, weight=weights.get(color, 0),
            deployment=names.fleet_name(model.name, color),
            service=names.fleet_name(model.name, color),
            config_map=f"{names.fleet_name(model.name, color)}-{names.content_hash(files)}",
            config_files=frozen_map(files),
        ))
    auto = model.serving.autoscaling
    min_r = rollout_spec.min_replicas or auto.min_replicas
    max_r = max(rollout_spec.max_replicas or auto.max_replicas, min_r)
    serving_image = image(serving_image_key(model.serving.accelerator.kind), stack.serving.images)
    assert serving_image is not None, "the loader requires an image for every deployed accelerator kind"
    res = model.serving.resources
    return FleetPlan(
        model=model, rollout=rollout, namespace=stack.serving.namespace,
        environment=stack.environment, cloud=stack.cloud, bucket=bucket,
        base_path=base_path, source_uri=source_uri, image=serving_image,
        sync_image=sync_image(stack.cloud, stack.serving.images),
        service_account=names.service_account_name(model.name),
        live_service=names.live_service_name(model.name),
        colors=tuple(colors), min_replicas=min_r, max_replicas=max_r,
        cpu=res.cpu, memory=with_headroom(res.memory, res.memory_headroom_percent),
        placement=placement(stack, model, pools),
        args=tuple(tfserving.server_args(
            batching=model.serving.batching.enabled, warmup=model.serving.model_warmup,
            grpc_max_connection_age_s=model.serving.grpc_max_connection_age_s)),
    )
