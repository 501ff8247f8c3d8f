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
import re

from infra.config.spec import ModelSpec, NodePoolSpec, StackSpec
from infra.rules import catalog
from infra.rules.placement import matching_pools
from infra.rules.quantity import cpu_millis, memory_bytes, with_headroom

GIB = 2**30
MIB = 2**20

#: What the DaemonSets every node runs (kube-proxy, node exporter, the GPU device plugin and
#: DCGM exporter, the cloud's log and metrics agents) request together, roughly: a pod that
#: leaves less than this of a node's allocatable resources may still not fit: a warning.
DAEMONSET_CPU_MILLIS = 500
DAEMONSET_MEMORY = 1 * 2**30
#: The kubelet's default hard eviction threshold (memory.available<100Mi) on both clouds.
EVICTION_HARD = 100 * MIB
#: EKS reserves memory per pod the node may run; AL2023's nodeadm caps max pods at 110 on
#: large instances (fewer on small ones, which then reserve less).
EKS_MAX_PODS = 110


@dataclass(frozen=True)
class MachineShape:
    vcpus: int
    memory_bytes: int


# Compute Engine predefined types: <family>-<class>-<vCPUs>, memory per vCPU in GiB
# (Compute Engine's "GB" is 2^30 bytes).
_GCE_GIB_PER_VCPU = {
    ("n1", "standard"): 3.75, ("n1", "highmem"): 6.5, ("n1", "highcpu"): 0.9,
    ("n2", "standard"): 4, ("n2", "highmem"): 8, ("n2", "highcpu"): 1,
    ("n2d", "standard"): 4, ("n2d", "highmem"): 8, ("n2d", "highcpu"): 1,
    ("e2", "standard"): 4, ("e2", "highmem"): 8, ("e2", "highcpu"): 1,
    ("c2", "standard"): 4, ("c2d", "standard"): 4, ("c2d", "highmem"): 8, ("c2d", "highcpu"): 2,
    ("c3", "standard"): 4, ("c3", "highmem"): 8, ("c3", "highcpu"): 2,
    ("c4", "standard"): 3.75, ("c4", "highmem"): 7.75, ("c4", "highcpu"): 2,
    ("n4", "standard"): 4, ("n4", "highmem"): 8, ("n4", "highcpu"): 2,
    ("t2d", "standard"): 4, ("g2", "standard"): 4,
}
# Accelerator-optimized and TPU VM types: (vCPUs, memory GiB), from Compute Engine's
# machine-type tables.
_GCE_FIXED = {
    "a2-highgpu-1g": (12, 85), "a2-highgpu-2g": (24, 170), "a2-highgpu-4g": (48, 340),
    "a2-highgpu-8g": (96, 680), "a2-megagpu-16g": (96, 1360),
    "a2-ultragpu-1g": (12, 170), "a2-ultragpu-2g": (24, 340), "a2-ultragpu-4g": (48, 680),
    "a2-ultragpu-8g": (96, 1360),
    "a3-highgpu-1g": (26, 234), "a3-highgpu-2g": (52, 468), "a3-highgpu-4g": (104, 936),
    "a3-highgpu-8g": (208, 1872), "a3-megagpu-8g": (208, 1872),
    "a3-ultragpu-8g": (224, 2952), "a4-highgpu-8g": (224, 3968),
    "ct4p-hightpu-4t": (240, 407), "tpu7x-standard-4t": (224, 960),
    "ct5lp-hightpu-1t": (24, 48), "ct5lp-hightpu-4t": (112, 192), "ct5lp-hightpu-8t": (224, 384),
    "ct5p-hightpu-4t": (208, 448),
    "ct6e-standard-1t": (44, 176), "ct6e-standard-4t": (180, 720), "ct6e-standard-8t": (180, 1440),
}
# EC2: <family>.<size>; vCPUs by size, memory per vCPU (GiB) by family.
_EC2_SIZE_VCPUS = {"large": 2, "xlarge": 4, "2xlarge": 8, "4xlarge": 16, "8xlarge": 32, "12xlarge": 48,
                   "16xlarge": 64, "24xlarge": 96, "32xlarge": 128, "48xlarge": 192}
_EC2_GIB_PER_VCPU = {
    "g4dn": 4, "g5": 4, "g6": 4, "gr6": 8, "g6e": 8, "t3": 4,
    "m5": 4, "m6i": 4, "m6a": 4, "m7i": 4, "m7a": 4, "m7g": 4,
    "c5": 2, "c6i": 2, "c6a": 2, "c7i": 2, "c7g": 2,
    "r5": 8, "r6i": 8, "r6a": 8, "r7i": 8,
}
_EC2_FIXED = {"g4dn.metal": (96, 384), "p4d.24xlarge": (96, 1152), "p4de.24xlarge": (96, 1152),
              "p5.4xlarge": (16, 256), "p5.48xlarge": (192, 2048),
              "p5e.48xlarge": (192, 2048), "p5en.48xlarge": (192, 2048)}
_GCE = re.compile(r"^([a-z0-9]+)-(standard|highmem|highcpu)-([0-9]+)$")


def machine_shape(machine_type: str, cloud: str) -> MachineShape | None:
    """vCPUs and memory of a machine type; None for one tfplat does not know (unchecked)."""
    fixed = (_GCE_FIXED if cloud == "gcp" else _EC2_FIXED).get(machine_type)
    if fixed is not None:
        return MachineShape(fixed[0], fixed[1] * GIB)
    if cloud == "gcp":
        m = _GCE.match(machine_type)
        ratio = _GCE_GIB_PER_VCPU.get((m.group(1), m.group(2))) if m else None
        if m is None or ratio is None:
            return None
        vcpus = int(m.group(3))
        return MachineShape(vcpus, int(vcpus * ratio * GIB))
    family, _, size = machine_type.partition(".")
    size_vcpus = _EC2_SIZE_VCPUS.get(size)
    per = _EC2_GIB_PER_VCPU.get(family)
    if size_vcpus is None or per is None:
        return None
    return MachineShape(size_vcpus, size_vcpus * per * GIB)


def _tiers(total: float, tiers: tuple[tuple[float, float], ...]) -> float:
    """Sum of rate * the part of `total` inside each (upper bound, rate) tier."""
    reserved, lower = 0.0, 0.0
    for upper, rate in tiers:
        if total <= lower:
            break
        reserved += (min(total, upper) - lower) * rate
        lower = upper
    return reserved


# CPU kept for the node (millicores): the same tiers on GKE and EKS (nodeadm copies GKE's).
_CPU_TIERS = ((1000.0, 0.06), (2000.0, 0.01), (4000.0, 0.005), (float("inf"), 0.0025))
# GKE memory: 25% of the first 4 GiB, 20% of the next 4, 10% of the next 8, 6% of the
# next 112, 2% above 128 GiB (255 MiB on machines under 1 GiB).
_GKE_MEMORY_TIERS = ((4.0 * GIB, 0.25), (8.0 * GIB, 0.20), (16.0 * GIB, 0.10), (128.0 * GIB, 0.06),
                     (float("inf"), 0.02))


@dataclass(frozen=True)
class Allocatable:
    cpu_millis: int
    memory_bytes: int


def allocatable(shape: MachineShape, cloud: str) -> Allocatable:
    """What the kubelet offers pods on a node of `shape` (capacity - reserved - eviction)."""
    cpu = shape.vcpus * 1000
    cpu_reserved = _tiers(cpu, _CPU_TIERS)
    if cloud == "gcp":
        mem_reserved = 255 * MIB if shape.memory_bytes < GIB else _tiers(shape.memory_bytes, _GKE_MEMORY_TIERS)
    else:
        mem_reserved = (11 * EKS_MAX_PODS + 255) * MIB
    return Allocatable(cpu_millis=int(cpu - cpu_reserved),
                       memory_bytes=int(shape.memory_bytes - mem_reserved - EVICTION_HARD))


@dataclass(frozen=True)
class Fit:
    """How one pod's requests compare with a node's allocatable resources."""

    fits: bool
    tight: bool
    why: str  # "" when it fits comfortably; else what does not (or only just) fit


def for_pods(shape: MachineShape, cloud: str) -> Allocatable:
    """What pods can count on: allocatable less the DaemonSets every node runs (training
    quotas and the training worker check use this, so a quota never promises more)."""
    a = allocatable(shape, cloud)
    return Allocatable(cpu_millis=a.cpu_millis - DAEMONSET_CPU_MILLIS, memory_bytes=a.memory_bytes - DAEMONSET_MEMORY)


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
        colors = sum(1 for v in (rollout.blue, rollout.green) if v is not None)
        replicas = (rollout.min_replicas or model.serving.autoscaling.min_replicas) * colors
        per_pod = acc.count if acc.kind == "gpu" else 0  # a single-host TPU pod takes its whole node
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
                                    f"while both run), but the pool{'s' if len(pools) > 1 else ''} can grow to "
                                    f"{offer} ({sizes})",
                                    f"raise max_nodes so the pools offer {need} {kind}"
                                    f"{_nodes_hint(pools[0], machines[0], need, kind) if len(pools) == 1 else ''}"
                                    " (or add a pool), or lower replicas.min of the models in this stack"))
    return findings


def _nodes_hint(pool: NodePoolSpec, machine: tuple[str, int] | None, need: int, kind: str) -> str:
    per_node = machine[1] if machine is not None and kind == "GPUs" and machine[1] else 1
    return f" (max_nodes: {-(-need // per_node)} for {pool.name})"
