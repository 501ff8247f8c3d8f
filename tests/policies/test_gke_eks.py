"""The CIS section 5 policies of GKE clusters and pools, and of EKS clusters and node groups:
each passes tfplat's shape and fails with the setting broken, naming its CIS item."""

from __future__ import annotations

import json
from typing import Any

import pytest

from policies.tfplat_policies.registry import BY_ID
from tests.policies.factories import (
    DROP,
    EKS_CLUSTER,
    EKS_GPU_GROUP,
    GKE_CLUSTER,
    gke_pool,
    patched,
    res,
    run,
    run_stack,
)

GKE = "gcp:container/cluster:Cluster"
POOL = "gcp:container/nodePool:NodePool"
EKS = "aws:eks/cluster:Cluster"
GROUP = "aws:eks/nodeGroup:NodeGroup"
LT = "aws:ec2/launchTemplate:LaunchTemplate"
LOGS = "aws:cloudwatch/logGroup:LogGroup"
TEMPLATE: dict[str, Any] = {
    "metadataOptions": {"httpEndpoint": "enabled", "httpTokens": "required", "httpPutResponseHopLimit": 1},
    "blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"encrypted": "true", "volumeSize": 100,
                                                                "kmsKeyId": "arn:aws:kms:us-east-1:1:key/d"}}]}

GKE_CLUSTER_POLICIES = ["gke-shielded-nodes", "gke-node-image-cos", "gke-intranode-visibility", "gke-vpc-native",
                        "gke-authorized-networks", "gke-logging-monitoring", "gke-no-client-certificates",
                        "gke-no-legacy-abac", "gke-no-alpha-features", "gke-security-posture",
                        "gke-binary-authorization", "gke-boot-disk-cmek", "cluster-endpoint-private",
                        "cluster-release-channel", "cluster-workload-identity"]


@pytest.mark.parametrize("policy", GKE_CLUSTER_POLICIES)
def test_tfplat_shaped_gke_passes(policy: str) -> None:
    assert run(policy, GKE, GKE_CLUSTER) == []
    assert run(policy, POOL, gke_pool()) == []


# (policy, patch of the cluster, the CIS item the finding names, a fragment of its message)
CLUSTER_CASES = [
    ("gke-shielded-nodes", {"enableShieldedNodes": False}, "GKE 5.5.5", "enableShieldedNodes is false"),
    ("gke-shielded-nodes", {"nodeConfig": {"shieldedInstanceConfig": {"enableSecureBoot": False}}}, "GKE 5.5.7",
     "enableSecureBoot is not true"),
    ("gke-shielded-nodes", {"nodeConfig": {"shieldedInstanceConfig": {"enableIntegrityMonitoring": False}}},
     "GKE 5.5.6", "enableIntegrityMonitoring is false"),
    ("gke-node-image-cos", {"nodeConfig": {"imageType": "UBUNTU_CONTAINERD"}}, "GKE 5.5.1", "'UBUNTU_CONTAINERD'"),
    ("gke-intranode-visibility", {"enableIntranodeVisibility": DROP}, "GKE 5.6.1", "enableIntranodeVisibility is None"),
    ("gke-vpc-native", {"networkingMode": "ROUTES", "ipAllocationPolicy": DROP}, "GKE 5.6.2", "not VPC-native"),
    ("gke-authorized-networks", {"masterAuthorizedNetworksConfig": DROP}, "GKE 5.6.3", "is not set"),
    ("gke-authorized-networks", {"masterAuthorizedNetworksConfig": {"cidrBlocks": [{"cidrBlock": "0.0.0.0/0"}]}},
     "GKE 5.6.3", "authorizes 0.0.0.0/0"),
    ("gke-authorized-networks", {"masterAuthorizedNetworksConfig": {"gcpPublicCidrsAccessEnabled": True}},
     "GKE 5.6.3", "every Google Cloud VM"),
    ("gke-logging-monitoring", {"loggingConfig": {"enableComponents": ["SYSTEM_COMPONENTS"]}}, "GKE 5.7.1",
     "loggingConfig WORKLOADS"),
    ("gke-no-client-certificates", {"masterAuth": {"clientCertificateConfig": {"issueClientCertificate": True}}},
     "GKE 5.8.1", "issueClientCertificate is true"),
    ("gke-no-legacy-abac", {"enableLegacyAbac": True}, "GKE 5.8.3", "enableLegacyAbac is true"),
    ("gke-no-alpha-features", {"enableKubernetesAlpha": True}, "GKE 5.10.2", "enableKubernetesAlpha is true"),
    ("gke-security-posture", {"securityPostureConfig": {"mode": "DISABLED"}}, "GKE 5.10.4", "'DISABLED'"),
    ("gke-binary-authorization", {"binaryAuthorization": {"evaluationMode": "DISABLED"}}, "GKE 5.1.4", "'DISABLED'"),
    ("gke-boot-disk-cmek", {"nodeConfig": {"bootDiskKmsKey": DROP}}, "GKE 5.9.2", "bootDiskKmsKey is not set"),
    ("cluster-endpoint-private", {"privateClusterConfig": {"enablePrivateEndpoint": False}}, "GKE 5.6.4",
     "public IP endpoint"),
]


@pytest.mark.parametrize(("policy", "patch", "item", "fragment"), CLUSTER_CASES)
def test_broken_gke_cluster_fails_naming_its_item(policy: str, patch: dict[str, Any], item: str, fragment: str) -> None:
    [finding] = run(policy, GKE, patched(GKE_CLUSTER, patch))
    assert fragment in finding.message
    assert item in (finding.cis or BY_ID[policy].cis)


def test_defaults_that_are_compliant_may_be_left_out() -> None:
    """Absent legacy ABAC, client certificates, alpha features, COS and auto-repair are the
    provider's compliant defaults; secure boot, posture and intranode visibility are not."""
    bare = patched(GKE_CLUSTER, {"enableLegacyAbac": DROP, "masterAuth": DROP, "enableKubernetesAlpha": DROP,
                                 "nodeConfig": {"imageType": DROP}})
    for policy in ("gke-no-legacy-abac", "gke-no-client-certificates", "gke-no-alpha-features", "gke-node-image-cos"):
        assert run(policy, GKE, bare) == [], policy
    assert run("gke-node-auto-repair-upgrade", POOL, patched(gke_pool(), {"management": DROP})) == []
    assert run("gke-shielded-nodes", POOL, patched(gke_pool(), {"nodeConfig": {"shieldedInstanceConfig": DROP}}))
    assert run("gke-security-posture", GKE, patched(GKE_CLUSTER, {"securityPostureConfig": DROP}))


def test_a_removed_default_pool_has_no_node_settings_to_judge() -> None:
    cluster = patched(GKE_CLUSTER, {"nodeConfig": DROP})
    assert run("gke-shielded-nodes", GKE, cluster) == [] and run("gke-boot-disk-cmek", GKE, cluster) == []


@pytest.mark.parametrize(("field", "item"), [("autoRepair", "GKE 5.5.2"), ("autoUpgrade", "GKE 5.5.3")])
def test_pools_repair_and_upgrade(field: str, item: str) -> None:
    [finding] = run("gke-node-auto-repair-upgrade", POOL, patched(gke_pool(), {"management": {field: False}}))
    assert finding.cis == (item,) and "REGULAR or STABLE" in finding.fix


def test_pool_without_cmek_boot_disk_fails() -> None:
    [finding] = run("gke-boot-disk-cmek", POOL, patched(gke_pool(), {"nodeConfig": {"bootDiskKmsKey": DROP}}))
    assert "tfplat:cluster.disk_encryption: cmek" in finding.fix


# ------------------------------------------------------------------------------ EKS


def test_tfplat_shaped_eks_passes() -> None:
    for policy in ("eks-control-plane-logs", "eks-access-entries", "cluster-endpoint-private"):
        assert run(policy, EKS, EKS_CLUSTER) == [], policy
    assert run("eks-node-volumes-cmek", LT, TEMPLATE) == []


def test_every_log_type() -> None:
    [finding] = run("eks-control-plane-logs", EKS, patched(EKS_CLUSTER, {"enabledClusterLogTypes": ["api"]}))
    assert "audit, authenticator, controllerManager, scheduler" in finding.message


def test_access_entries_not_aws_auth() -> None:
    [finding] = run("eks-access-entries", EKS, patched(EKS_CLUSTER, {"accessConfig": {"authenticationMode":
                                                                                        "CONFIG_MAP"}}))
    assert "aws-auth" in finding.message


def test_eks_public_endpoint() -> None:
    public = patched(EKS_CLUSTER, {"vpcConfig": {"endpointPublicAccess": True, "publicAccessCidrs": ["10.1.0.0/16"]}})
    [finding] = run("cluster-endpoint-private", EKS, public)
    assert finding.cis == ("EKS 5.4.2",)
    open_ = patched(EKS_CLUSTER, {"vpcConfig": {"endpointPublicAccess": True, "publicAccessCidrs": ["0.0.0.0/0"]}})
    assert [f.cis for f in run("cluster-endpoint-private", EKS, open_)] == [("EKS 5.4.2",), ("EKS 5.4.1",)]


def _cluster() -> Any:
    return res(EKS, "eks", EKS_CLUSTER)


def test_control_plane_log_group_in_the_stack() -> None:
    cluster = _cluster()
    group = res(LOGS, "eks-control-plane-logs", {"name": "/aws/eks/tfplat-prod-aws/cluster", "retentionInDays": 365,
                                                 "kmsKeyId": "arn:aws:kms:us-east-1:1:key/l"})
    assert run_stack("eks-control-plane-log-group", [cluster, group]) == []
    [missing] = run_stack("eks-control-plane-log-group", [cluster])
    assert "keeps its logs forever" in missing.message and missing.resource == cluster
    bare = res(LOGS, "g", {"name": "/aws/eks/tfplat-prod-aws/cluster"})
    assert [f.message for f in run_stack("eks-control-plane-log-group", [cluster, bare])] == [
        "log group 'g' has no retentionInDays: logs are kept forever",
        "log group 'g' has no kmsKeyId: logs are encrypted with CloudWatch's key"]


def test_imdsv2_through_the_launch_template() -> None:
    template = res(LT, "eks-l4", TEMPLATE)
    group = res(GROUP, "eks-l4", {**EKS_GPU_GROUP, "launchTemplate": {"id": "lt-1", "version": "1"}},
                deps=(template.urn,), prop_deps={"launchTemplate": (template.urn,)})
    assert run_stack("eks-node-imdsv2", [template, group]) == []
    bare = res(GROUP, "eks-old", EKS_GPU_GROUP)
    [finding] = run_stack("eks-node-imdsv2", [bare])
    assert "no launch template" in finding.message and finding.resource == bare
    v1 = res(LT, "eks-l4", patched(TEMPLATE, {"metadataOptions": {"httpTokens": "optional",
                                                                  "httpPutResponseHopLimit": 2}}))
    group = res(GROUP, "eks-l4", {**EKS_GPU_GROUP, "launchTemplate": {"id": "lt-1"}}, deps=(v1.urn,))
    assert [f.message for f in run_stack("eks-node-imdsv2", [v1, group])] == [
        "launch template 'eks-l4' allows IMDSv1 (httpTokens 'optional')",
        "launch template 'eks-l4' has a metadata hop limit of 2 (at most 1): pods reach the instance metadata service"]
    assert len(run_stack("eks-node-imdsv2", [v1, group], {"maxHopLimit": 2})) == 1


def test_node_volumes_with_the_stacks_key() -> None:
    aws_key = patched(TEMPLATE, {"blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"encrypted": "true"}}]})
    assert [f.message for f in run("eks-node-volumes-cmek", LT, aws_key)] == [
        "volume '/dev/xvda' is encrypted with the AWS-managed key, not the stack's"]
    plain = patched(TEMPLATE, {"blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {}}]})
    assert [f.message for f in run("eks-node-volumes-cmek", LT, plain)] == ["volume '/dev/xvda' is not encrypted"]


def test_network_policies_need_an_enforcing_data_plane() -> None:
    gke = res(GKE, "gke", GKE_CLUSTER)
    assert run_stack("cluster-network-policy-enforced", [gke]) == []
    legacy = res(GKE, "gke", patched(GKE_CLUSTER, {"datapathProvider": "LEGACY_DATAPATH"}))
    netpol = res("kubernetes:networking.k8s.io/v1:NetworkPolicy", "np", {"metadata": {"name": "np"}})
    [finding] = run_stack("cluster-network-policy-enforced", [legacy, netpol])
    assert "the stack's 1 NetworkPolicies would be accepted and do nothing" in finding.message
    calico = res(GKE, "gke", patched(GKE_CLUSTER, {"datapathProvider": "LEGACY_DATAPATH",
                                                   "networkPolicy": {"enabled": True}}))
    assert run_stack("cluster-network-policy-enforced", [calico]) == []

    cluster = _cluster()
    addon = "aws:eks/addon:Addon"
    on = res(addon, "cni", {"addonName": "vpc-cni", "clusterName": "tfplat-prod-aws",
                            "configurationValues": json.dumps({"enableNetworkPolicy": "true"})})
    off = res(addon, "cni", {"addonName": "vpc-cni", "clusterName": "tfplat-prod-aws"})
    assert run_stack("cluster-network-policy-enforced", [cluster, on]) == []
    [finding] = run_stack("cluster-network-policy-enforced", [cluster, off])
    assert finding.cis == ("EKS 4.3.1", "EKS 5.4.4") and "enableNetworkPolicy" in finding.fix
    cilium = res("kubernetes:helm.sh/v3:Release", "cilium", {"chart": "cilium"})
    assert run_stack("cluster-network-policy-enforced", [cluster, off, cilium]) == []
