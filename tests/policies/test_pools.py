"""pool-accelerator-taint, pool-bounded-autoscaling, gke-no-default-service-account."""

from __future__ import annotations

from typing import Any

import pytest

from tests.policies.factories import DROP, EKS_GPU_GROUP, GKE_CLUSTER, gke_pool, messages, patched, run

POOL = "gcp:container/nodePool:NodePool"
GKE = "gcp:container/cluster:Cluster"
GROUP = "aws:eks/nodeGroup:NodeGroup"
TPU_POOL = gke_pool("v5e", machineType="ct5lp-hightpu-4t", guestAccelerators=DROP,
                    taints=[{"effect": "NO_SCHEDULE", "key": "google.com/tpu", "value": "present"}])
CPU_POOL = gke_pool("cpu", machineType="n2-standard-8", guestAccelerators=DROP, taints=[])


@pytest.mark.parametrize(("type_", "props"), [(POOL, gke_pool()), (POOL, TPU_POOL), (POOL, CPU_POOL),
                                              (GROUP, EKS_GPU_GROUP)])
def test_tfplat_shaped_pools_pass(type_: str, props: dict[str, Any]) -> None:
    for policy in ("pool-accelerator-taint", "pool-bounded-autoscaling", "gke-no-default-service-account"):
        assert run(policy, type_, props) == [], policy


@pytest.mark.parametrize(("props", "expected"), [
    (gke_pool(taints=[]), "GPU pool has no nvidia.com/gpu NoSchedule/NoExecute taint"),
    (gke_pool(taints=[{"effect": "PREFER_NO_SCHEDULE", "key": "nvidia.com/gpu", "value": "present"}]),
     "GPU pool has no nvidia.com/gpu NoSchedule/NoExecute taint"),
    # an accelerator-optimized machine family has GPUs without guestAccelerators
    (gke_pool(machineType="a3-highgpu-8g", guestAccelerators=DROP, taints=DROP),
     "GPU pool has no nvidia.com/gpu NoSchedule/NoExecute taint"),
    (patched(TPU_POOL, {"nodeConfig": {"taints": [{"effect": "NO_SCHEDULE", "key": "nvidia.com/gpu"}]}}),
     "TPU pool has no google.com/tpu NoSchedule/NoExecute taint"),
])
def test_an_untainted_gke_accelerator_pool_fails(props: dict[str, Any], expected: str) -> None:
    findings = run("pool-accelerator-taint", POOL, props)
    assert len(findings) == 1 and findings[0].message.startswith(expected)
    assert "tfplat:node_pools." in findings[0].fix and ".accelerator" in findings[0].fix


def test_an_untainted_eks_gpu_group_fails_by_ami_or_instance_type() -> None:
    expected = "GPU pool has no nvidia.com/gpu NoSchedule/NoExecute taint, so pods that need no GPU land on it"
    assert messages(run("pool-accelerator-taint", GROUP, {**EKS_GPU_GROUP, "taints": []})) == [expected]
    by_instance = {**EKS_GPU_GROUP, "amiType": "BOTTLEROCKET_x86_64", "instanceTypes": ["p5.48xlarge"], "taints": []}
    findings = run("pool-accelerator-taint", GROUP, by_instance)
    assert messages(findings) == [expected]
    assert "tfplat:node_pools.l4.accelerator" in findings[0].fix


def test_autoscaling_must_be_bounded() -> None:
    findings = run("pool-bounded-autoscaling", POOL, patched(gke_pool(), {"autoscaling": DROP}))
    assert messages(findings) == ["GPU pool has no autoscaling maximum (autoscaling {})"]
    assert findings[0].fix.startswith("set tfplat:node_pools.l4.max_nodes")
    per_zone = patched(TPU_POOL, {"autoscaling": {"totalMaxNodeCount": DROP, "maxNodeCount": 1}})
    assert run("pool-bounded-autoscaling", POOL, per_zone) == []
    broken = patched(EKS_GPU_GROUP, {"scalingConfig": {"maxSize": 1, "minSize": 2}})
    assert messages(run("pool-bounded-autoscaling", GROUP, broken)) == [
        "GPU node group has no usable scalingConfig.maxSize (1, minSize 2)"]
    # CPU pools are out of scope of the accelerator rules
    assert run("pool-bounded-autoscaling", POOL, patched(CPU_POOL, {"autoscaling": DROP})) == []


@pytest.mark.parametrize("account", [DROP, "default", "123456789-compute@developer.gserviceaccount.com"])
def test_the_default_compute_service_account_fails(account: object) -> None:
    findings = run("gke-no-default-service-account", POOL, gke_pool(serviceAccount=account))
    assert len(findings) == 1
    assert findings[0].message.startswith("nodeConfig.serviceAccount is ")
    assert findings[0].message.endswith("nodes run as the Compute Engine default service account (project Editor)")


def test_cluster_level_node_identities() -> None:
    keeps_default_pool = patched(GKE_CLUSTER, {"removeDefaultNodePool": False, "nodeConfig": DROP})
    assert messages(run("gke-no-default-service-account", GKE, keeps_default_pool)) == [
        "nodeConfig.serviceAccount is 'unset': nodes run as the Compute Engine default service account "
        "(project Editor)"]
    assert run("gke-no-default-service-account", GKE, patched(GKE_CLUSTER, {"nodeConfig": DROP})) == []
    autoprovisioned = {**GKE_CLUSTER, "clusterAutoscaling": {"enabled": True, "autoProvisioningDefaults": {}}}
    assert messages(run("gke-no-default-service-account", GKE, autoprovisioned)) == [
        "clusterAutoscaling.autoProvisioningDefaults.serviceAccount is 'unset': nodes run as the Compute Engine "
        "default service account (project Editor)"]
