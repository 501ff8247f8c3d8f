"""Node autoscaling under the mock engine: the cluster autoscaler on prod-aws (identity,
release, node groups it can scale from zero), and GKE's own pool autoscaling elsewhere."""

from __future__ import annotations

import json

import pytest

from infra.plan import aws_autoscaler as ca
from infra.plan.aws_controllers import ClusterScope
from tests.conftest import STACKS, shared_run
from tests.program.records import Run, named, of_type, one_of_type

ACCOUNT = "111122223333"  # stacks/Pulumi.prod-aws.yaml
CLUSTER = "tfplat-prod-aws"
COMPONENT = "tfplat:aws:ClusterAutoscaler"
RELEASE = "kubernetes:helm.sh/v3:Release"
ROLE, POLICY = "aws:iam/role:Role", "aws:iam/rolePolicy:RolePolicy"
ASSOCIATION = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
TEMPLATE = "k8s.io/cluster-autoscaler/node-template/"


@pytest.fixture(scope="module")
def run() -> Run:
    return shared_run("prod-aws")


def _children(run: Run) -> list[str]:
    component = one_of_type(run, COMPONENT)
    return sorted(r.type for r in run[1].records if r.parent == component.urn)


def test_component_holds_identity_and_release(run: Run) -> None:
    assert _children(run) == sorted([ROLE, POLICY, ASSOCIATION, RELEASE])


def test_role_is_trusted_by_pod_identity_for_the_autoscaler(run: Run) -> None:
    role = named(run, ROLE, "cluster-autoscaler-role")
    assert role.inputs["name"] == "tfplat-prod-aws-cluster-autoscaler"
    assert json.loads(role.inputs["assumeRolePolicy"]) == ca.pod_identity_trust(CLUSTER)


def test_inline_policy_is_scoped_by_the_cluster_arn(run: Run) -> None:
    policy = named(run, POLICY, "cluster-autoscaler-policy")
    scope = ClusterScope.from_cluster_arn(f"arn:aws:eks:us-east-1:{ACCOUNT}:cluster/{CLUSTER}")
    assert json.loads(policy.inputs["policy"]) == ca.autoscaler_policy(scope)
    assert named(run, ROLE, "cluster-autoscaler-role").urn in policy.depends_on


def test_association_binds_the_service_account_after_the_agent(run: Run) -> None:
    assoc = named(run, ASSOCIATION, "cluster-autoscaler-pod-identity")
    i = assoc.inputs
    assert (i["clusterName"], i["namespace"], i["serviceAccount"]) == (CLUSTER, "kube-system", "cluster-autoscaler")
    assert i["roleArn"] == f"arn:aws:iam::{ACCOUNT}:role/tfplat-prod-aws-cluster-autoscaler"
    assert named(run, "aws:eks/addon:Addon", "eks-eks-pod-identity-agent").urn in assoc.depends_on


def test_release_is_pinned_and_waits_for_its_identity(run: Run) -> None:
    plan, _ = run
    rel = named(run, RELEASE, "cluster-autoscaler")
    pins = ca.autoscaler_pins(plan.stack.cluster.version)
    i = rel.inputs
    assert (i["name"], i["namespace"], i["chart"], i["version"]) == (
        "cluster-autoscaler", "kube-system", "cluster-autoscaler", pins.chart.version)
    assert i["repositoryOpts"] == {"repo": "https://kubernetes.github.io/autoscaler"} and i["createNamespace"] is False
    assert i["values"] == ca.helm_values(plan.cloud, pins.image)
    assert i["values"]["image"]["tag"] == "v1.34.5"  # prod-aws runs Kubernetes 1.34
    assert {named(run, ASSOCIATION, "cluster-autoscaler-pod-identity").urn,
            named(run, POLICY, "cluster-autoscaler-policy").urn} <= set(rel.depends_on)
    provider = one_of_type(run, "pulumi:providers:kubernetes")
    assert rel.provider is not None and rel.provider.startswith(provider.urn)


def test_discovery_names_the_real_cluster(run: Run) -> None:
    cluster = one_of_type(run, "aws:eks/cluster:Cluster").inputs["name"]
    tags = named(run, RELEASE, "cluster-autoscaler").inputs["values"]["autoDiscovery"]["tags"]
    assert tags == ["k8s.io/cluster-autoscaler/enabled", f"k8s.io/cluster-autoscaler/{cluster}"]


def test_node_groups_describe_their_nodes_to_the_autoscaler(run: Run) -> None:
    plan, _ = run
    for record in of_type(run, NODE_GROUP):
        i = record.inputs
        tags, labels = i["tags"], i["labels"]
        pool = plan.cloud.pools[i["tags"]["tfplat:pool"]]
        # Every label of the group is announced, with its value, and nothing else.
        assert {k.removeprefix(f"{TEMPLATE}label/"): v for k, v in tags.items()
                if k.startswith(f"{TEMPLATE}label/")} == labels, record.name
        assert {k.removeprefix(f"{TEMPLATE}taint/"): v for k, v in tags.items() if k.startswith(f"{TEMPLATE}taint/")} \
            == {t["key"]: f"{t['value']}:NoSchedule" for t in i["taints"]}, record.name
        assert tags[f"{TEMPLATE}resources/ephemeral-storage"] == f"{ca.ephemeral_storage_gi(pool.disk_size_gb)}Gi"
        assert (f"{TEMPLATE}resources/nvidia.com/gpu" in tags) == (pool.kind == "gpu")
        # The autoscaler owns the desired size; Pulumi keeps only the bounds.
        assert "scalingConfig.desiredSize" in record.options.get("ignoreChanges", [])


def test_gpu_group_is_marked_for_the_autoscaler(run: Run) -> None:
    l4 = named(run, NODE_GROUP, "eks-l4").inputs
    assert l4["labels"]["k8s.amazonaws.com/accelerator"] == "nvidia-l4"
    assert l4["tags"][f"{TEMPLATE}resources/nvidia.com/gpu"] == "1"
    assert l4["tags"][f"{TEMPLATE}taint/nvidia.com/gpu"] == "present:NoSchedule"


# --------------------------------------------------------------------------- GKE


@pytest.mark.parametrize("stack", [s for s in STACKS if s != "prod-aws"])
def test_gke_pools_autoscale_on_their_own(stack: str) -> None:
    plan, result = shared_run(stack)
    assert not [r for r in result.records if r.type == COMPONENT]
    pools = [r for r in result.records if r.type == "gcp:container/nodePool:NodePool"]
    assert pools
    for pool in pools:
        scaling = pool.inputs["autoscaling"]
        key = pool.inputs["namePrefix"].removesuffix("-")
        p = plan.cloud.pools[key]
        assert (scaling["totalMinNodeCount"], scaling["totalMaxNodeCount"]) == (p.min_nodes, p.max_nodes), pool.name
