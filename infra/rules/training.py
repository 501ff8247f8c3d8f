"""Rules of distributed training both the config checks and the planner apply: which training
pools can run a job's workers, how many workers a strategy means, and how many accelerators
a pool can hold at its maximum size (what Kueue's quota and the capacity check use).

Typed by what they read (Protocols, those of infra.rules.placement), not by infra.config.spec:
rules sit below config.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, TypeVar

from infra.rules.placement import AcceleratorNeed, matching_pools
from infra.rules.placement import Pool as PlacementPool

STRATEGIES = ("mirrored", "multi-worker-mirrored", "tpu")
TRAINING_ROLE = "training"
GPU_RESOURCE = "nvidia.com/gpu"
TPU_RESOURCE = "google.com/tpu"


class Pool(PlacementPool, Protocol):
    """A node pool (infra.config.spec.NodePoolSpec), as training reads it."""

    @property
    def name(self) -> str: ...
    @property
    def spot(self) -> bool: ...
    @property
    def max_nodes(self) -> int: ...


P = TypeVar("P", bound=Pool)


def training_pools(pools: Iterable[P], need: AcceleratorNeed, *, spot: bool) -> list[P]:
    """Training pools a job may use, in the order given: a node fits one worker (the placement
    rule, for role training), and spot pools only when the job tolerates preemption."""
    return [p for p in matching_pools(pools, need, role=TRAINING_ROLE) if spot or not p.spot]


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
