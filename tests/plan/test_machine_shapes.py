"""Machine shapes of every accelerator machine type (infra.rules.machines): each catalog type
has one (training quotas need them), and EC2's agree with DescribeInstanceTypes as the
snapshot moto bundles reports it (an independent copy of the API's answer)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from infra.rules import catalog, machines


def _ec2_api() -> dict[str, Any]:
    import moto

    path = Path(moto.__file__).parent / "ec2" / "resources" / "instance_types.json.gz"
    data: dict[str, Any] = json.loads(gzip.decompress(path.read_bytes()))
    return data


def _catalog_types(cloud: str) -> set[str]:
    out = {mt for g in catalog.gpu_types().values() for types in g.node_shapes(cloud).values() for mt in types}
    if cloud == "gcp":
        out |= {t.machine_type for tpu in catalog.tpu_types().values() for t in tpu.topologies}
    return out


@pytest.mark.parametrize("cloud", ["gcp", "aws"])
def test_every_catalog_machine_type_has_a_shape(cloud: str) -> None:
    assert sorted(mt for mt in _catalog_types(cloud) if machines.machine_shape(mt, cloud) is None) == []


@pytest.mark.parametrize("instance", sorted(_catalog_types("aws")))
def test_ec2_shapes_match_describe_instance_types(instance: str) -> None:
    api = _ec2_api()[instance]
    shape = machines.machine_shape(instance, "aws")
    assert shape is not None
    assert (shape.vcpus, shape.memory_bytes) == (api["VCpuInfo"]["DefaultVCpus"],
                                                 api["MemoryInfo"]["SizeInMiB"] * machines.MIB)


@pytest.mark.parametrize(("name", "vcpus", "gib"), [
    ("a3-ultragpu-8g", 224, 2952), ("a4-highgpu-8g", 224, 3968), ("ct4p-hightpu-4t", 240, 407),
    ("tpu7x-standard-4t", 224, 960), ("n1-highmem-16", 16, 104),
])
def test_new_gce_shapes(name: str, vcpus: int, gib: int) -> None:
    assert machines.machine_shape(name, "gcp") == machines.MachineShape(vcpus, gib * machines.GIB)


def test_what_pods_can_count_on_leaves_room_for_daemonsets() -> None:
    shape = machines.machine_shape("g2-standard-8", "gcp")
    assert shape is not None
    full, pods = machines.allocatable(shape, "gcp"), machines.for_pods(shape, "gcp")
    assert (full.cpu_millis - pods.cpu_millis, full.memory_bytes - pods.memory_bytes) == (
        machines.DAEMONSET_CPU_MILLIS, machines.DAEMONSET_MEMORY)
