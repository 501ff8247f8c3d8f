"""The cloud layer under the mock engine: clusters, pools, buckets and identity per stack."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infra.offline.plan import run_offline
from infra.rules import catalog
from tests.conftest import STACKS, shared_run
from tests.program import urn_contract
from tests.program.records import Run, named, of_type, one_of_type

GCP_STACKS = [s for s in STACKS if s != "prod-aws"]


_of, _one, _named = of_type, one_of_type, named


@pytest.fixture(scope="module", params=STACKS)
def run(request: pytest.FixtureRequest) -> Run:
    return shared_run(request.param)


@pytest.fixture(scope="module", params=GCP_STACKS)
def gcp_run(request: pytest.FixtureRequest) -> Run:
    return shared_run(request.param)


@pytest.fixture(scope="module")
def aws_run() -> Run:
    return shared_run("prod-aws")


def test_stack_exports(run: Run) -> None:
    plan, result = run
    out = result.outputs
    assert out["cluster"]["name"] == f"tfplat-{plan.stack.name}" and out["cluster"]["endpoint"]
    assert set(out["nodePools"]) == set(plan.cloud.pools)
    assert out["buckets"]["models"] == plan.model_bucket
    assert out["servingIdentity"]


def test_every_kubernetes_object_uses_the_cluster_provider(run: Run) -> None:
    provider = _one(run, "pulumi:providers:kubernetes")
    assert set(provider.inputs) >= {"kubeconfig"} and provider.inputs["kubeconfig"] == "[secret]"
    for r in run[1].records:
        if r.type.startswith("kubernetes:") and r.custom:
            assert r.provider is not None and r.provider.startswith(provider.urn), r.name


def test_one_platform_owns_the_cloud_and_the_kubernetes_provider(run: Run) -> None:
    plan, result = run
    platform = _one(run, f"tfplat:{plan.stack.cloud}:Platform")
    assert platform.parent is not None and platform.parent.endswith("pulumi:pulumi:Stack::tfplat-" + plan.stack.name)
    chain = platform.urn.split("::")[2]
    # Every cloud resource sits under the platform (the edge distribution owns its own).
    edge = "tfplat:edge:Distribution"
    loose = [r.urn for r in result.records
             if r.type.split(":")[0] in ("gcp", "aws") and f"{chain}$" not in r.urn and f"{edge}$" not in r.urn]
    assert not loose
    assert _one(run, "pulumi:providers:kubernetes").parent == platform.urn
    # Its direct children that were at the top of the stack keep their names and say where
    # they were before (docs/upgrading.md); children added since (the StorageClass, the
    # device plugin's ServiceAccount) were never anywhere else.
    children = [r for r in result.records if r.parent == platform.urn]
    assert {r.name for r in children} >= {"network", "models", "cluster"}
    before = urn_contract.load()[plan.stack.name]
    moved = [r for r in children if f"{r.type}::{r.name}" in before]
    assert {r.name for r in moved} >= {"network", "models", "cluster"}
    for r in moved:  # (pulumi-kubernetes adds type aliases of its own to some kinds)
        assert f"urn:pulumi:{plan.stack.name}::tfplat::{r.type}::{r.name}" in r.options.get("aliases", []), r.name


# --------------------------------------------------------------------------- GCP


def test_gke_cluster_is_private_and_hardened(gcp_run: Run) -> None:
    plan, _ = gcp_run
    c = _one(gcp_run, "gcp:container/cluster:Cluster").inputs
    assert c["removeDefaultNodePool"] is True
    assert c["privateClusterConfig"]["enablePrivateNodes"] is True
    assert c["workloadIdentityConfig"]["workloadPool"] == f"{plan.stack.gcp.project}.svc.id.goog"  # type: ignore[union-attr]
    assert c["releaseChannel"]["channel"] == plan.stack.cluster.release_channel
    assert c["minMasterVersion"] == plan.stack.cluster.version
    assert c["datapathProvider"] == "ADVANCED_DATAPATH" and c["enableShieldedNodes"] is True
    assert c["databaseEncryption"]["state"] == "ENCRYPTED"
    assert "cryptoKeys/secrets" in c["databaseEncryption"]["keyName"]
    assert [b["cidrBlock"] for b in c["masterAuthorizedNetworksConfig"]["cidrBlocks"]] == \
        list(plan.stack.cluster.endpoint.authorized_cidrs)
    assert c["gatewayApiConfig"]["channel"] == "CHANNEL_STANDARD"
    assert c["location"] == (plan.stack.region if plan.stack.cluster.regional else plan.cloud.zones[0])


def test_gke_pools_match_the_catalog(gcp_run: Run) -> None:
    plan, _ = gcp_run
    pools = {r.name.removeprefix("gke-"): r for r in _of(gcp_run, "gcp:container/nodePool:NodePool")}
    assert set(pools) == set(plan.cloud.pools)
    node_sa = _one_sa(gcp_run, "nodes")
    for key, p in plan.cloud.pools.items():
        inputs = pools[key].inputs
        cfg = inputs["nodeConfig"]
        assert inputs["namePrefix"] == f"{key}-" and "name" not in inputs  # create-before-delete
        assert cfg["machineType"] == p.machine_type
        assert cfg["serviceAccount"] == node_sa and "compute@developer" not in cfg["serviceAccount"]
        assert cfg["workloadMetadataConfig"]["mode"] == "GKE_METADATA"
        assert cfg["shieldedInstanceConfig"] == {"enableSecureBoot": True, "enableIntegrityMonitoring": True}
        assert inputs["autoscaling"]["totalMinNodeCount"] == p.min_nodes
        assert inputs["autoscaling"]["totalMaxNodeCount"] == p.max_nodes
        assert cfg["spot"] is p.spot
        assert cfg["labels"]["tfplat.dev/pool"] == p.pool
        assert pools[key].options["customTimeouts"]["create"] == p.create_timeout
        if p.kind == "gpu":
            (acc,) = cfg["guestAccelerators"]
            assert (acc["type"], acc["count"]) == (p.accelerator, p.gpus_per_node)
            assert acc["gpuDriverInstallationConfig"]["gpuDriverVersion"] == "LATEST"
            assert {"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"} in cfg["taints"]
            shape = catalog.resolve_gpu_pool(cloud="gcp", accelerator=p.accelerator or "", count=p.gpus_per_node,
                                             machine_type=plan.stack.node_pools[p.pool].machine_type)
            assert cfg["machineType"] == shape.machine_type
        elif p.kind == "tpu":
            assert {"key": "google.com/tpu", "value": "present", "effect": "NO_SCHEDULE"} in cfg["taints"]
            assert cfg["machineType"].startswith("ct5lp-hightpu-")
            assert "placementPolicy" not in inputs  # single-host slices only in the shipped stacks
        else:
            assert cfg.get("taints", []) == [] and "guestAccelerators" not in cfg


def _one_sa(run: Run, suffix: str) -> str:
    (sa,) = [r for r in _of(run, "gcp:serviceaccount/account:Account") if r.name.endswith(suffix)]
    return f"{sa.inputs['accountId']}@{sa.inputs['project']}.iam.gserviceaccount.com"


def test_gcs_bucket_and_workload_identity(gcp_run: Run) -> None:
    plan, _ = gcp_run
    b = _named(gcp_run, "gcp:storage/bucket:Bucket", "models-bucket")
    assert b.inputs["name"] == plan.model_bucket
    assert b.inputs["uniformBucketLevelAccess"] is True and b.inputs["publicAccessPrevention"] == "enforced"
    assert b.inputs["versioning"]["enabled"] is True
    assert b.inputs["lifecycleRules"][0]["condition"]["daysSinceNoncurrentTime"] == 30
    iam = _named(gcp_run, "gcp:storage/bucketIAMMember:BucketIAMMember", "models-serving-read").inputs
    serving = _one_sa(gcp_run, "serving")
    assert (iam["role"], iam["member"]) == ("roles/storage.objectViewer", f"serviceAccount:{serving}")
    # The serving identity's bindings (the model store's); a training identity has its own.
    bindings = {r.inputs["member"] for r in _of(gcp_run, "gcp:serviceaccount/iAMMember:IAMMember")
                if r.inputs["role"] == "roles/iam.workloadIdentityUser" and r.name.startswith("models-wi-")}
    project, ns = plan.stack.gcp.project, plan.stack.serving.namespace  # type: ignore[union-attr]
    assert bindings == {f"serviceAccount:{project}.svc.id.goog[{ns}/{f.service_account}]" for f in plan.fleets}
    for sa in [r for r in gcp_run[1].records if r.type == "kubernetes:core/v1:ServiceAccount"
               and r.inputs["metadata"]["name"].endswith("-serving")]:
        assert sa.inputs["metadata"]["annotations"]["iam.gke.io/gcp-service-account"] == serving


# --------------------------------------------------------------------------- AWS


def test_eks_cluster_encrypts_secrets_and_restricts_its_endpoint(aws_run: Run) -> None:
    plan, _ = aws_run
    c = _one(aws_run, "aws:eks/cluster:Cluster").inputs
    assert c["version"] == "1.34"
    assert c["encryptionConfig"]["resources"] == ["secrets"] and c["encryptionConfig"]["provider"]["keyArn"]
    vpc = c["vpcConfig"]
    # prod-aws is private: no public endpoint; the authorized ranges may reach the private one on 443.
    assert plan.stack.cluster.endpoint.access == "private"
    assert vpc["endpointPrivateAccess"] is True and vpc["endpointPublicAccess"] is False
    assert "publicAccessCidrs" not in vpc
    rules = _of(aws_run, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    assert sorted(r.inputs["cidrIpv4"] for r in rules) == sorted(plan.stack.cluster.endpoint.authorized_cidrs)
    assert all((r.inputs["fromPort"], r.inputs["toPort"], r.inputs["securityGroupId"][:3]) == (443, 443, "sg-")
               for r in rules)
    assert len(vpc["subnetIds"]) == 3
    assert all(k.inputs["enableKeyRotation"] is True for k in _of(aws_run, "aws:kms/key:Key"))
    addons = {r.inputs["addonName"]: r.inputs["addonVersion"] for r in _of(aws_run, "aws:eks/addon:Addon")}
    assert addons == {"vpc-cni": "v1.20.4-eksbuild.2", "coredns": "v1.12.3-eksbuild.1",
                      "kube-proxy": "v1.34.0-eksbuild.2", "eks-pod-identity-agent": "v1.3.10-eksbuild.2",
                      "aws-ebs-csi-driver": "v1.50.1-eksbuild.1"}


def test_eks_node_groups_from_the_catalog(aws_run: Run) -> None:
    plan, _ = aws_run
    groups = {r.name.removeprefix("eks-"): r.inputs for r in _of(aws_run, "aws:eks/nodeGroup:NodeGroup")}
    assert set(groups) == set(plan.cloud.pools)
    l4 = groups["l4"]
    assert l4["instanceTypes"] == ["g6.xlarge"] and l4["amiType"] == "AL2023_x86_64_NVIDIA"
    assert l4["taints"] == [{"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}]
    assert l4["scalingConfig"] == {"minSize": 2, "maxSize": 10, "desiredSize": 2}
    assert l4["capacityType"] == "ON_DEMAND" and l4["nodeGroupNamePrefix"] == "l4-"
    assert l4["tags"]["k8s.io/cluster-autoscaler/node-template/taint/nvidia.com/gpu"] == "present:NoSchedule"
    assert groups["cpu"]["amiType"] == "AL2023_x86_64_STANDARD" and groups["cpu"]["instanceTypes"] == ["c6i.2xlarge"]
    plugin = [r for r in aws_run[1].records if r.type == "kubernetes:apps/v1:DaemonSet"]
    assert [r.inputs["metadata"]["name"] for r in plugin] == ["nvidia-device-plugin"]


def test_s3_bucket_and_pod_identity(aws_run: Run) -> None:
    plan, _ = aws_run
    assert _named(aws_run, "aws:s3/bucket:Bucket", "models-bucket").inputs["bucket"] == plan.model_bucket
    block = _named(aws_run, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "models-public-access").inputs
    assert all(block[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                                          "restrictPublicBuckets"))
    own = _named(aws_run, "aws:s3/bucketOwnershipControls:BucketOwnershipControls", "models-ownership").inputs
    assert own["rule"]["objectOwnership"] == "BucketOwnerEnforced"
    versioning = _named(aws_run, "aws:s3/bucketVersioning:BucketVersioning", "models-versioning")
    assert versioning.inputs["versioningConfiguration"]["status"] == "Enabled"
    sse = _named(aws_run, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
                 "models-encryption")
    assert sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"
    role = next(r for r in _of(aws_run, "aws:iam/role:Role") if r.inputs["name"] == plan.serving_identity)
    trust = json.loads(role.inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    (serving_policy,) = [r for r in _of(aws_run, "aws:iam/rolePolicy:RolePolicy") if r.name == "models-serving-read"]
    policy = json.loads(serving_policy.inputs["policy"])
    actions = sorted(a for s in policy["Statement"] for a in s["Action"])
    assert actions == ["s3:GetObject", "s3:ListBucket"]  # read-only
    assoc = {(r.inputs["namespace"], r.inputs["serviceAccount"])
             for r in _of(aws_run, "aws:eks/podIdentityAssociation:PodIdentityAssociation")
             if r.inputs["namespace"] == plan.stack.serving.namespace}
    assert assoc == {(plan.stack.serving.namespace, f.service_account) for f in plan.fleets}


def test_multi_host_tpu_pools_become_one_pool_per_slice(repo_copy: Path) -> None:
    path = repo_copy / "stacks" / "Pulumi.prod.yaml"
    path.write_text(path.read_text().replace(
        "  tfplat:serving:",
        "    v5e-train:\n      accelerator: {type: tpu-v5-lite-podslice, topology: 4x4}\n"
        "      min_nodes: 4\n      max_nodes: 8\n      zones: [us-central1-a]\n  tfplat:serving:"))
    run = run_offline(repo_copy, "prod")
    pools = {r.name: r.inputs for r in _of(run, "gcp:container/nodePool:NodePool") if "v5e-train" in r.name}
    assert sorted(pools) == ["gke-v5e-train", "gke-v5e-train-s1"]
    for inputs in pools.values():
        assert inputs["placementPolicy"] == {"type": "COMPACT", "tpuTopology": "4x4"}
        assert inputs["nodeConfig"]["machineType"] == "ct5lp-hightpu-4t"
        assert inputs["autoscaling"]["totalMaxNodeCount"] == 4
    kept: dict[str, Any] = {n: i["autoscaling"]["totalMinNodeCount"] for n, i in pools.items()}
    assert kept == {"gke-v5e-train": 4, "gke-v5e-train-s1": 0}
