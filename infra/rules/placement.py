"""The placement rule: which node pools can run one serving pod of a model.

The config checks use it (a model no pool can run is a config error) and so does the
planner (the pods' node selector and the pools in the summary). Typed by what it reads
(Protocols), not by infra.config.spec: rules sit below config.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, TypeVar


class AcceleratorNeed(Protocol):
    """What one pod asks for (infra.config.spec.ModelAccelerator)."""

    @property
    def kind(self) -> str: ...  # cpu, gpu, tpu
    @property
    def type(self) -> str | None: ...
    @property
    def count(self) -> int: ...
    @property
    def topology(self) -> str | None: ...


class PoolAccelerator(Protocol):
    """What each node of a pool carries (infra.config.spec.PoolAccelerator)."""

    @property
    def type(self) -> str: ...
    @property
    def count(self) -> int | None: ...
    @property
    def topology(self) -> str | None: ...


class Pool(Protocol):
    """A node pool (infra.config.spec.NodePoolSpec)."""

    @property
    def role(self) -> str: ...  # system, serving
    @property
    def accelerator(self) -> PoolAccelerator | None: ...


P = TypeVar("P", bound=Pool)


def matching_pools(pools: Iterable[P], acc: AcceleratorNeed, *, role: str = "serving") -> list[P]:
    """Pools of `role` (serving, or training for a job's workers) that can run one pod needing
    `acc`, in the order given."""
    out = []
    for pool in pools:
        if pool.role != role:
            continue
        pa = pool.accelerator
        if acc.kind == "cpu":
            ok = pa is None
        elif acc.kind == "gpu":
            ok = pa is not None and pa.type == acc.type and (pa.count or 1) >= acc.count
        else:
            ok = pa is not None and pa.type == acc.type and pa.topology == acc.topology
        if ok:
            out.append(pool)
    return out
