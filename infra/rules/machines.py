"""vCPUs and memory of the accelerator machine types, and what a node of each leaves to pods.

Training quotas come from it: Kueue's ClusterQueue gets, per training pool, the pool's
maximum size times what one node can give to pods (its allocatable, less the DaemonSets every
node runs), so Kueue never admits a job the pools cannot hold.

Sources (docs/accelerator-catalog.md, "Machine shapes"):
- Compute Engine: `gcloud compute machine-types list` (vCPUs, memory in GB of 2^30 bytes),
  as transcribed in the machine type table of cloud.google.com/compute/docs; N1 shapes follow
  from their names (standard 3.75 GB, highmem 6.5 GB, highcpu 0.9 GB per vCPU).
- EC2: DescribeInstanceTypes (vCPUs, MiB, ENIs on network card 0, IPv4 addresses per ENI);
  tests/rules/test_machines.py re-reads the snapshot moto bundles and compares.
- Reservations: GKE's node-allocatable formula (cloud.google.com/kubernetes-engine/docs/
  concepts/plan-node-sizes) and the EKS AMI's (awslabs/amazon-eks-ami nodeadm kubelet config).
"""

from __future__ import annotations

from dataclasses import dataclass
import re

MIB_PER_GIB = 1024
EVICTION_HARD_MIB = 100  # memory.available<100Mi on both clouds
# Headroom per node for the DaemonSets every node runs (the cloud's log and metadata agents,
# the NVIDIA/TPU device plugins, node exporter, DCGM exporter). A platform estimate, not a
# documented figure: quotas stay below what pods can really get rather than above it.
DAEMONSET_CPU_MILLI = 500
DAEMONSET_MEMORY_MIB = 1024


@dataclass(frozen=True, kw_only=True)
class MachineShape:
    name: str
    vcpus: int
    memory_mib: int
    max_pods: int | None = None  # EKS: from the ENI limits; GKE: not used here


# Compute Engine: name -> (vCPUs, memory GB).
_GCE: dict[str, tuple[int, float]] = {
    **{f"g2-standard-{n}": (n, 4.0 * n) for n in (4, 8, 12, 16, 24, 32, 48, 96)},
    "a2-highgpu-1g": (12, 85), "a2-highgpu-2g": (24, 170), "a2-highgpu-4g": (48, 340), "a2-highgpu-8g": (96, 680),
    "a2-megagpu-16g": (96, 1360),
    "a2-ultragpu-1g": (12, 170), "a2-ultragpu-2g": (24, 340), "a2-ultragpu-4g": (48, 680),
    "a2-ultragpu-8g": (96, 1360),
    "a3-highgpu-1g": (26, 234), "a3-highgpu-2g": (52, 468), "a3-highgpu-4g": (104, 936), "a3-highgpu-8g": (208, 1872),
    "a3-megagpu-8g": (208, 1872), "a3-ultragpu-8g": (224, 2952), "a4-highgpu-8g": (224, 3968),
    "ct4p-hightpu-4t": (240, 407),
    "ct5lp-hightpu-1t": (24, 48), "ct5lp-hightpu-4t": (112, 192), "ct5lp-hightpu-8t": (224, 384),
    "ct5p-hightpu-4t": (208, 448),
    "ct6e-standard-1t": (44, 176), "ct6e-standard-4t": (180, 720), "ct6e-standard-8t": (360, 1440),
    "tpu7x-standard-4t": (224, 960),
}
_N1 = re.compile(r"^n1-(standard|highmem|highcpu)-(\d+)$")
_N1_GB_PER_VCPU = {"standard": 3.75, "highmem": 6.5, "highcpu": 0.9}

# EC2: name -> (vCPUs, memory MiB, ENIs on network card 0, IPv4 addresses per ENI).
_EC2: dict[str, tuple[int, int, int, int]] = {
    "g4dn.xlarge": (4, 16384, 3, 10), "g4dn.2xlarge": (8, 32768, 3, 10), "g4dn.4xlarge": (16, 65536, 3, 10),
    "g4dn.8xlarge": (32, 131072, 4, 15), "g4dn.16xlarge": (64, 262144, 4, 15), "g4dn.12xlarge": (48, 196608, 8, 30),
    "g4dn.metal": (96, 393216, 15, 50),
    "g5.xlarge": (4, 16384, 4, 15), "g5.2xlarge": (8, 32768, 4, 15), "g5.4xlarge": (16, 65536, 8, 30),
    "g5.8xlarge": (32, 131072, 8, 30), "g5.16xlarge": (64, 262144, 8, 30), "g5.12xlarge": (48, 196608, 15, 50),
    "g5.24xlarge": (96, 393216, 15, 50), "g5.48xlarge": (192, 786432, 7, 50),
    "g6.xlarge": (4, 16384, 4, 15), "g6.2xlarge": (8, 32768, 4, 15), "g6.4xlarge": (16, 65536, 8, 30),
    "g6.8xlarge": (32, 131072, 8, 30), "g6.16xlarge": (64, 262144, 15, 50), "gr6.4xlarge": (16, 131072, 8, 30),
    "gr6.8xlarge": (32, 262144, 8, 30), "g6.12xlarge": (48, 196608, 8, 30), "g6.24xlarge": (96, 393216, 15, 50),
    "g6.48xlarge": (192, 786432, 15, 50),
    "g6e.xlarge": (4, 32768, 4, 15), "g6e.2xlarge": (8, 65536, 4, 15), "g6e.4xlarge": (16, 131072, 8, 30),
    "g6e.8xlarge": (32, 262144, 8, 30), "g6e.16xlarge": (64, 524288, 15, 50), "g6e.12xlarge": (48, 393216, 10, 30),
    "g6e.24xlarge": (96, 786432, 10, 50), "g6e.48xlarge": (192, 1572864, 10, 50),
    "p4d.24xlarge": (96, 1179648, 15, 50), "p4de.24xlarge": (96, 1179648, 15, 50),
    "p5.4xlarge": (16, 262144, 4, 30), "p5.48xlarge": (192, 2097152, 2, 50),
    "p5e.48xlarge": (192, 2097152, 2, 50), "p5en.48xlarge": (192, 2097152, 4, 50),
}


def eni_max_pods(enis: int, ips_per_eni: int) -> int:
    """The EKS AMI's max pods without prefix delegation: the first IP of each ENI is the
    node's own, and two host-network pods (kube-proxy, aws-node) need none."""
    return enis * (ips_per_eni - 1) + 2


def machine_shape(cloud: str, machine_type: str) -> MachineShape | None:
    """The shape of `machine_type` on `cloud` (gcp, aws); None for a type not listed here."""
    if cloud == "gcp":
        m = _N1.match(machine_type)
        if m:
            vcpus = int(m.group(2))
            return MachineShape(name=machine_type, vcpus=vcpus,
                                memory_mib=round(vcpus * _N1_GB_PER_VCPU[m.group(1)] * MIB_PER_GIB))
        if machine_type in _GCE:
            vcpus, gb = _GCE[machine_type]
            return MachineShape(name=machine_type, vcpus=vcpus, memory_mib=round(gb * MIB_PER_GIB))
        return None
    if machine_type in _EC2:
        vcpus, mib, enis, ips = _EC2[machine_type]
        return MachineShape(name=machine_type, vcpus=vcpus, memory_mib=mib, max_pods=eni_max_pods(enis, ips))
    return None


def _cpu_reserved_milli(vcpus: int) -> int:
    """6 % of the first core, 1 % of the second, 0.5 % of cores 3-4, 0.25 % above 4 (both clouds)."""
    milli = 60 * min(vcpus, 1) + 10 * min(max(vcpus - 1, 0), 1) + 5 * min(max(vcpus - 2, 0), 2)
    return milli + (max(vcpus - 4, 0) * 25 + 9) // 10


def _gke_memory_reserved_mib(memory_mib: int) -> int:
    """GKE: 255 MiB below 1 GiB; else 25 % of the first 4 GiB, 20 % of the next 4, 10 % of the
    next 8, 6 % of the next 112 and 2 % of the rest."""
    if memory_mib < MIB_PER_GIB:
        return 255
    bands = ((4, 0.25), (4, 0.20), (8, 0.10), (112, 0.06))
    left, reserved = float(memory_mib), 0.0
    for size_gib, share in bands:
        part = min(left, size_gib * MIB_PER_GIB)
        reserved += part * share
        left -= part
    return int(reserved + left * 0.02 + 0.5)


def allocatable(cloud: str, shape: MachineShape) -> tuple[int, int]:
    """(CPU millicores, memory MiB) a node of `shape` offers pods, DaemonSet headroom taken off."""
    cpu = shape.vcpus * 1000 - _cpu_reserved_milli(shape.vcpus)
    # EKS: the AMI's kube-reserved memory is 11 MiB per pod the node may run, plus 255 MiB.
    eks = 11 * (shape.max_pods or 110) + 255
    reserved = _gke_memory_reserved_mib(shape.memory_mib) if cloud == "gcp" else eks
    memory = shape.memory_mib - reserved - EVICTION_HARD_MIB
    return cpu - DAEMONSET_CPU_MILLI, memory - DAEMONSET_MEMORY_MIB
