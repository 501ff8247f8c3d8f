"""Will the pods fit? Each model's requests against the nodes that can host it.

A request no node can satisfy leaves pods Pending forever, and a pool too small for the
minimum replicas of its models does the same to the last ones; both are config mistakes
that only show up after `pulumi up`. This module knows the vCPU and memory of the machine
types the catalog (infra.rules.catalog) and the stacks use, subtracts what the cloud keeps
for the node itself (the published allocatable formulas; docs/capacity.md cites them),
and compares.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from infra.config.spec import ModelSpec, NodePoolSpec, StackSpec
from infra.rules import catalog, scaling
from infra.rules.machines import (
    DAEMONSET_CPU_MILLIS,
    DAEMONSET_MEMORY,
    GIB,
    Allocatable,
    allocatable,
    machine_shape,
)
from infra.rules.placement import matching_pools
from infra.rules.quantity import cpu_millis, memory_bytes, with_headroom
from infra.rules.rollout import Rollout


@dataclass(frozen=True)
class Fit:
    """How one pod's requests compare with a node's allocatable resources."""

    fits: bool
    tight: bool
    why: str  # "" when it fits comfortably; else what does not (or only just) fit


def fit(cpu_millis: int, memory_bytes: int, node: Allocatable) -> Fit:
    over = []
    if cpu_millis > node.cpu_millis:
        over.append(f"{cpu_millis / 1000:g} CPUs > {node.cpu_millis / 1000:g} allocatable")
    if memory_bytes > node.memory_bytes:
        over.append(f"{memory_bytes / GIB:.1f} GiB memory > {node.memory_bytes / GIB:.1f} GiB allocatable")
    if over:
        return Fit(False, False, "; ".join(over))
    tight = []
    if cpu_millis > node.cpu_millis - DAEMONSET_CPU_MILLIS:
        tight.append(f"{cpu_millis / 1000:g} of {node.cpu_millis / 1000:g} allocatable CPUs")
    if memory_bytes > node.memory_bytes - DAEMONSET_MEMORY:
        tight.append(f"{memory_bytes / GIB:.1f} of {node.memory_bytes / GIB:.1f} GiB allocatable memory")
    return Fit(True, bool(tight), "; ".join(tight))


# --------------------------------------------------------------------------- a stack


@dataclass(frozen=True)
class Finding:
    """One capacity problem: `error` (pods would stay Pending) or a warning (tight)."""

    error: bool
    model: str | None  # None: about a pool and every model it hosts
    pool: str | None
    message: str
    hint: str


def _pool_machine(stack: StackSpec, pool: NodePoolSpec) -> tuple[str, int] | None:
    """(machine type, accelerators per node) of a pool, or None if the catalog refuses it
    (the loader reports that already)."""
    acc = pool.accelerator
    try:
        if acc is None:
            return (pool.machine_type, 0) if pool.machine_type else None
        if catalog.accelerator_kind(acc.type) == "gpu":
            shape = catalog.resolve_gpu_pool(cloud=stack.cloud, accelerator=acc.type, count=acc.count or 1,
                                             machine_type=pool.machine_type)
            return shape.machine_type, shape.count
        if acc.topology is None:
            return None
        topo = catalog.resolve_tpu_pool(accelerator=acc.type, topology=acc.topology, machine_type=pool.machine_type)
        return topo.machine_type, topo.chips_per_node
    except catalog.CatalogError:
        return None


def _pod_request(model: ModelSpec) -> tuple[int, int]:
    res = model.serving.resources
    return cpu_millis(res.cpu), memory_bytes(with_headroom(res.memory, res.memory_headroom_percent))


def _fits(stack: StackSpec, model: ModelSpec, pools: list[NodePoolSpec]) -> list[Finding]:
    cpu, memory = _pod_request(model)
    comfortable, tight, too_small, unknown = [], [], [], []
    for pool in pools:
        machine = _pool_machine(stack, pool)
        shape = machine_shape(machine[0], stack.cloud) if machine else None
        if machine is None or shape is None:
            unknown.append(pool.name)
            continue
        result = fit(cpu, memory, allocatable(shape, stack.cloud))
        label = f"{pool.name} ({machine[0]})"
        if not result.fits:
            too_small.append(f"{label}: {result.why}")
        elif result.tight:
            tight.append(f"{label}: {result.why}")
        else:
            comfortable.append(label)
    asks = (f"{model.file} asks {cpu / 1000:g} CPUs and {memory / GIB:.1f} GiB memory per pod "
            f"(serving.resources, memory with its {model.serving.resources.memory_headroom_percent}% headroom)")
    if comfortable or unknown:
        return []
    if tight:
        return [Finding(False, model.name, None, f"{asks}; that only just fits the nodes that can host it: "
                        f"{'; '.join(tight)}", "leave room for the DaemonSets every node runs (about 0.5 CPU and "
                        "1 GiB): lower the request or use a larger machine type")]
    return [Finding(True, model.name, None, f"{asks}, more than any node that can host it offers: "
                    f"{'; '.join(too_small)}", f"lower serving.resources in {model.file}, or give the pool a larger "
                    "machine type (machine_type, or more accelerators per node: docs/accelerator-catalog.md)")]


def check_stack_capacity(stack: StackSpec, models: Mapping[str, ModelSpec]) -> list[Finding]:
    """Every deployed model's pod against its nodes, and the minimum replicas of the
    accelerator models against the most accelerators their pools can grow to. Models with
    no matching pool are skipped (the loader reports them)."""
    findings: list[Finding] = []
    demand: dict[tuple[str, ...], list[tuple[str, int]]] = {}
    for name, rollout in sorted(stack.models.items()):
        model = models.get(name)
        if model is None:
            continue
        pools = matching_pools(stack.node_pools.values(), model.serving.accelerator)
        if not pools:
            continue
        findings += _fits(stack, model, pools)
        acc = model.serving.accelerator
        if acc.kind == "cpu" or any(p.accelerator is not None and p.accelerator.sharing is not None
                                    and p.accelerator.sharing.strategy != "none" for p in pools):
            continue  # CPU pods pack many to a node; shared GPUs are counted by slices, not GPUs
        per_pod = acc.count if acc.kind == "gpu" else 0  # a single-host TPU pod takes its whole node
        minimum = rollout.min_replicas or model.serving.autoscaling.min_replicas
        machines = [_pool_machine(stack, p) for p in pools]
        offer = None if any(m is None for m in machines) else sum(
            p.max_nodes * (m[1] if per_pod else 1) for p, m in zip(pools, machines, strict=True) if m is not None)
        # Both colors count while both run; in swap mode they share the minimum (docs/scaling.md).
        mode = scaling.version_change(rollout.version_change, min_replicas=minimum, units_per_replica=per_pod or 1,
                                      offer_units=offer)
        replicas = sum(scaling.color_floors(minimum, {str(c): w for c, w in Rollout.of(rollout).weights().items()},
                                            mode).values())
        demand.setdefault(tuple(sorted(p.name for p in pools)), []).append((name, replicas * per_pod or replicas))
    for pool_names, users in sorted(demand.items()):
        pools = [stack.node_pools[n] for n in pool_names]
        machines = [_pool_machine(stack, p) for p in pools]
        if any(m is None for m in machines):
            continue
        kind = "GPUs" if pools[0].accelerator is not None and \
            catalog.accelerator_kind(pools[0].accelerator.type) == "gpu" else "TPU nodes"
        offer = sum(p.max_nodes * (m[1] if kind == "GPUs" else 1) for p, m in zip(pools, machines, strict=True)
                    if m is not None)
        need = sum(n for _, n in users)
        if need > offer:
            who = ", ".join(f"{model} {n}" for model, n in users)
            sizes = ", ".join(f"{p.name} max_nodes {p.max_nodes}" for p in pools)
            findings.append(Finding(True, None, pool_names[0],
                                    f"the minimum replicas of its models need {need} {kind} ({who}; both colors count "
                                    "while both run: each its minimum, or with version_change swap min + 1 "
                                    f"together), but the pool{'s' if len(pools) > 1 else ''} can grow to "
                                    f"{offer} ({sizes})",
                                    f"raise max_nodes so the pools offer {need} {kind}"
                                    f"{_nodes_hint(pools[0], machines[0], need, kind) if len(pools) == 1 else ''}"
                                    " (or add a pool), or lower autoscaling.min_replicas of the models in this "
                                    "stack, or stage with version_change: swap (docs/scaling.md)"))
    return findings


def _nodes_hint(pool: NodePoolSpec, machine: tuple[str, int] | None, need: int, kind: str) -> str:
    per_node = machine[1] if machine is not None and kind == "GPUs" and machine[1] else 1
    return f" (max_nodes: {-(-need // per_node)} for {pool.name})"
