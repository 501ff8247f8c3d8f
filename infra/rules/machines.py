"""vCPUs and memory of machine types, and what a node of each offers pods.

Pure facts and formulas, below config and plan: the capacity checks (infra.config.capacity)
compare pods with them, and the training plan sizes Kueue's quotas from them. Each cloud
publishes its reservations (docs/capacity.md cites them); the machine tables come from Compute
Engine's and EC2's machine-type lists (docs/accelerator-catalog.md, "Machine shapes").
"""

from __future__ import annotations

from dataclasses import dataclass
import re

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


def for_pods(shape: MachineShape, cloud: str) -> Allocatable:
    """What pods can count on: allocatable less the DaemonSets every node runs (training
    quotas and the training worker check use this, so a quota never promises more)."""
    a = allocatable(shape, cloud)
    return Allocatable(cpu_millis=a.cpu_millis - DAEMONSET_CPU_MILLIS, memory_bytes=a.memory_bytes - DAEMONSET_MEMORY)
