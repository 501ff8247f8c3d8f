"""Machine shapes and node allocatable (infra.rules.machines).

EC2 shapes are checked against the DescribeInstanceTypes snapshot moto bundles (an
independent copy of the API's answer); every accelerator machine type of the catalog must
have a shape; the allocatable formulas are checked against worked examples of GKE's and the
EKS AMI's reservations.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from infra.plan import catalog
from infra.rules import machines


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
    missing = sorted(mt for mt in _catalog_types(cloud) if machines.machine_shape(cloud, mt) is None)
    assert not missing


@pytest.mark.parametrize("instance", sorted(_catalog_types("aws")))
def test_ec2_shapes_match_describe_instance_types(instance: str) -> None:
    api = _ec2_api()[instance]
    shape = machines.machine_shape("aws", instance)
    assert shape is not None
    net = api["NetworkInfo"]
    cards = net.get("NetworkCards") or []
    enis = cards[0]["MaximumNetworkInterfaces"] if cards else net["MaximumNetworkInterfaces"]
    assert (shape.vcpus, shape.memory_mib) == (api["VCpuInfo"]["DefaultVCpus"], api["MemoryInfo"]["SizeInMiB"])
    assert shape.max_pods == machines.eni_max_pods(enis, net["Ipv4AddressesPerInterface"])


@pytest.mark.parametrize(("name", "vcpus", "gb"), [
    ("n1-standard-8", 8, 30.0), ("n1-highmem-16", 16, 104.0), ("n1-highcpu-16", 16, 14.4),
    ("g2-standard-24", 24, 96.0), ("a3-ultragpu-8g", 224, 2952.0), ("a4-highgpu-8g", 224, 3968.0),
    ("ct4p-hightpu-4t", 240, 407.0), ("ct6e-standard-8t", 360, 1440.0), ("tpu7x-standard-4t", 224, 960.0),
])
def test_gce_shapes(name: str, vcpus: int, gb: float) -> None:
    assert machines.machine_shape("gcp", name) == machines.MachineShape(name=name, vcpus=vcpus,
                                                                         memory_mib=round(gb * 1024))


def test_unknown_type_has_no_shape() -> None:
    assert machines.machine_shape("gcp", "e2-standard-4") is None
    assert machines.machine_shape("aws", "m6i.xlarge") is None


@pytest.mark.parametrize(("cloud", "name", "cpu_reserved", "memory_reserved"), [
    # GKE: 6/1/0.5/0.25 % CPU bands; 25/20/10/6/2 % memory bands, plus 100 MiB eviction.
    ("gcp", "n1-standard-8", 90, 3523 + 100),
    ("gcp", "a3-ultragpu-8g", 630, 67379 + 100),
    # EKS AMI: the same CPU bands; 11 MiB per max pod + 255 MiB, plus 100 MiB eviction.
    ("aws", "g6e.xlarge", 80, 11 * 58 + 255 + 100),
    ("aws", "g6e.48xlarge", 550, 11 * 492 + 255 + 100),
    ("aws", "p5e.48xlarge", 550, 11 * 100 + 255 + 100),
])
def test_allocatable_matches_worked_examples(cloud: str, name: str, cpu_reserved: int, memory_reserved: int) -> None:
    shape = machines.machine_shape(cloud, name)
    assert shape is not None
    cpu, memory = machines.allocatable(cloud, shape)
    assert shape.vcpus * 1000 - cpu == cpu_reserved + machines.DAEMONSET_CPU_MILLI
    assert shape.memory_mib - memory == pytest.approx(memory_reserved + machines.DAEMONSET_MEMORY_MIB, abs=1)
