"""cluster-private-nodes, eks-nodes-private-subnets, cluster-workload-identity, eks-pod-identity-agent,
network-flow-logs, cluster-secrets-encryption, cluster-release-channel."""

from __future__ import annotations

from typing import Any

import pytest

from tests.policies.factories import (
    DROP,
    EKS_CLUSTER,
    EKS_GPU_GROUP,
    GKE_CLUSTER,
    gke_pool,
    messages,
    patched,
    res,
    run,
    run_stack,
)

GKE = "gcp:container/cluster:Cluster"
POOL = "gcp:container/nodePool:NodePool"
EKS = "aws:eks/cluster:Cluster"
GROUP = "aws:eks/nodeGroup:NodeGroup"
ADDON = "aws:eks/addon:Addon"
SUBNET = "aws:ec2/subnet:Subnet"
TABLE = "aws:ec2/routeTable:RouteTable"
ASSOC = "aws:ec2/routeTableAssociation:RouteTableAssociation"
ROUTE = "aws:ec2/route:Route"


@pytest.mark.parametrize(("type_", "props"), [(GKE, GKE_CLUSTER), (POOL, gke_pool()), (EKS, EKS_CLUSTER),
                                              (GROUP, EKS_GPU_GROUP)])
def test_tfplat_shaped_clusters_pass_every_cluster_policy(type_: str, props: dict[str, Any]) -> None:
    for policy in ("cluster-private-nodes", "cluster-workload-identity", "cluster-secrets-encryption",
                   "cluster-release-channel"):
        assert run(policy, type_, props) == [], policy


def test_gke_nodes_with_public_ips_fail() -> None:
    findings = run("cluster-private-nodes", GKE, patched(GKE_CLUSTER, {"privateClusterConfig": DROP}))
    assert messages(findings) == ["privateClusterConfig.enablePrivateNodes is not true, so nodes get public IPs"]
    assert "tfplat:cluster.endpoint.public" in findings[0].fix
    public_pool = {**gke_pool(), "networkConfig": {"enablePrivateNodes": False}}
    assert messages(run("cluster-private-nodes", POOL, public_pool)) == [
        "networkConfig.enablePrivateNodes is false, so this pool's nodes get public IPs"]


def test_eks_without_private_api_access_or_with_open_ssh_fails() -> None:
    closed = patched(EKS_CLUSTER, {"vpcConfig": {"endpointPrivateAccess": False}})
    assert messages(run("cluster-private-nodes", EKS, closed)) == [
        "vpcConfig.endpointPrivateAccess is not true, so nodes reach the API over the internet"]
    ssh = {**EKS_GPU_GROUP, "remoteAccess": {"ec2SshKey": "ops"}}
    assert messages(run("cluster-private-nodes", GROUP, ssh)) == [
        "remoteAccess without sourceSecurityGroupIds opens SSH to the nodes from anywhere"]
    assert run("cluster-private-nodes", GROUP, {**ssh, "remoteAccess": {"ec2SshKey": "ops",
                                                                        "sourceSecurityGroupIds": ["sg-1"]}}) == []


def _network(public_route: str = "inline") -> list[Any]:
    """A VPC like tfplat's: a private subnet behind NAT and a public one behind an internet gateway."""
    private = res(SUBNET, "private-a", {"cidrBlock": "10.0.0.0/19"})
    public = res(SUBNET, "public-a", {"cidrBlock": "10.0.224.0/24", "mapPublicIpOnLaunch": False})
    nat_table = res(TABLE, "private-a", {"routes": [{"cidrBlock": "0.0.0.0/0", "natGatewayId": "nat-1"}]})
    igw_routes = [{"cidrBlock": "0.0.0.0/0", "gatewayId": "igw-1"}] if public_route == "inline" else []
    igw_table = res(TABLE, "public", {"routes": igw_routes})
    out = [private, public, nat_table, igw_table,
           res(ASSOC, "private-a", {}, deps=(nat_table.urn, private.urn)),
           res(ASSOC, "public-a", {}, deps=(igw_table.urn, public.urn))]
    if public_route == "resource":
        out.append(res(ROUTE, "public-default", {"destinationCidrBlock": "0.0.0.0/0", "gatewayId": "igw-1"},
                       deps=(igw_table.urn,)))
    return out


def test_node_groups_in_private_subnets_pass() -> None:
    network = _network()
    group = res(GROUP, "eks-l4", EKS_GPU_GROUP, deps=(network[0].urn,))
    assert run_stack("eks-nodes-private-subnets", [*network, group]) == []


@pytest.mark.parametrize("public_route", ["inline", "resource"])
def test_a_node_group_in_a_subnet_routed_to_an_internet_gateway_fails(public_route: str) -> None:
    network = _network(public_route)
    group = res(GROUP, "eks-l4", EKS_GPU_GROUP, deps=(network[0].urn, network[1].urn))
    findings = run_stack("eks-nodes-private-subnets", [*network, group])
    assert messages(findings) == [
        "node group 'eks-l4' runs in subnet 'public-a', which routes 0.0.0.0/0 to an internet gateway"]
    assert findings[0].resource == group
    assert "tfplat:aws.network.existing.private_subnet_ids" in findings[0].fix


def test_a_node_group_in_a_subnet_mapping_public_ips_fails() -> None:
    subnet = res(SUBNET, "odd", {"mapPublicIpOnLaunch": True})
    group = res(GROUP, "eks-cpu", EKS_GPU_GROUP, deps=(subnet.urn,), prop_deps={"subnetIds": (subnet.urn,)})
    assert messages(run_stack("eks-nodes-private-subnets", [subnet, group])) == [
        "node group 'eks-cpu' runs in subnet 'odd', which maps public IPs on launch"]


def test_workload_identity_on_gke() -> None:
    findings = run("cluster-workload-identity", GKE, patched(GKE_CLUSTER, {"workloadIdentityConfig": DROP}))
    assert messages(findings) == [
        "workloadIdentityConfig.workloadPool is not set, so pods would use the node's identity"]
    leaky = gke_pool(workloadMetadataConfig={"mode": "GCE_METADATA"})
    assert messages(run("cluster-workload-identity", POOL, leaky)) == [
        "nodeConfig.workloadMetadataConfig.mode is 'GCE_METADATA', not GKE_METADATA: pods reach the node's metadata "
        "server and its credentials"]
    # CIS GKE 5.4.1: every pool says so itself; a pool that leaves it out fails too.
    silent = patched(gke_pool(), {"nodeConfig": {"workloadMetadataConfig": DROP}})
    [finding] = run("cluster-workload-identity", POOL, silent)
    assert finding.cis == ("GKE 5.4.1",) and "None, not GKE_METADATA" in finding.message


def test_every_eks_cluster_needs_the_pod_identity_agent() -> None:
    cluster = res(EKS, "eks", EKS_CLUSTER)
    by_dependency = res(ADDON, "agent", {"addonName": "eks-pod-identity-agent", "clusterName": "x"},
                        deps=(cluster.urn,))
    by_name = res(ADDON, "agent", {"addonName": "eks-pod-identity-agent", "clusterName": "tfplat-prod-aws"})
    assert run_stack("eks-pod-identity-agent", [cluster, by_dependency]) == []
    assert run_stack("eks-pod-identity-agent", [cluster, by_name]) == []
    coredns = res(ADDON, "coredns", {"addonName": "coredns", "clusterName": "tfplat-prod-aws"}, deps=(cluster.urn,))
    findings = run_stack("eks-pod-identity-agent", [cluster, coredns])
    assert messages(findings) == ["EKS cluster 'eks' has no eks-pod-identity-agent add-on, so its "
                                  "PodIdentityAssociations never reach the pods"]
    assert findings[0].resource == cluster


def test_secrets_encryption() -> None:
    plain = patched(GKE_CLUSTER, {"databaseEncryption": {"state": "DECRYPTED", "keyName": ""}})
    findings = run("cluster-secrets-encryption", GKE, plain)
    assert messages(findings) == ["Secrets in etcd are not encrypted with a KMS key (databaseEncryption state "
                                  "'DECRYPTED')"]
    assert "tfplat:gcp.kms_key" in findings[0].fix
    findings = run("cluster-secrets-encryption", EKS, patched(EKS_CLUSTER, {"encryptionConfig": DROP}))
    assert messages(findings) == ["encryptionConfig does not encrypt 'secrets' with a KMS key"]
    assert "tfplat:aws.kms_key_arn" in findings[0].fix


def test_release_channel_is_regular_or_stable() -> None:
    """CIS GKE 5.5.4: a pinned version without a channel turns node auto-upgrade off, so it fails too."""
    for channel in ("REGULAR", "STABLE"):
        assert run("cluster-release-channel", GKE, patched(GKE_CLUSTER, {"releaseChannel": {"channel": channel}})) == []
    pinned = patched(GKE_CLUSTER, {"releaseChannel": {"channel": "UNSPECIFIED"}})
    findings = run("cluster-release-channel", GKE, pinned)
    assert messages(findings) == ["release channel 'UNSPECIFIED': UNSPECIFIED turns node auto-upgrade off, so nodes "
                                  "miss security patches even with a pinned version"]
    assert "tfplat:cluster.release_channel to REGULAR or STABLE" in findings[0].fix
    rapid = patched(GKE_CLUSTER, {"releaseChannel": {"channel": "RAPID"}})
    assert messages(run("cluster-release-channel", GKE, rapid)) == [
        "release channel 'RAPID': RAPID gets versions before they are broadly proven"]
    assert messages(run("cluster-release-channel", EKS, patched(EKS_CLUSTER, {"version": DROP}))) == [
        "no Kubernetes version pinned: EKS would pick its default and upgrades would be untracked"]


def test_every_vpc_and_vm_subnet_logs_its_flows() -> None:
    vpc = res("aws:ec2/vpc:Vpc", "network-vpc", {"cidrBlock": "10.0.0.0/16"})
    other = res("aws:ec2/vpc:Vpc", "other-vpc", {"cidrBlock": "10.1.0.0/16"})
    log = res("aws:ec2/flowLog:FlowLog", "network-flow-logs", {"trafficType": "ALL"},
              deps=(vpc.urn,), prop_deps={"vpcId": (vpc.urn,), "logDestination": ("bucket",)})
    assert run_stack("network-flow-logs", [vpc, log]) == []
    findings = run_stack("network-flow-logs", [vpc, other, log])
    assert messages(findings) == ["VPC 'other-vpc' has no flow log: no record of which pods and nodes talked to what"]
    assert findings[0].resource == other
    # a flow log of another VPC does not count
    elsewhere = res("aws:ec2/flowLog:FlowLog", "elsewhere", {}, deps=(other.urn,), prop_deps={"vpcId": (other.urn,)})
    assert messages(run_stack("network-flow-logs", [vpc, elsewhere])) == [
        "VPC 'network-vpc' has no flow log: no record of which pods and nodes talked to what"]
    subnet = "gcp:compute/subnetwork:Subnetwork"
    logged = res(subnet, "nodes", {"logConfig": {"aggregationInterval": "INTERVAL_5_MIN"}})
    proxy = res(subnet, "proxy", {"purpose": "REGIONAL_MANAGED_PROXY"})
    silent = res(subnet, "silent", {"ipCidrRange": "10.2.0.0/20"})
    off = res(subnet, "off", {"logConfig": {"enable": False}})
    assert messages(run_stack("network-flow-logs", [logged, proxy, silent, off])) == [
        "subnet 'silent' does not log its flows", "subnet 'off' does not log its flows"]
