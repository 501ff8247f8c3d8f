"""Tests for infra.rules.catalog.

Two kinds of checks: (1) the API resolves/rejects requests as specified, and
(2) the catalog data matches facts transcribed here *independently* from the
cloud docs (GPU counts per machine type, N1+T4 limits, TPU slice tables, MIG
tables), so a typo in the catalog cannot be "confirmed" by the catalog itself.
"""

from __future__ import annotations

from collections.abc import Callable
import dataclasses
from pathlib import Path
import re
import sys

import pytest

from infra.config.schema import load_schema

try:
    from infra.rules import catalog
except ModuleNotFoundError:  # pytest started outside the repo root
    # No packaging/conftest wiring exists (and this suite must not add one),
    # so make `infra` importable from any working directory.
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from infra.rules import catalog

ACCELERATOR_KINDS = catalog.ACCELERATOR_KINDS
CatalogError = catalog.CatalogError
GpuPoolShape = catalog.GpuPoolShape
TpuTopology = catalog.TpuTopology
accelerator_kind = catalog.accelerator_kind
check_gpu_sharing = catalog.check_gpu_sharing
check_tensorflow = catalog.check_tensorflow
check_tpu_autoscaling = catalog.check_tpu_autoscaling
gpu_types = catalog.gpu_types
resolve_gpu_pool = catalog.resolve_gpu_pool
resolve_tpu_pool = catalog.resolve_tpu_pool
tpu_types = catalog.tpu_types

GPUS = gpu_types()
TPUS = tpu_types()

# ---------------------------------------------------------------- fact tables

# Compute Engine: machine type -> (GKE accelerator, GPUs attached).
# Source: https://cloud.google.com/compute/docs/gpus and
# https://cloud.google.com/compute/docs/accelerator-optimized-machines
GCE_GPU_MACHINES: dict[str, tuple[str, int]] = {
    "g2-standard-4": ("nvidia-l4", 1),
    "g2-standard-8": ("nvidia-l4", 1),
    "g2-standard-12": ("nvidia-l4", 1),
    "g2-standard-16": ("nvidia-l4", 1),
    "g2-standard-24": ("nvidia-l4", 2),
    "g2-standard-32": ("nvidia-l4", 1),
    "g2-standard-48": ("nvidia-l4", 4),
    "g2-standard-96": ("nvidia-l4", 8),
    "a2-highgpu-1g": ("nvidia-tesla-a100", 1),
    "a2-highgpu-2g": ("nvidia-tesla-a100", 2),
    "a2-highgpu-4g": ("nvidia-tesla-a100", 4),
    "a2-highgpu-8g": ("nvidia-tesla-a100", 8),
    "a2-megagpu-16g": ("nvidia-tesla-a100", 16),
    "a2-ultragpu-1g": ("nvidia-a100-80gb", 1),
    "a2-ultragpu-2g": ("nvidia-a100-80gb", 2),
    "a2-ultragpu-4g": ("nvidia-a100-80gb", 4),
    "a2-ultragpu-8g": ("nvidia-a100-80gb", 8),
    "a3-highgpu-1g": ("nvidia-h100-80gb", 1),
    "a3-highgpu-2g": ("nvidia-h100-80gb", 2),
    "a3-highgpu-4g": ("nvidia-h100-80gb", 4),
    "a3-highgpu-8g": ("nvidia-h100-80gb", 8),
    "a3-megagpu-8g": ("nvidia-h100-mega-80gb", 8),
    # A3 Ultra and A4: https://cloud.google.com/compute/docs/accelerator-optimized-machines
    "a3-ultragpu-8g": ("nvidia-h200-141gb", 8),
    "a4-highgpu-8g": ("nvidia-b200", 8),
}

# EC2: instance type -> (catalog GPU, GPUs). Source:
# https://docs.aws.amazon.com/ec2/latest/instancetypes/ac.html, cross-checked
# against EC2 DescribeInstanceTypes GpuInfo.
EC2_GPU_INSTANCES: dict[str, tuple[str, int]] = {
    **{
        f"g4dn.{s}": ("nvidia-tesla-t4", 1)
        for s in ("xlarge", "2xlarge", "4xlarge", "8xlarge", "16xlarge")
    },
    "g4dn.12xlarge": ("nvidia-tesla-t4", 4),
    "g4dn.metal": ("nvidia-tesla-t4", 8),
    **{
        f"g5.{s}": ("nvidia-a10g", 1)
        for s in ("xlarge", "2xlarge", "4xlarge", "8xlarge", "16xlarge")
    },
    "g5.12xlarge": ("nvidia-a10g", 4),
    "g5.24xlarge": ("nvidia-a10g", 4),
    "g5.48xlarge": ("nvidia-a10g", 8),
    **{
        f"g6.{s}": ("nvidia-l4", 1)
        for s in ("xlarge", "2xlarge", "4xlarge", "8xlarge", "16xlarge")
    },
    "gr6.4xlarge": ("nvidia-l4", 1),
    "gr6.8xlarge": ("nvidia-l4", 1),
    "g6.12xlarge": ("nvidia-l4", 4),
    "g6.24xlarge": ("nvidia-l4", 4),
    "g6.48xlarge": ("nvidia-l4", 8),
    "p4d.24xlarge": ("nvidia-tesla-a100", 8),
    "p4de.24xlarge": ("nvidia-a100-80gb", 8),
    "p5.4xlarge": ("nvidia-h100-80gb", 1),
    "p5.48xlarge": ("nvidia-h100-80gb", 8),
    **{
        f"g6e.{s}": ("nvidia-l40s", 1)
        for s in ("xlarge", "2xlarge", "4xlarge", "8xlarge", "16xlarge")
    },
    "g6e.12xlarge": ("nvidia-l40s", 4),
    "g6e.24xlarge": ("nvidia-l40s", 4),
    "g6e.48xlarge": ("nvidia-l40s", 8),
    "p5e.48xlarge": ("nvidia-h200-141gb", 8),
    "p5en.48xlarge": ("nvidia-h200-141gb", 8),
}

# GKE multi-instance GPU table: GPU -> documented gpu_partition_size values.
# Source: https://cloud.google.com/kubernetes-engine/docs/how-to/gpus-multi
GKE_MIG: dict[str, tuple[str, ...]] = {
    "nvidia-tesla-a100": ("1g.5gb", "2g.10gb", "3g.20gb", "7g.40gb"),
    "nvidia-a100-80gb": ("1g.10gb", "2g.20gb", "3g.40gb", "7g.80gb"),
    "nvidia-h100-80gb": ("1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "7g.80gb"),
}

# TPU slice tables: (topology, machine type, chips, VMs).
# Sources: https://cloud.google.com/tpu/docs/v5e, /tpu/docs/v5p, /tpu/docs/v6e,
# https://cloud.google.com/kubernetes-engine/docs/concepts/plan-tpus
_2D = [
    ("4x4", 16, 4),
    ("4x8", 32, 8),
    ("8x8", 64, 16),
    ("8x16", 128, 32),
    ("16x16", 256, 64),
]
_3D = [
    ("2x2x1", 4, 1), ("2x2x2", 8, 2), ("2x2x4", 16, 4), ("2x4x4", 32, 8), ("4x4x4", 64, 16),
    ("4x4x8", 128, 32), ("4x8x8", 256, 64), ("8x8x8", 512, 128),
]
TPU_FACTS: dict[str, set[tuple[str, str, int, int]]] = {
    # https://cloud.google.com/tpu/docs/v4 and xpk's supported v4 topologies
    "tpu-v4-podslice": {
        (t, "ct4p-hightpu-4t", c, v)
        for t, c, v in [*_3D, ("8x8x12", 768, 192), ("8x8x16", 1024, 256), ("8x16x16", 2048, 512)]
    },
    # https://cloud.google.com/tpu/docs/tpu7x (4 chips per tpu7x-standard-4t VM)
    "tpu7x": {
        (t, "tpu7x-standard-4t", c, v)
        for t, c, v in [*_3D, ("8x8x16", 1024, 256), ("8x16x16", 2048, 512), ("16x16x16", 4096, 1024)]
    },
    "tpu-v5-lite-podslice": {
        ("1x1", "ct5lp-hightpu-1t", 1, 1),
        ("2x2", "ct5lp-hightpu-4t", 4, 1),
        ("2x4", "ct5lp-hightpu-8t", 8, 1),
        ("2x4", "ct5lp-hightpu-4t", 8, 2),
        *{(t, "ct5lp-hightpu-4t", c, v) for t, c, v in _2D},
    },
    "tpu-v6e-slice": {
        ("1x1", "ct6e-standard-1t", 1, 1),
        ("2x2", "ct6e-standard-4t", 4, 1),
        ("2x4", "ct6e-standard-8t", 8, 1),
        ("2x4", "ct6e-standard-4t", 8, 2),
        *{(t, "ct6e-standard-4t", c, v) for t, c, v in _2D},
    },
    "tpu-v5p-slice": {
        (t, "ct5p-hightpu-4t", c, v)
        for t, c, v in [
            ("2x2x1", 4, 1),
            ("2x2x2", 8, 2),
            ("2x2x4", 16, 4),
            ("2x4x4", 32, 8),
            ("4x4x4", 64, 16),
            ("4x4x8", 128, 32),
            ("4x8x8", 256, 64),
            ("8x8x8", 512, 128),
            ("8x8x16", 1024, 256),
            ("8x16x16", 2048, 512),
            ("16x16x16", 4096, 1024),
            ("16x16x24", 6144, 1536),
        ]
    },
}

# ---------------------------------------------------------------- helpers

PAIRS = [
    (cloud, name, count)
    for name, gpu in GPUS.items()
    for cloud in ("gcp", "aws")
    for count in gpu.node_shapes(cloud)
]
OVERRIDES = [
    (cloud, name, count, mt)
    for cloud, name, count in PAIRS
    for mt in GPUS[name].node_shapes(cloud)[count]
]


def _raises(
    fn: Callable[[], object], *fragments_msg: str, hint: tuple[str, ...] = ()
) -> CatalogError:
    """Call ``fn`` and assert a CatalogError whose message/hint contain fragments."""
    with pytest.raises(CatalogError) as info:
        fn()
    err = info.value
    for frag in fragments_msg:
        assert frag in err.message, (frag, err.message)
    for frag in hint:
        assert frag in err.hint, (frag, err.hint)
    return err


# ---------------------------------------------------------------- data facts


def test_catalog_has_required_entries() -> None:
    assert {
        "nvidia-tesla-t4",
        "nvidia-l4",
        "nvidia-tesla-a100",
        "nvidia-a100-80gb",
        "nvidia-h100-80gb",
        "nvidia-h100-mega-80gb",
        "nvidia-a10g",
        "nvidia-h200-141gb",
        "nvidia-b200",
        "nvidia-l40s",
        "nvidia-tesla-v100",
        "nvidia-tesla-p100",
        "nvidia-tesla-p4",
    } <= set(GPUS)
    assert set(TPUS) == {"tpu-v4-podslice", "tpu7x", "tpu-v5-lite-podslice", "tpu-v5p-slice", "tpu-v6e-slice"}
    assert [t.version for t in TPUS.values()] == ["v4", "v7x (Ironwood)", "v5e", "v5p", "v6e"]


def test_keys_match_names() -> None:
    assert all(k == g.name for k, g in GPUS.items())
    assert all(k == t.name for k, t in TPUS.items())


@pytest.mark.parametrize("name", sorted(GPUS))
def test_gke_machine_types_carry_documented_gpu_count(name: str) -> None:
    for count, types in GPUS[name].gke_machine_types.items():
        for mt in types:
            if mt.startswith("n1-"):
                continue  # N1 attaches GPUs separately; limits tested below
            assert GCE_GPU_MACHINES[mt] == (name, count), mt


@pytest.mark.parametrize("name", sorted(GPUS))
def test_eks_instance_types_carry_documented_gpu_count(name: str) -> None:
    for count, types in GPUS[name].eks_instance_types.items():
        for it in types:
            assert EC2_GPU_INSTANCES[it] == (name, count), it


def test_every_documented_machine_is_listed() -> None:
    gke = {
        mt: (n, c)
        for n, g in GPUS.items()
        for c, ts in g.gke_machine_types.items()
        for mt in ts
        if not mt.startswith("n1-")
    }
    eks = {
        it: (n, c)
        for n, g in GPUS.items()
        for c, ts in g.eks_instance_types.items()
        for it in ts
    }
    assert gke == GCE_GPU_MACHINES
    assert eks == EC2_GPU_INSTANCES


# N1 + attached GPU: GPUs -> (max vCPU, max GB). T4 from Google's GPU page; V100, P100
# and P4 from a transcription of the same table (docs/accelerator-catalog.md says which).
N1_LIMITS: dict[str, dict[int, tuple[int, float]]] = {
    "nvidia-tesla-t4": {1: (48, 312.0), 2: (48, 312.0), 4: (96, 624.0)},
    "nvidia-tesla-v100": {1: (12, 78.0), 2: (24, 156.0), 4: (48, 312.0), 8: (96, 624.0)},
    "nvidia-tesla-p100": {1: (16, 104.0), 2: (32, 208.0), 4: (96, 624.0)},
    "nvidia-tesla-p4": {1: (24, 156.0), 2: (48, 312.0), 4: (96, 624.0)},
}


@pytest.mark.parametrize("name", sorted(N1_LIMITS))
def test_n1_shapes_respect_documented_limits(name: str) -> None:
    limits = N1_LIMITS[name]
    gb_per_vcpu = {"standard": 3.75, "highmem": 6.5}
    gpu = GPUS[name]
    assert set(gpu.gke_machine_types) == set(limits)
    for count, types in gpu.gke_machine_types.items():
        assert types[0] == f"n1-standard-{({1: 4, 2: 8, 4: 16, 8: 32})[count]}"
        for mt in types:
            m = re.fullmatch(r"n1-(standard|highmem)-(\d+)", mt)
            assert m, mt
            vcpu = int(m.group(2))
            max_vcpu, max_gb = limits[count]
            assert vcpu <= max_vcpu and vcpu * gb_per_vcpu[m.group(1)] <= max_gb, mt


def test_no_machine_type_is_ambiguous() -> None:
    # Each machine type must map to exactly one (GPU, count) per cloud, or
    # "which GPU count does this pool have" would have two answers.
    for cloud in ("gcp", "aws"):
        seen: dict[str, tuple[str, int]] = {}
        for name, gpu in GPUS.items():
            for count, types in gpu.node_shapes(cloud).items():
                assert len(set(types)) == len(types), (name, count)
                for mt in types:
                    if mt.startswith("n1-"):
                        continue  # N1 carries any count of an attachable GPU by design
                    assert mt not in seen, (mt, seen.get(mt), (name, count))
                    seen[mt] = (name, count)


def test_gpu_memory_and_sharing_flags() -> None:
    mem = {
        "nvidia-tesla-t4": 16,
        "nvidia-l4": 24,
        "nvidia-tesla-a100": 40,
        "nvidia-a100-80gb": 80,
        "nvidia-h100-80gb": 80,
        "nvidia-h100-mega-80gb": 80,
        "nvidia-a10g": 24,
        "nvidia-h200-141gb": 141,
        "nvidia-b200": 180,
        "nvidia-tesla-v100": 16,
        "nvidia-tesla-p100": 16,
        "nvidia-tesla-p4": 8,
        "nvidia-l40s": 48,
    }
    assert {n: g.memory_gb for n, g in GPUS.items()} == mem
    assert {n: g.mig_partitions for n, g in GPUS.items() if g.mig_partitions} == GKE_MIG
    # GKE time-sharing works on every NVIDIA model GKE offers; A10G is not on GKE.
    assert {n for n, g in GPUS.items() if g.time_sharing} == {
        n for n, g in GPUS.items() if g.gke_machine_types
    }
    assert GPUS["nvidia-a10g"].gke_machine_types == {}
    assert GPUS["nvidia-l40s"].gke_machine_types == {}


def test_tpu7x_places_by_workload_policy_and_refuses_tensorflow() -> None:
    assert {n: t.placement for n, t in TPUS.items()} == {
        **{n: "topology" for n in TPUS if n != "tpu7x"}, "tpu7x": "workload-policy"}
    for name in TPUS:
        if name != "tpu7x":
            check_tensorflow(name)  # every other generation runs TensorFlow
    _raises(lambda: check_tensorflow("tpu7x"), "tpu7x", "TensorFlow is not supported",
            "https://cloud.google.com/tpu/docs/tpu7x", hint=("tpu-v6e-slice",))


@pytest.mark.parametrize("name", sorted(TPU_FACTS))
def test_tpu_topologies_match_docs(name: str) -> None:
    got = {
        (t.topology, t.machine_type, t.chips, t.nodes) for t in TPUS[name].topologies
    }
    assert got == TPU_FACTS[name]
    for t in TPUS[name].topologies:
        assert t.nodes == t.chips // t.chips_per_node
        assert t.multi_host is (t.nodes > 1)


def test_tpu_topology_rejects_inconsistent_numbers() -> None:
    with pytest.raises(ValueError):
        TpuTopology(
            topology="2x4", machine_type="x", chips=8, chips_per_node=4, nodes=3
        )


def test_catalog_is_immutable() -> None:
    gpu = GPUS["nvidia-l4"]
    with pytest.raises(TypeError):
        GPUS["x"] = gpu  # type: ignore[index]
    with pytest.raises(TypeError):
        gpu.gke_machine_types[3] = ("y",)  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        gpu.memory_gb = 1  # type: ignore[misc]
    assert hash(gpu) == hash(GPUS["nvidia-l4"])


# ---------------------------------------------------------------- GPU resolve


@pytest.mark.parametrize(("cloud", "name", "count"), PAIRS)
def test_every_pair_resolves_to_default(cloud: str, name: str, count: int) -> None:
    shape = resolve_gpu_pool(
        cloud=cloud, accelerator=name, count=count, machine_type=None
    )
    expected = GPUS[name].node_shapes(cloud)[count][0]
    assert shape == GpuPoolShape(
        accelerator=name, count=count, machine_type=expected, cloud=cloud
    )


@pytest.mark.parametrize(("cloud", "name", "count", "mt"), OVERRIDES)
def test_every_listed_override_accepted(
    cloud: str, name: str, count: int, mt: str
) -> None:
    shape = resolve_gpu_pool(
        cloud=cloud, accelerator=name, count=count, machine_type=mt
    )
    assert shape.machine_type == mt and shape.count == count and shape.cloud == cloud


@pytest.mark.parametrize(
    ("cloud", "name", "count", "default"),
    [
        ("gcp", "nvidia-tesla-t4", 1, "n1-standard-4"),
        ("gcp", "nvidia-l4", 2, "g2-standard-24"),
        ("gcp", "nvidia-tesla-a100", 16, "a2-megagpu-16g"),
        ("gcp", "nvidia-h100-mega-80gb", 8, "a3-megagpu-8g"),
        ("aws", "nvidia-a10g", 4, "g5.12xlarge"),
        ("aws", "nvidia-l4", 1, "g6.xlarge"),
        ("aws", "nvidia-h100-80gb", 1, "p5.4xlarge"),
        ("aws", "nvidia-a100-80gb", 8, "p4de.24xlarge"),
    ],
)
def test_spot_check_defaults(cloud: str, name: str, count: int, default: str) -> None:
    got = resolve_gpu_pool(
        cloud=cloud, accelerator=name, count=count, machine_type=None
    )
    assert got.machine_type == default


def test_unknown_accelerator() -> None:
    _raises(
        lambda: resolve_gpu_pool(
            cloud="gcp", accelerator="nvidia-rtx-9000", count=1, machine_type=None
        ),
        "'nvidia-rtx-9000'",
        hint=tuple(GPUS),
    )


def test_tpu_name_given_to_gpu_resolver_points_at_tpu_api() -> None:
    _raises(
        lambda: resolve_gpu_pool(
            cloud="gcp", accelerator="tpu-v6e-slice", count=1, machine_type=None
        ),
        "'tpu-v6e-slice'",
        hint=("resolve_tpu_pool", "nvidia-l4"),
    )


def test_unknown_cloud() -> None:
    _raises(
        lambda: resolve_gpu_pool(
            cloud="azure", accelerator="nvidia-l4", count=1, machine_type=None
        ),
        "'azure'",
        hint=("gcp", "aws"),
    )


@pytest.mark.parametrize(
    ("cloud", "name", "count", "valid"),
    [
        ("gcp", "nvidia-l4", 3, "1, 2, 4, 8"),
        ("aws", "nvidia-l4", 2, "1, 4, 8"),
        ("gcp", "nvidia-tesla-t4", 8, "1, 2, 4"),
        ("gcp", "nvidia-h100-mega-80gb", 1, "8"),
        ("aws", "nvidia-tesla-a100", 0, "8"),
        ("aws", "nvidia-h100-80gb", True, "1, 8"),
    ],
)
def test_bad_count(cloud: str, name: str, count: int, valid: str) -> None:
    _raises(
        lambda: resolve_gpu_pool(
            cloud=cloud, accelerator=name, count=count, machine_type=None
        ),
        f"{count!r} GPUs",
        name,
        hint=(f"valid GPUs per node for {name} on {cloud}: {valid}",),
    )


@pytest.mark.parametrize(
    ("cloud", "name", "count", "mt", "owner"),
    [
        ("gcp", "nvidia-l4", 1, "n1-standard-4", "1 x nvidia-tesla-t4"),
        ("gcp", "nvidia-l4", 1, "g2-standard-24", "2 x nvidia-l4"),
        ("gcp", "nvidia-h100-80gb", 8, "a3-megagpu-8g", "8 x nvidia-h100-mega-80gb"),
        ("gcp", "nvidia-tesla-a100", 8, "a2-ultragpu-8g", "8 x nvidia-a100-80gb"),
        ("aws", "nvidia-l4", 1, "g5.xlarge", "1 x nvidia-a10g"),
        ("aws", "nvidia-tesla-a100", 8, "p4de.24xlarge", "8 x nvidia-a100-80gb"),
        ("aws", "nvidia-tesla-t4", 1, "g4dn.12xlarge", "4 x nvidia-tesla-t4"),
        ("aws", "nvidia-l4", 1, "m5.large", None),
        ("gcp", "nvidia-l4", 1, "g6.xlarge", None),  # right GPU, wrong cloud
    ],
)
def test_wrong_machine_type(
    cloud: str, name: str, count: int, mt: str, owner: str | None
) -> None:
    valid = GPUS[name].node_shapes(cloud)[count]
    err = _raises(
        lambda: resolve_gpu_pool(
            cloud=cloud, accelerator=name, count=count, machine_type=mt
        ),
        repr(mt),
        f"{count} x {name}",
        hint=valid,
    )
    if owner is not None:
        assert f"carries {owner}" in err.message
    else:
        assert "carries" not in err.message


@pytest.mark.parametrize(
    ("cloud", "name", "offered_on"),
    [("aws", "nvidia-h100-mega-80gb", "gcp"), ("gcp", "nvidia-a10g", "aws")],
)
def test_gpu_not_on_cloud(cloud: str, name: str, offered_on: str) -> None:
    others = [n for n, g in GPUS.items() if g.node_shapes(cloud)]
    _raises(
        lambda: resolve_gpu_pool(
            cloud=cloud, accelerator=name, count=8, machine_type=None
        ),
        repr(name),
        repr(cloud),
        hint=(f"offered on: {offered_on}", *others),
    )


# ---------------------------------------------------------------- GPU sharing


@pytest.mark.parametrize(
    ("name", "strategy", "clients", "size"),
    [
        ("nvidia-l4", "none", None, None),
        ("nvidia-l4", "time-sharing", 2, None),
        ("nvidia-tesla-t4", "time-sharing", 48, None),
        ("nvidia-h100-mega-80gb", "time-sharing", 8, None),
        ("nvidia-tesla-a100", "mig", None, "1g.5gb"),
        ("nvidia-a100-80gb", "mig", None, "7g.80gb"),
        ("nvidia-h100-80gb", "mig", None, "1g.20gb"),
        ("nvidia-h100-80gb", "time-sharing", 4, "3g.40gb"),  # time-share partitions
    ],
)
def test_valid_sharing(
    name: str, strategy: str, clients: int | None, size: str | None
) -> None:
    check_gpu_sharing(
        accelerator=name,
        strategy=strategy,
        max_shared_clients=clients,
        partition_size=size,
    )


@pytest.mark.parametrize("name", sorted(GKE_MIG))
def test_every_documented_partition_accepted(name: str) -> None:
    for size in GKE_MIG[name]:
        check_gpu_sharing(
            accelerator=name,
            strategy="mig",
            max_shared_clients=None,
            partition_size=size,
        )


def test_mig_on_l4_rejected() -> None:
    _raises(
        lambda: check_gpu_sharing(
            accelerator="nvidia-l4",
            strategy="mig",
            max_shared_clients=None,
            partition_size="1g.5gb",
        ),
        "'nvidia-l4'",
        "MIG",
        hint=tuple(GKE_MIG),
    )


@pytest.mark.parametrize(
    ("name", "size"),
    [
        ("nvidia-tesla-a100", "1g.10gb"),  # an 80GB profile on the 40GB card
        ("nvidia-a100-80gb", "1g.5gb"),
        ("nvidia-a100-80gb", "1g.20gb"),  # H100-only profile
        ("nvidia-tesla-a100", "4g.20gb"),  # NVIDIA profile GKE does not document
        ("nvidia-h100-80gb", None),
    ],
)
def test_bad_partition(name: str, size: str | None) -> None:
    _raises(
        lambda: check_gpu_sharing(
            accelerator=name,
            strategy="mig",
            max_shared_clients=None,
            partition_size=size,
        ),
        repr(size),
        name,
        hint=GKE_MIG[name],
    )


@pytest.mark.parametrize("clients", [None, 0, 1, 49, 100, True])
def test_time_sharing_client_count_out_of_range(clients: int | None) -> None:
    _raises(
        lambda: check_gpu_sharing(
            accelerator="nvidia-l4",
            strategy="time-sharing",
            max_shared_clients=clients,
            partition_size=None,
        ),
        repr(clients),
        hint=("2", "48"),
    )


def test_time_sharing_needs_capable_gpu() -> None:
    _raises(
        lambda: check_gpu_sharing(
            accelerator="nvidia-a10g",
            strategy="time-sharing",
            max_shared_clients=4,
            partition_size=None,
        ),
        "'nvidia-a10g'",
        "time-sharing",
        hint=("nvidia-l4", "nvidia-tesla-t4"),
    )


def test_time_sharing_partition_needs_mig_gpu() -> None:
    _raises(
        lambda: check_gpu_sharing(
            accelerator="nvidia-tesla-t4",
            strategy="time-sharing",
            max_shared_clients=4,
            partition_size="1g.5gb",
        ),
        "'nvidia-tesla-t4'",
        "MIG",
        hint=tuple(GKE_MIG),
    )


@pytest.mark.parametrize(
    ("strategy", "clients", "size", "msg", "hint"),
    [
        ("mps", None, None, "'mps'", ("none", "time-sharing", "mig")),
        ("none", 4, None, "'none'", ("time-sharing",)),
        ("none", None, "1g.5gb", "'none'", ("mig",)),
        ("mig", 4, "1g.5gb", "4", ("time-sharing", "partition_size")),
    ],
)
def test_bad_strategy_combinations(
    strategy: str,
    clients: int | None,
    size: str | None,
    msg: str,
    hint: tuple[str, ...],
) -> None:
    _raises(
        lambda: check_gpu_sharing(
            accelerator="nvidia-tesla-a100",
            strategy=strategy,
            max_shared_clients=clients,
            partition_size=size,
        ),
        msg,
        hint=hint,
    )


def test_sharing_unknown_accelerator() -> None:
    _raises(
        lambda: check_gpu_sharing(
            accelerator="nvidia-x",
            strategy="none",
            max_shared_clients=None,
            partition_size=None,
        ),
        "'nvidia-x'",
        hint=tuple(GPUS),
    )


# ---------------------------------------------------------------- TPUs


@pytest.mark.parametrize(
    ("name", "topology", "mt", "chips", "nodes"),
    [(n, t, m, c, v) for n, facts in TPU_FACTS.items() for t, m, c, v in sorted(facts)],
)
def test_every_tpu_shape_resolves(
    name: str, topology: str, mt: str, chips: int, nodes: int
) -> None:
    shape = resolve_tpu_pool(accelerator=name, topology=topology, machine_type=mt)
    assert (shape.topology, shape.machine_type, shape.chips, shape.nodes) == (
        topology,
        mt,
        chips,
        nodes,
    )


@pytest.mark.parametrize(
    ("name", "single", "multi"),
    [
        ("tpu-v5-lite-podslice", "ct5lp-hightpu-8t", "ct5lp-hightpu-4t"),
        ("tpu-v6e-slice", "ct6e-standard-8t", "ct6e-standard-4t"),
    ],
)
def test_2x4_defaults_to_single_host(name: str, single: str, multi: str) -> None:
    default = resolve_tpu_pool(accelerator=name, topology="2x4")
    assert (default.machine_type, default.nodes, default.multi_host) == (
        single,
        1,
        False,
    )
    split = resolve_tpu_pool(accelerator=name, topology="2x4", machine_type=multi)
    assert (split.nodes, split.chips_per_node, split.multi_host) == (2, 4, True)


def test_unique_topologies_default_without_machine_type() -> None:
    shape = resolve_tpu_pool(accelerator="tpu-v5p-slice", topology="4x4x4")
    assert (shape.machine_type, shape.chips, shape.nodes, shape.multi_host) == (
        "ct5p-hightpu-4t",
        64,
        16,
        True,
    )
    assert not resolve_tpu_pool(
        accelerator="tpu-v5p-slice", topology="2x2x1"
    ).multi_host


def test_unknown_tpu_accelerator() -> None:
    _raises(
        lambda: resolve_tpu_pool(accelerator="tpu-v9", topology="2x2"),
        "'tpu-v9'",
        hint=tuple(TPUS),
    )
    _raises(
        lambda: resolve_tpu_pool(accelerator="nvidia-l4", topology="2x2"),
        "'nvidia-l4'",
        hint=("resolve_gpu_pool", *TPUS),
    )


@pytest.mark.parametrize(
    ("name", "topology", "valid"),
    [
        ("tpu-v5-lite-podslice", "3x3", ("1x1", "2x2", "2x4", "16x16")),
        ("tpu-v5-lite-podslice", "2x2x1", ("1x1", "8x16")),
        ("tpu-v5p-slice", "2x4", ("2x2x1", "16x16x24")),
        ("tpu-v6e-slice", "32x32", ("1x1", "16x16")),
    ],
)
def test_unknown_tpu_topology(name: str, topology: str, valid: tuple[str, ...]) -> None:
    err = _raises(
        lambda: resolve_tpu_pool(accelerator=name, topology=topology),
        repr(topology),
        name,
        hint=valid,
    )
    assert err.hint.count("2x4,") <= 1  # 2x4 is listed once though it has two shapes


def test_wrong_tpu_machine_type() -> None:
    _raises(
        lambda: resolve_tpu_pool(
            accelerator="tpu-v5-lite-podslice",
            topology="4x4",
            machine_type="ct5lp-hightpu-8t",
        ),
        "'ct5lp-hightpu-8t'",
        "4x4",
        hint=("ct5lp-hightpu-4t",),
    )
    _raises(
        lambda: resolve_tpu_pool(
            accelerator="tpu-v6e-slice", topology="2x4", machine_type="ct5lp-hightpu-4t"
        ),
        "'ct5lp-hightpu-4t'",
        hint=("ct6e-standard-8t", "ct6e-standard-4t"),
    )


# ---------------------------------------------------------------- TPU autoscaling


def test_autoscaling_accepts_whole_slices() -> None:
    multi = resolve_tpu_pool(accelerator="tpu-v5-lite-podslice", topology="4x4")
    check_tpu_autoscaling(multi, min_nodes=0, max_nodes=4)
    check_tpu_autoscaling(multi, min_nodes=4, max_nodes=12)
    single = resolve_tpu_pool(accelerator="tpu-v6e-slice", topology="2x2")
    check_tpu_autoscaling(single, min_nodes=0, max_nodes=7)


@pytest.mark.parametrize(
    ("min_nodes", "max_nodes", "bad"),
    [(0, 6, "max_nodes=6"), (2, 8, "min_nodes=2"), (1, 3, "min_nodes=1, max_nodes=3")],
)
def test_autoscaling_rejects_partial_slices(
    min_nodes: int, max_nodes: int, bad: str
) -> None:
    shape = resolve_tpu_pool(accelerator="tpu-v5-lite-podslice", topology="4x4")
    _raises(
        lambda: check_tpu_autoscaling(shape, min_nodes=min_nodes, max_nodes=max_nodes),
        bad,
        "4x4",
        "4 nodes",
        hint=("multiples of 4", "0, 4, 8"),
    )


def test_autoscaling_rejects_partial_v5p_slice() -> None:
    shape = resolve_tpu_pool(accelerator="tpu-v5p-slice", topology="4x4x4")
    _raises(
        lambda: check_tpu_autoscaling(shape, min_nodes=0, max_nodes=20),
        "max_nodes=20",
        hint=("multiples of 16",),
    )


@pytest.mark.parametrize(("min_nodes", "max_nodes"), [(-4, 4), (8, 4)])
def test_autoscaling_rejects_inverted_bounds(min_nodes: int, max_nodes: int) -> None:
    shape = resolve_tpu_pool(accelerator="tpu-v5-lite-podslice", topology="4x4")
    _raises(
        lambda: check_tpu_autoscaling(shape, min_nodes=min_nodes, max_nodes=max_nodes),
        f"min={min_nodes}",
        f"max={max_nodes}",
        hint=("min_nodes <= max_nodes",),
    )


# ---------------------------------------------------------------- kinds & errors


def test_accelerator_kind() -> None:
    # The catalog's kinds are the ones a model file may write (the schema is the config's source).
    kinds = load_schema("model")["$defs"]["accelerator"]["properties"]["kind"]["enum"]
    assert tuple(kinds) == ACCELERATOR_KINDS
    assert {accelerator_kind(n) for n in GPUS} == {"gpu"}
    assert {accelerator_kind(n) for n in TPUS} == {"tpu"}
    _raises(lambda: accelerator_kind("quantum-1"), "'quantum-1'", hint=(*GPUS, *TPUS))


def test_catalog_error_shape() -> None:
    err = CatalogError("bad thing 'x'", "use y or z")
    assert isinstance(err, ValueError)
    assert (err.message, err.hint) == ("bad thing 'x'", "use y or z")
    assert "bad thing 'x'" in str(err) and "use y or z" in str(err)
