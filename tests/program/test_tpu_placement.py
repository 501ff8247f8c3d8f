"""How GKE places a multi-host slice: the topology flag for v4/v5e/v5p/v6e, a HIGH_THROUGHPUT
workload policy carrying the topology for Ironwood (tpu7x), under the mock engine."""

from __future__ import annotations

import pytest

from infra.offline.plan import run_offline
from tests.conftest import copy_config
from tests.program.records import Run, named, of_type

POOLS = """\
    v4:
      role: training
      accelerator: {type: tpu-v4-podslice, topology: 2x2x2}
      min_nodes: 0
      max_nodes: 2
      zones: [us-central1-a]
    ironwood:
      role: training
      accelerator: {type: tpu7x, topology: 2x2x4}
      min_nodes: 0
      max_nodes: 4
      zones: [us-central1-a]
"""


@pytest.fixture(scope="module")
def tpus(tmp_path_factory: pytest.TempPathFactory) -> Run:
    root = copy_config(tmp_path_factory.mktemp("tpus"))
    stack = root / "stacks" / "Pulumi.dev.yaml"
    stack.write_text(stack.read_text().replace("  tfplat:serving:\n", POOLS + "  tfplat:serving:\n", 1))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TFPLAT_ROOT", str(root))
        return run_offline(root, "dev", project="tfplat")


def test_v4_slices_use_the_topology_flag(tpus: Run) -> None:
    pool = named(tpus, "gcp:container/nodePool:NodePool", "gke-v4").inputs
    assert pool["nodeConfig"]["machineType"] == "ct4p-hightpu-4t"
    assert pool["placementPolicy"] == {"type": "COMPACT", "tpuTopology": "2x2x2"}


def test_ironwood_slices_use_a_workload_policy(tpus: Run) -> None:
    policy = named(tpus, "gcp:compute/resourcePolicy:ResourcePolicy", "gke-ironwood-placement").inputs
    assert policy["workloadPolicy"] == {"type": "HIGH_THROUGHPUT", "acceleratorTopology": "2x2x4"}
    assert policy["region"] == "us-central1" and policy["name"] == "tfplat-dev-ironwood"
    pool = named(tpus, "gcp:container/nodePool:NodePool", "gke-ironwood").inputs
    assert pool["nodeConfig"]["machineType"] == "tpu7x-standard-4t"
    assert pool["placementPolicy"]["type"] == "COMPACT" and "tpuTopology" not in pool["placementPolicy"]
    assert pool["placementPolicy"]["policyName"]
    assert len(of_type(tpus, "gcp:compute/resourcePolicy:ResourcePolicy")) == 1  # the one multi-host tpu7x pool
