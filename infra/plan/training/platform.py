"""What a stack provides for training, decided up front: Kueue and JobSet from their pinned
charts, a ResourceFlavor per training pool, one ClusterQueue whose quotas are the pools'
maximum sizes, a LocalQueue per team namespace, a checkpoint bucket, and a training identity
per trained model that may write only under that model's prefixes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
import hashlib

from infra.config.spec import ModelSpec, StackSpec, frozen_map
from infra.plan.charts import Chart, chart
from infra.plan.cloud import CloudPlan, PoolPlan, Taint
from infra.plan.cluster import bucket_name, model_bucket_name, name_prefix
from infra.rules import catalog, machines, names
from infra.rules import training as rules

KUEUE = "kueue"
JOBSET = "jobset"
KUEUE_NAMESPACE = "kueue-system"
JOBSET_NAMESPACE = "jobset-system"
CLUSTER_QUEUE = "tfplat-training"
LOCAL_QUEUE = "training"
#: Namespaces whose jobs Kueue manages (and suspends when they name no queue).
NAMESPACE_LABEL = "tfplat.dev/training"
NAMESPACE_LABEL_VALUE = "enabled"
CHECKPOINT_PURPOSE = "checkpoints"
GSA_MAX = 30  # Google service account ids: 6-30 characters


@dataclass(frozen=True, kw_only=True)
class Grant:
    """Objects under gs:// or s3:// `bucket`/`prefix`/ (prefix "" = the whole bucket)."""

    bucket: str
    prefix: str

    def uri(self, scheme: str) -> str:
        return f"{scheme}://{self.bucket}/{self.prefix}".rstrip("/")


@dataclass(frozen=True, kw_only=True)
class IdentityPlan:
    """The cloud identity of one model's training jobs (separate from the serving one)."""

    model: str
    namespace: str  # the owner team's training namespace
    service_account: str  # the KSA its jobs run as
    cloud_name: str  # GCP service account id / IAM role name
    reads: tuple[Grant, ...]  # the recipe's data prefixes
    writes: tuple[Grant, ...]  # checkpoints, then the model's versions


@dataclass(frozen=True, kw_only=True)
class FlavorPlan:
    """A Kueue ResourceFlavor: one training pool, and what Kueue may admit onto it."""

    name: str  # = the pool's name
    node_labels: Mapping[str, str]
    taints: tuple[Taint, ...]
    resource: str  # nvidia.com/gpu or google.com/tpu
    quota: Mapping[str, str]  # resource -> nominal quota (cpu, memory, accelerator)
    spot: bool


@dataclass(frozen=True, kw_only=True)
class CheckpointBucketPlan:
    name: str
    location: str
    kms_key: str | None
    retention_days: int  # objects older than this are deleted


@dataclass(frozen=True, kw_only=True)
class TrainingPlan:
    cloud: str
    kueue: Chart
    jobset: Chart
    cluster_queue: str
    local_queue: str
    namespaces: Mapping[str, str]  # team -> namespace
    flavors: tuple[FlavorPlan, ...]  # in pool-name order
    identities: Mapping[str, IdentityPlan]  # by model
    checkpoint_bucket: CheckpointBucketPlan
    pods_ready_timeout_s: int
    environment: str
    system_tolerations: tuple[Taint, ...]  # controllers run on the system pools

    @property
    def resources(self) -> tuple[str, ...]:
        """Resources the ClusterQueue covers: CPU, memory and each accelerator kind present."""
        return ("cpu", "memory", *sorted({f.resource for f in self.flavors}))


def checkpoint_bucket_name(stack: StackSpec) -> str:
    return bucket_name(stack, CHECKPOINT_PURPOSE)


def identity_name(stack: StackSpec, model: str) -> str:
    """GCP service account id (6-30 chars) / IAM role name of `model`'s training jobs."""
    if stack.cloud == "aws":
        return f"{name_prefix(stack)}-train-{model}"[:64]
    name = f"tr-{stack.name}-{model}"
    if len(name) <= GSA_MAX:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:6]
    return f"{name[:GSA_MAX - 7].rstrip('-')}-{digest}"


def service_account_name(model: str) -> str:
    return f"{model}-training"


def split_uri(uri: str) -> Grant:
    """gs://bucket/some/prefix/ -> Grant(bucket, "some/prefix")."""
    rest = uri.split("://", 1)[1]
    bucket, _, prefix = rest.partition("/")
    return Grant(bucket=bucket, prefix=prefix.strip("/"))


def _quota(cloud: str, pool: PoolPlan, resource: str, per_node: int, nodes: int) -> dict[str, str]:
    shape = machines.machine_shape(pool.machine_type, cloud)
    assert shape is not None, f"every accelerator machine type has a shape ({pool.machine_type})"
    node = machines.for_pods(shape, cloud)
    return {"cpu": f"{node.cpu_millis * nodes}m", "memory": f"{node.memory_bytes // machines.MIB * nodes}Mi",
            resource: str(per_node * nodes)}


def _flavors(stack: StackSpec, cloud: CloudPlan) -> tuple[FlavorPlan, ...]:
    """One flavor per training pool (a multi-host TPU pool's slices share it)."""
    by_pool: dict[str, list[PoolPlan]] = {}
    for p in cloud.pools.values():
        if p.role == rules.TRAINING_ROLE:
            by_pool.setdefault(p.pool, []).append(p)
    out = []
    for name in sorted(by_pool):
        slices = by_pool[name]
        first = slices[0]
        nodes = sum(s.max_nodes for s in slices)
        if first.kind == "tpu":
            assert first.accelerator is not None and first.tpu_topology is not None
            shape = catalog.resolve_tpu_pool(accelerator=first.accelerator, topology=first.tpu_topology,
                                             machine_type=first.machine_type)
            per_node, resource = shape.chips_per_node, rules.TPU_RESOURCE
        else:
            per_node, resource = first.gpus_per_node, rules.GPU_RESOURCE
        out.append(FlavorPlan(
            name=name, node_labels=frozen_map({names.LABEL_POOL: name}), taints=first.taints, resource=resource,
            quota=frozen_map(_quota(stack.cloud, first, resource, per_node, nodes)), spot=first.spot))
    return tuple(out)


def _identity(stack: StackSpec, model: ModelSpec, checkpoint_bucket: str) -> IdentityPlan:
    t = model.training
    assert t is not None, "the loader requires a training section for every trained model"
    model_bucket = model.artifact.bucket or model_bucket_name(stack)
    return IdentityPlan(
        model=model.name, namespace=stack.training.teams[model.owner], service_account=service_account_name(model.name),
        cloud_name=identity_name(stack, model.name), reads=tuple(split_uri(d) for d in t.data),
        writes=(Grant(bucket=checkpoint_bucket, prefix=model.name),
                Grant(bucket=model_bucket, prefix=model.artifact.prefix)))


def plan_training(stack: StackSpec, models: Mapping[str, ModelSpec], cloud: CloudPlan,
                  system_taints: Sequence[Taint] = ()) -> TrainingPlan | None:
    """None when the stack does not train. Assumes the loader's training checks passed."""
    tr = stack.training
    if not tr.enabled:
        return None
    ckpt = checkpoint_bucket_name(stack)
    kms = stack.gcp.kms_key if stack.gcp is not None else stack.aws.kms_key_arn if stack.aws is not None else None
    return TrainingPlan(
        cloud=stack.cloud, kueue=chart(KUEUE), jobset=chart(JOBSET), cluster_queue=CLUSTER_QUEUE,
        local_queue=LOCAL_QUEUE, namespaces=frozen_map(dict(tr.teams)), flavors=_flavors(stack, cloud),
        identities=frozen_map({m: _identity(stack, models[m], ckpt) for m in tr.models}),
        checkpoint_bucket=CheckpointBucketPlan(name=ckpt, location=stack.region, kms_key=kms,
                                               retention_days=tr.checkpoint_retention_days),
        pods_ready_timeout_s=tr.pods_ready_timeout_s, environment=stack.environment,
        system_tolerations=tuple(system_taints))
