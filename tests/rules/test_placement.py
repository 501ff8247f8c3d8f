"""The placement rule: which serving pools can run one pod of a model."""

from __future__ import annotations

from infra.config.spec import ModelAccelerator, NodePoolSpec, PoolAccelerator, frozen_map
from infra.rules.placement import matching_pools


def _pool(name: str, *, role: str = "serving", acc: PoolAccelerator | None = None) -> NodePoolSpec:
    return NodePoolSpec(name=name, role=role, machine_type=None, accelerator=acc,  # type: ignore[arg-type]
                        min_nodes=0, max_nodes=1, spot=False, disk_size_gb=100, zones=(), labels=frozen_map({}))


def _gpu(type_: str, count: int | None) -> PoolAccelerator:
    return PoolAccelerator(type=type_, count=count, topology=None, sharing=None)


POOLS = [
    _pool("system", role="system"),
    _pool("cpu"),
    _pool("l4x1", acc=_gpu("nvidia-l4", None)),
    _pool("l4x4", acc=_gpu("nvidia-l4", 4)),
    _pool("a100", acc=_gpu("nvidia-tesla-a100", 8)),
    _pool("v5e", acc=PoolAccelerator(type="tpu-v5-lite-podslice", count=None, topology="2x2", sharing=None)),
]


def _names(acc: ModelAccelerator) -> list[str]:
    return [p.name for p in matching_pools(POOLS, acc)]


def test_cpu_models_run_on_serving_pools_without_accelerators_only() -> None:
    # The system pool has no accelerator either, but it is not for serving.
    assert _names(ModelAccelerator(kind="cpu", type=None, count=0, topology=None)) == ["cpu"]


def test_gpu_models_need_the_type_and_enough_gpus_per_node() -> None:
    one = ModelAccelerator(kind="gpu", type="nvidia-l4", count=1, topology=None)
    two = ModelAccelerator(kind="gpu", type="nvidia-l4", count=2, topology=None)
    assert _names(one) == ["l4x1", "l4x4"]  # a pool without a count has one GPU per node
    assert _names(two) == ["l4x4"]
    assert _names(ModelAccelerator(kind="gpu", type="nvidia-h100-80gb", count=1, topology=None)) == []


def test_tpu_models_need_the_type_and_the_same_topology() -> None:
    assert _names(ModelAccelerator(kind="tpu", type="tpu-v5-lite-podslice", count=0, topology="2x2")) == ["v5e"]
    assert _names(ModelAccelerator(kind="tpu", type="tpu-v5-lite-podslice", count=0, topology="2x4")) == []
