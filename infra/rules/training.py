"""Rules of distributed training both the config checks and the planner apply: which training
pools can run a job's workers, how many workers a strategy means, and how many accelerators
a pool can hold at its maximum size (what Kueue's quota and the capacity check use).

Typed by what they read (Protocols), not by infra.config.spec: rules sit below config.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, TypeVar

STRATEGIES = ("mirrored", "multi-worker-mirrored", "tpu")
TRAINING_ROLE = "training"
GPU_RESOURCE = "nvidia.com/gpu"
TPU_RESOURCE = "google.com/tpu"


class Need(Protocol):
    """What one worker asks for (infra.config.spec.ModelAccelerator)."""

    @property
    def kind(self) -> str: ...
    @property
    def type(self) -> str | None: ...
    @property
    def count(self) -> int: ...
    @property
    def topology(self) -> str | None: ...


class PoolAccelerator(Protocol):
    @property
    def type(self) -> str: ...
    @property
    def count(self) -> int | None: ...
    @property
    def topology(self) -> str | None: ...


class Pool(Protocol):
    """A node pool (infra.config.spec.NodePoolSpec)."""

    @property
    def name(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def spot(self) -> bool: ...
    @property
    def max_nodes(self) -> int: ...
    @property
    def accelerator(self) -> PoolAccelerator | None: ...


P = TypeVar("P", bound=Pool)


def fits(pool: Pool, need: Need) -> bool:
    """A node of `pool` can hold one worker needing `need` (ignoring spot)."""
    pa = pool.accelerator
    if pool.role != TRAINING_ROLE or pa is None or pa.type != need.type:
        return False
    if need.kind == "gpu":
        return (pa.count or 1) >= need.count
    return pa.topology == need.topology


def training_pools(pools: Iterable[P], need: Need, *, spot: bool) -> list[P]:
    """Training pools a job may use, in the order given: a node fits one worker, and spot
    pools only when the job tolerates preemption."""
    return [p for p in pools if fits(p, need) and (spot or not p.spot)]


def per_node(pool: Pool, chips_per_node: int | None = None) -> int:
    """Accelerators one node of the pool carries (GPUs; TPU chips as `chips_per_node`)."""
    pa = pool.accelerator
    if pa is None:
        return 0
    if pa.topology is not None:
        return chips_per_node or 0
    return pa.count or 1


def workers(strategy: str, requested: int | None, slice_hosts: int | None = None) -> int:
    """Pods a job runs: mirrored 1; tpu one per host of the slice; else as requested (1)."""
    if strategy == "mirrored":
        return 1
    if strategy == "tpu":
        return slice_hosts or 1
    return requested or 1


def resource_of(kind: str) -> str:
    return GPU_RESOURCE if kind == "gpu" else TPU_RESOURCE
