"""The accelerator catalog's data: every GPU model with the node shapes that carry it on GKE and
EKS, and every TPU generation with its slice shapes. Each entry mirrors the cloud's own
documentation (sources per family in docs/accelerator-catalog.md); infra.rules.catalog answers
questions about it. Split from the API so that neither grows past a screenful of review.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from math import prod
from types import MappingProxyType


def _frozen(mapping: Mapping[int, tuple[str, ...]]) -> Mapping[int, tuple[str, ...]]:
    # A frozen dataclass only stops attribute rebinding; wrap the dict too so a
    # caller cannot mutate the shared catalog through gpu_types().
    return MappingProxyType(dict(sorted(mapping.items())))


@dataclass(frozen=True, kw_only=True)
class GpuType:
    """One GPU model and the node shapes that carry it on each cloud."""

    name: str
    display: str
    memory_gb: int
    # hash=False: MappingProxyType is unhashable, but equality still compares it.
    gke_machine_types: Mapping[int, tuple[str, ...]] = field(hash=False)
    eks_instance_types: Mapping[int, tuple[str, ...]] = field(hash=False)
    mig_partitions: tuple[str, ...] = ()
    time_sharing: bool = False

    def __post_init__(self) -> None:
        # Catch data-entry mistakes at import time rather than at deploy time.
        for table in (self.gke_machine_types, self.eks_instance_types):
            for count, types in table.items():
                if count < 1 or not types:
                    raise ValueError(f"{self.name}: bad shape {count} -> {types!r}")

    def node_shapes(self, cloud: str) -> Mapping[int, tuple[str, ...]]:
        """GPUs per node -> machine/instance types on ``cloud`` (may be empty)."""
        return self.gke_machine_types if cloud == "gcp" else self.eks_instance_types


def _gpu(
    name: str,
    display: str,
    memory_gb: int,
    gke: Mapping[int, tuple[str, ...]],
    eks: Mapping[int, tuple[str, ...]],
    *,
    mig: tuple[str, ...] = (),
    time_sharing: bool,
) -> GpuType:
    return GpuType(
        name=name,
        display=display,
        memory_gb=memory_gb,
        gke_machine_types=_frozen(gke),
        eks_instance_types=_frozen(eks),
        mig_partitions=mig,
        time_sharing=time_sharing,
    )


# Tuple order matters: the first entry is the default for that GPU count.
# Defaults are the smallest listed shape, so an unpinned pool never pays for
# vCPU/RAM nobody asked for; the other entries remain valid overrides.
#
# GKE time-sharing: "You can enable GPU time-sharing on all NVIDIA GPU models",
# so every GPU offered on GKE has time_sharing=True.
# MIG sizes: the GKE multi-instance GPU table (gpus-multi docs). The node
# partitioner also knows 4g.* profiles, but GKE does not document them, so
# they are deliberately absent.
# N1 shapes for a GPU attachable 1, 2 or 4 at a time (P100, P4): curated like T4's (>= 4
# vCPU), inside the tighter of the two GPUs' limits; tests re-check each GPU's own limits.
_N1_UP_TO_4_GPUS: Mapping[int, tuple[str, ...]] = {
    1: ("n1-standard-4", "n1-standard-8", "n1-standard-16", "n1-highmem-4", "n1-highmem-8", "n1-highmem-16"),
    2: ("n1-standard-8", "n1-standard-16", "n1-standard-32", "n1-highmem-8", "n1-highmem-16", "n1-highmem-32"),
    4: ("n1-standard-16", "n1-standard-32", "n1-standard-64", "n1-standard-96",
        "n1-highmem-16", "n1-highmem-32", "n1-highmem-64"),
}

GPUS: tuple[GpuType, ...] = (
    _gpu(
        "nvidia-tesla-t4", "NVIDIA T4", 16,
        # N1 + T4: 1-2 GPUs allow up to 48 vCPU / 312 GB, 4 GPUs up to
        # 96 vCPU / 624 GB. The list is curated to common shapes inside those
        # limits (tests re-check the limits from the machine names).
        {
            1: ("n1-standard-4", "n1-standard-8", "n1-standard-16", "n1-standard-32",
                "n1-highmem-4", "n1-highmem-8", "n1-highmem-16", "n1-highmem-32"),
            2: ("n1-standard-8", "n1-standard-16", "n1-standard-32",
                "n1-highmem-8", "n1-highmem-16", "n1-highmem-32"),
            4: ("n1-standard-16", "n1-standard-32", "n1-standard-64", "n1-standard-96",
                "n1-highmem-16", "n1-highmem-32", "n1-highmem-64"),
        },
        {
            1: ("g4dn.xlarge", "g4dn.2xlarge", "g4dn.4xlarge", "g4dn.8xlarge",
                "g4dn.16xlarge"),
            4: ("g4dn.12xlarge",),
            8: ("g4dn.metal",),
        },
        time_sharing=True,
    ),
    _gpu(
        "nvidia-l4", "NVIDIA L4", 24,
        # G2 has the L4 attached; g2-standard-32 still carries a single GPU.
        {
            1: ("g2-standard-4", "g2-standard-8", "g2-standard-12", "g2-standard-16",
                "g2-standard-32"),
            2: ("g2-standard-24",),
            4: ("g2-standard-48",),
            8: ("g2-standard-96",),
        },
        {
            1: ("g6.xlarge", "g6.2xlarge", "g6.4xlarge", "g6.8xlarge", "g6.16xlarge",
                "gr6.4xlarge", "gr6.8xlarge"),
            4: ("g6.12xlarge", "g6.24xlarge"),
            8: ("g6.48xlarge",),
        },
        time_sharing=True,
    ),
    _gpu(
        "nvidia-tesla-a100", "NVIDIA A100 40GB", 40,
        {
            1: ("a2-highgpu-1g",), 2: ("a2-highgpu-2g",), 4: ("a2-highgpu-4g",),
            8: ("a2-highgpu-8g",), 16: ("a2-megagpu-16g",),
        },
        {8: ("p4d.24xlarge",)},
        mig=("1g.5gb", "2g.10gb", "3g.20gb", "7g.40gb"),
        time_sharing=True,
    ),
    _gpu(
        "nvidia-a100-80gb", "NVIDIA A100 80GB", 80,
        {
            1: ("a2-ultragpu-1g",), 2: ("a2-ultragpu-2g",), 4: ("a2-ultragpu-4g",),
            8: ("a2-ultragpu-8g",),
        },
        {8: ("p4de.24xlarge",)},
        mig=("1g.10gb", "2g.20gb", "3g.40gb", "7g.80gb"),
        time_sharing=True,
    ),
    _gpu(
        "nvidia-h100-80gb", "NVIDIA H100 80GB", 80,
        # a3-highgpu-1g/2g/4g exist but Compute Engine only offers them with
        # Spot or flex-start provisioning; 8g is the on-demand shape.
        {
            1: ("a3-highgpu-1g",), 2: ("a3-highgpu-2g",), 4: ("a3-highgpu-4g",),
            8: ("a3-highgpu-8g",),
        },
        {1: ("p5.4xlarge",), 8: ("p5.48xlarge",)},
        mig=("1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "7g.80gb"),
        time_sharing=True,
    ),
    _gpu(
        "nvidia-h100-mega-80gb", "NVIDIA H100 Mega 80GB", 80,
        # A3 Mega is a GKE/GCE-specific accelerator name; AWS sells the same
        # chip as plain H100 (p5), which lives under nvidia-h100-80gb. GKE's
        # MIG page lists H100 (80GB) only, so MIG stays off here.
        {8: ("a3-megagpu-8g",)},
        {},
        time_sharing=True,
    ),
    _gpu(
        "nvidia-h200-141gb", "NVIDIA H200 141GB", 141,
        # A3 Ultra on GKE; P5e (AMD) and P5en (Intel) on EKS. No smaller shape on either
        # cloud. GKE's MIG page does not list the H200, so MIG stays off.
        {8: ("a3-ultragpu-8g",)},
        {8: ("p5e.48xlarge", "p5en.48xlarge")},
        time_sharing=True,
    ),
    _gpu(
        "nvidia-b200", "NVIDIA B200", 180,
        # A4 on GKE. AWS sells B200 as p6-b200, not in the catalog yet.
        {8: ("a4-highgpu-8g",)},
        {},
        time_sharing=True,
    ),
    _gpu(
        "nvidia-tesla-v100", "NVIDIA V100", 16,
        # N1 + V100: 1 GPU up to 12 vCPU / 78 GB, 2 up to 24 / 156, 4 up to 48 / 312,
        # 8 up to 96 / 624; curated like T4 (>= 4 vCPU), tests re-check the limits.
        {
            1: ("n1-standard-4", "n1-standard-8", "n1-highmem-4", "n1-highmem-8"),
            2: ("n1-standard-8", "n1-standard-16", "n1-highmem-8", "n1-highmem-16"),
            4: ("n1-standard-16", "n1-standard-32", "n1-highmem-16", "n1-highmem-32"),
            8: ("n1-standard-32", "n1-standard-64", "n1-standard-96",
                "n1-highmem-32", "n1-highmem-64", "n1-highmem-96"),
        },
        {},
        time_sharing=True,
    ),
    _gpu(
        "nvidia-tesla-p100", "NVIDIA P100", 16,
        # N1 + P100: 1 GPU up to 16 vCPU / 104 GB, 2 up to 32 / 208, 4 up to 96 / 624.
        _N1_UP_TO_4_GPUS, {}, time_sharing=True,
    ),
    _gpu(
        "nvidia-tesla-p4", "NVIDIA P4", 8,
        # N1 + P4: 1 GPU up to 24 vCPU / 156 GB, 2 up to 48 / 312, 4 up to 96 / 624.
        _N1_UP_TO_4_GPUS, {}, time_sharing=True,
    ),
    _gpu(
        "nvidia-l40s", "NVIDIA L40S", 48,
        # AWS-only (g6e), like the A10G: not a Compute Engine accelerator. No MIG.
        {},
        {
            1: ("g6e.xlarge", "g6e.2xlarge", "g6e.4xlarge", "g6e.8xlarge", "g6e.16xlarge"),
            4: ("g6e.12xlarge", "g6e.24xlarge"),
            8: ("g6e.48xlarge",),
        },
        time_sharing=False,
    ),
    _gpu(
        "nvidia-a10g", "NVIDIA A10G", 24,
        # AWS-only GPU (not a Compute Engine accelerator). GKE sharing flags
        # do not apply because no GKE node can carry it.
        {},
        {
            1: ("g5.xlarge", "g5.2xlarge", "g5.4xlarge", "g5.8xlarge", "g5.16xlarge"),
            4: ("g5.12xlarge", "g5.24xlarge"),
            8: ("g5.48xlarge",),
        },
        time_sharing=False,
    ),
)


@dataclass(frozen=True, kw_only=True)
class TpuTopology:
    """One TPU slice shape as a GKE node pool (one node per TPU VM)."""

    topology: str
    machine_type: str
    chips: int
    chips_per_node: int
    nodes: int

    def __post_init__(self) -> None:
        # The numbers are derived from each other; refuse inconsistent entries.
        dims = [int(d) for d in self.topology.split("x")]
        if prod(dims) != self.chips or self.nodes * self.chips_per_node != self.chips:
            raise ValueError(f"inconsistent TPU topology entry: {self!r}")

    @property
    def multi_host(self) -> bool:
        """True when the slice spans several VMs, which GKE treats atomically."""
        return self.nodes > 1


#: How GKE places a multi-host slice's VMs: the node pool's TPU topology flag (compact
#: placement) or, for Ironwood, a workload policy that carries the topology instead.
PLACEMENTS = ("topology", "workload-policy")


@dataclass(frozen=True, kw_only=True)
class TpuType:
    """A TPU generation keyed by its GKE ``gke-tpu-accelerator`` label value."""

    name: str
    version: str
    topologies: tuple[TpuTopology, ...]
    placement: str = "topology"
    # Frameworks Google supports on the generation; None: TensorFlow is supported. Otherwise
    # why not, with the source, for the error a TensorFlow workload gets.
    no_tensorflow: str | None = None


def _slices(
    machine_type: str, chips_per_node: int, *topologies: str
) -> tuple[TpuTopology, ...]:
    # Chips come from the topology product and nodes from chips / chips-per-VM,
    # so only the documented (topology, machine type) pairs are typed by hand.
    out = []
    for topo in topologies:
        chips = prod(int(d) for d in topo.split("x"))
        out.append(
            TpuTopology(
                topology=topo,
                machine_type=machine_type,
                chips=chips,
                chips_per_node=chips_per_node,
                nodes=chips // chips_per_node,
            )
        )
    return tuple(out)


# v5e and v6e share one 2D layout (256-chip pods): 1x1, 2x2 and 2x4 fit on a
# single 1-, 4- or 8-chip VM; 2x4 and larger also exist as 4-chip-VM slices.
_2D_MULTI_HOST = ("2x4", "4x4", "4x8", "8x8", "8x16", "16x16")

TPUS: tuple[TpuType, ...] = (
    TpuType(
        name="tpu-v4-podslice",
        version="v4",
        # Every v4 VM is ct4p-hightpu-4t (4 chips); 2x2x1 is the single-host slice.
        topologies=_slices(
            "ct4p-hightpu-4t", 4,
            "2x2x1", "2x2x2", "2x2x4", "2x4x4", "4x4x4", "4x4x8", "4x8x8",
            "8x8x8", "8x8x12", "8x8x16", "8x16x16",
        ),
    ),
    TpuType(
        name="tpu7x",
        version="v7x (Ironwood)",
        # tpu7x-standard-4t (4 chips/VM). Multi-host node pools take a workload policy
        # (HIGH_THROUGHPUT, with the topology) through the placement policy, not the
        # topology flag other generations use.
        topologies=_slices(
            "tpu7x-standard-4t", 4,
            "2x2x1", "2x2x2", "2x2x4", "2x4x4", "4x4x4", "4x4x8", "4x8x8",
            "8x8x8", "8x8x16", "8x16x16", "16x16x16",
        ),
        placement="workload-policy",
        no_tensorflow=("Google supports JAX and PyTorch on TPU7x; \"TensorFlow is not supported\" "
                       "(https://cloud.google.com/tpu/docs/tpu7x)"),
    ),
    TpuType(
        name="tpu-v5-lite-podslice",
        version="v5e",
        topologies=_slices("ct5lp-hightpu-1t", 1, "1x1")
        + _slices("ct5lp-hightpu-4t", 4, "2x2")
        + _slices("ct5lp-hightpu-8t", 8, "2x4")
        + _slices("ct5lp-hightpu-4t", 4, *_2D_MULTI_HOST),
    ),
    TpuType(
        name="tpu-v5p-slice",
        version="v5p",
        # Every v5p VM is ct5p-hightpu-4t. These are the shapes the v5p page
        # tables (plus 2x2x4 = v5p-32); other AxBxC shapes exist and can be added.
        topologies=_slices(
            "ct5p-hightpu-4t", 4,
            "2x2x1", "2x2x2", "2x2x4", "2x4x4", "4x4x4", "4x4x8", "4x8x8",
            "8x8x8", "8x8x16", "8x16x16", "16x16x16", "16x16x24",
        ),
    ),
    TpuType(
        name="tpu-v6e-slice",
        version="v6e",
        topologies=_slices("ct6e-standard-1t", 1, "1x1")
        + _slices("ct6e-standard-4t", 4, "2x2")
        + _slices("ct6e-standard-8t", 8, "2x4")
        + _slices("ct6e-standard-4t", 4, *_2D_MULTI_HOST),
    ),
)
