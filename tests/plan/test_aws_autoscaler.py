"""The cluster autoscaler's planner: pins, node group shape, IAM, Helm values. Plain pytest."""

from __future__ import annotations

from dataclasses import replace
import json
from pathlib import Path
import re
import subprocess
import sys
from typing import Any

import pytest
import yaml

from infra.bounded_yaml import YamlFileError
from infra.config.loader import load
from infra.offline.plan import check_objects
from infra.plan import aws_autoscaler as ca
from infra.plan import charts
from infra.plan.aws_controllers import INLINE_POLICY_LIMIT, ClusterScope, policy_json
from infra.plan.cloud import PoolPlan, Taint
from infra.plan.stack import StackPlan, plan_stack
from infra.rules.cluster import SUPPORTED_KUBERNETES_VERSIONS
from tests.conftest import REPO, versions_file

ACCOUNT = "111122223333"  # stacks/Pulumi.prod-aws.yaml
# Every action of upstream's "Full Cluster Autoscaler Features Policy (Recommended)"
# (kubernetes/autoscaler cluster-autoscaler/cloudprovider/aws/README.md).
UPSTREAM_ACTIONS = frozenset({
    "autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeAutoScalingInstances",
    "autoscaling:DescribeLaunchConfigurations", "autoscaling:DescribeScalingActivities",
    "ec2:DescribeImages", "ec2:DescribeInstanceTypes", "ec2:DescribeLaunchTemplateVersions",
    "ec2:GetInstanceTypesFromInstanceRequirements", "eks:DescribeNodegroup",
    "autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup",
})
WRITES = frozenset({"autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"})
# Label values: at most 63 characters of [A-Za-z0-9_.-], alphanumeric at both ends.
LABEL_VALUE = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?)?$")


@pytest.fixture(scope="module")
def plan() -> StackPlan:
    return plan_stack(load(REPO, "prod-aws"))


def _scope(cluster: str = "tfplat-prod-aws") -> ClusterScope:
    return ClusterScope.from_cluster_arn(f"arn:aws:eks:us-east-1:{ACCOUNT}:cluster/{cluster}")


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def test_planner_never_imports_pulumi() -> None:
    code = "import sys, infra.plan.aws_autoscaler; sys.exit(any(m.split('.')[0] == 'pulumi' for m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO, check=False).returncode == 0


# --------------------------------------------------------------------------- pins


def test_chart_is_pinned_exactly() -> None:
    c = charts.chart(charts.CLUSTER_AUTOSCALER)
    assert (c.repository, c.chart, c.version) == ("https://kubernetes.github.io/autoscaler", "cluster-autoscaler",
                                                  "9.59.0")


@pytest.mark.parametrize("version", SUPPORTED_KUBERNETES_VERSIONS)
def test_every_supported_minor_runs_the_autoscaler_of_that_minor(version: str) -> None:
    image = ca.autoscaler_image(version)
    assert image.repository == "registry.k8s.io/autoscaling/cluster-autoscaler"
    assert image.tag.startswith(f"v{version}.")
    assert image.digest is None or re.fullmatch(r"sha256:[0-9a-f]{64}", image.digest)
    # The chart writes the tag, minus "v", into app.kubernetes.io/version.
    assert LABEL_VALUE.match(image.tag.removeprefix("v"))


def _versions(tmp_path: Path, releases: str) -> Path:
    return versions_file(tmp_path, cluster_autoscaler={
        "repository": "registry.k8s.io/autoscaling/cluster-autoscaler", "releases": yaml.safe_load(releases)})


@pytest.mark.parametrize(("releases", "message"), [
    ('"1.33": {tag: v1.33.6, digest: null}\n', "no entry for Kubernetes 1.34 (have: 1.33)"),
    ('"1.34": {tag: v1.33.6, digest: null}\n', "built for Kubernetes 1.33"),
])
def test_missing_or_mismatched_image_pins_are_refused(tmp_path: Path, releases: str, message: str) -> None:
    with pytest.raises(ca.AutoscalerPinError, match=re.escape(message)):
        ca.autoscaler_image("1.34", _versions(tmp_path, releases))


@pytest.mark.parametrize(("releases", "field", "message"), [
    ('"1.34": {tag: v1.34, digest: null}\n', "cluster_autoscaler.releases.1.34.tag", "exact released version"),
    ('"1.34": {tag: latest, digest: null}\n', "cluster_autoscaler.releases.1.34.tag", "exact released version"),
    ('"1.34": {tag: v1.34.5, digest: "5c3a"}\n', "cluster_autoscaler.releases.1.34.digest", "sha256:[0-9a-f]{64}"),
])
def test_loose_image_pins_are_refused_by_the_schema(tmp_path: Path, releases: str, field: str, message: str) -> None:
    with pytest.raises(YamlFileError) as err:
        ca.autoscaler_image("1.34", _versions(tmp_path, releases))
    assert err.value.field == field and message in err.value.render()


# --------------------------------------------------------------------------- node groups


def _pool(plan: StackPlan, key: str) -> PoolPlan:
    return plan.cloud.pools[key]


def test_gpu_nodes_carry_the_autoscalers_gpu_label(plan: StackPlan) -> None:
    l4, cpu = _pool(plan, "l4"), _pool(plan, "cpu")
    assert ca.node_labels(l4) == {**l4.labels, "k8s.amazonaws.com/accelerator": "nvidia-l4"}
    assert ca.node_labels(cpu) == dict(cpu.labels)


def test_a_gpu_group_at_zero_is_described_by_its_tags(plan: StackPlan) -> None:
    tags = ca.node_template_tags(_pool(plan, "l4"))
    t = "k8s.io/cluster-autoscaler/node-template/"
    assert tags == {
        f"{t}label/k8s.amazonaws.com/accelerator": "nvidia-l4",
        f"{t}label/tfplat.dev/accelerator": "nvidia-l4",
        f"{t}label/tfplat.dev/pool": "l4",
        f"{t}label/tfplat.dev/role": "serving",
        f"{t}taint/nvidia.com/gpu": "present:NoSchedule",
        f"{t}resources/ephemeral-storage": "89Gi",
        f"{t}resources/nvidia.com/gpu": "1",
    }


def test_cpu_groups_get_labels_and_storage_but_no_gpu(plan: StackPlan) -> None:
    tags = ca.node_template_tags(_pool(plan, "cpu"))
    assert not [k for k in tags if "taint/" in k or "nvidia" in k or "k8s.amazonaws.com" in k]
    assert tags["k8s.io/cluster-autoscaler/node-template/resources/ephemeral-storage"].endswith("Gi")


def test_template_taints_follow_the_pool(plan: StackPlan) -> None:
    pool = replace(_pool(plan, "cpu"), taints=(Taint(key="dedicated", value="batch", effect="NoExecute"),))
    assert ca.node_template_tags(pool)["k8s.io/cluster-autoscaler/node-template/taint/dedicated"] == "batch:NoExecute"


@pytest.mark.parametrize(("disk", "allocatable"), [(20, 17), (100, 89), (200, 179), (1, 1)])
def test_ephemeral_storage_is_never_overstated(disk: int, allocatable: int) -> None:
    got = ca.ephemeral_storage_gi(disk)
    assert got == allocatable and (got <= disk * 0.9 or disk == 1)


# --------------------------------------------------------------------------- IAM


def _statements(doc: dict[str, Any]) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = doc["Statement"]
    return statements


def test_policy_grants_exactly_the_upstream_actions() -> None:
    actions = [a for s in _statements(ca.autoscaler_policy(_scope())) for a in _as_list(s["Action"])]
    assert sorted(actions) == sorted(UPSTREAM_ACTIONS)
    for s in _statements(ca.autoscaler_policy(_scope())):
        assert s["Effect"] == "Allow" and not [a for a in _as_list(s["Action"]) if "*" in a], s["Sid"]


def test_only_this_clusters_groups_can_be_resized() -> None:
    (write,) = [s for s in _statements(ca.autoscaler_policy(_scope())) if WRITES & set(_as_list(s["Action"]))]
    assert set(write["Action"]) == WRITES
    assert write["Resource"] == f"arn:aws:autoscaling:us-east-1:{ACCOUNT}:autoScalingGroup:*:autoScalingGroupName/*"
    assert write["Condition"] == {"StringEquals": {
        "aws:ResourceTag/k8s.io/cluster-autoscaler/enabled": "true",
        "aws:ResourceTag/k8s.io/cluster-autoscaler/tfplat-prod-aws": "owned"}}


def test_nodegroup_reads_are_scoped_to_the_cluster() -> None:
    (read,) = [s for s in _statements(ca.autoscaler_policy(_scope())) if "eks:DescribeNodegroup" in s["Action"]]
    assert read["Resource"] == f"arn:aws:eks:us-east-1:{ACCOUNT}:nodegroup/tfplat-prod-aws/*/*"


def test_two_clusters_in_one_account_stay_apart() -> None:
    prod = json.dumps(ca.autoscaler_policy(_scope("tfplat-prod-aws")))
    dev = json.dumps(ca.autoscaler_policy(_scope("tfplat-dev-aws")))
    assert "tfplat-dev-aws" not in prod and "tfplat-prod-aws" not in dev


def test_policy_fits_in_a_role() -> None:
    assert len(policy_json(ca.autoscaler_policy(_scope()))) <= INLINE_POLICY_LIMIT


def test_trust_is_pod_identity_for_the_autoscaler_only() -> None:
    (s,) = ca.pod_identity_trust("tfplat-prod-aws")["Statement"]
    assert s["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert sorted(s["Action"]) == ["sts:AssumeRole", "sts:TagSession"]
    assert s["Condition"]["StringEquals"] == {
        "aws:RequestTag/eks-cluster-name": "tfplat-prod-aws",
        "aws:RequestTag/kubernetes-namespace": "kube-system",
        "aws:RequestTag/kubernetes-service-account": "cluster-autoscaler"}


# --------------------------------------------------------------------------- helm values


def test_helm_values(plan: StackPlan) -> None:
    image = ca.autoscaler_image("1.34")
    v = ca.helm_values(plan.cloud, image)
    assert (v["cloudProvider"], v["awsRegion"]) == ("aws", "us-east-1")
    assert v["autoDiscovery"] == {"clusterName": "tfplat-prod-aws", "tags": [
        "k8s.io/cluster-autoscaler/enabled", "k8s.io/cluster-autoscaler/tfplat-prod-aws"]}
    assert v["image"]["repository"] == image.repository and v["image"]["tag"] == image.tag == "v1.34.5"
    assert v["rbac"]["serviceAccount"] == {"create": True, "name": "cluster-autoscaler"}  # no IRSA annotation
    assert v["priorityClassName"] == "system-cluster-critical"
    assert v["replicaCount"] == 2 and v["podDisruptionBudget"] == {"maxUnavailable": 1}
    assert v["nodeSelector"] == {"tfplat.dev/role": "system"} and v["tolerations"] == []
    args = v["extraArgs"]
    assert args["skip-nodes-with-local-storage"] is False and args["balance-similar-node-groups"] is True
    assert args["expander"] == "least-waste"
    assert args["scale-down-unneeded-time"] == "10m" and args["scale-down-gpu-utilization-threshold"] == 0.5
    sc, pod = v["containerSecurityContext"], v["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]} and pod["runAsNonRoot"] is True and pod["runAsUser"] != 0
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    assert v["resources"]["requests"] and "cpu" not in v["resources"]["limits"]


def test_values_hold_no_credentials(plan: StackPlan) -> None:
    v = ca.helm_values(plan.cloud, ca.autoscaler_image("1.34"))
    assert not {"awsAccessKeyID", "awsSecretAccessKey"} & set(v)


def test_no_system_pool_is_an_error(plan: StackPlan) -> None:
    pools = {k: replace(p, role="serving") for k, p in plan.cloud.pools.items()}
    with pytest.raises(ValueError, match="no pool with role: system"):
        ca.helm_values(replace(plan.cloud, pools=pools), ca.autoscaler_image("1.34"))


def _chart_deployment(v: dict[str, Any]) -> dict[str, Any]:
    """The Deployment the chart's templates/deployment.yaml renders from these values (the
    fields our values reach), so the values are checked against Kubernetes' own schema."""
    labels = {"app.kubernetes.io/instance": ca.RELEASE_NAME, "app.kubernetes.io/name": "aws-cluster-autoscaler"}
    args = [f"--{k}={str(x).lower() if isinstance(x, bool) else x}" for k, x in sorted(v["extraArgs"].items())]
    container = {
        "name": "aws-cluster-autoscaler", "image": f"{v['image']['repository']}:{v['image']['tag']}",
        "imagePullPolicy": v["image"]["pullPolicy"],
        "command": ["./cluster-autoscaler", "--cloud-provider=aws", f"--namespace={ca.NAMESPACE}",
                    "--node-group-auto-discovery=asg:tag=" + ",".join(v["autoDiscovery"]["tags"]), *args],
        "env": [{"name": "AWS_REGION", "value": v["awsRegion"]}],
        "livenessProbe": {"httpGet": {"path": "/health-check", "port": 8085}},
        "ports": [{"containerPort": 8085}],
        "resources": v["resources"], "securityContext": v["containerSecurityContext"]}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": v["fullnameOverride"], "namespace": ca.NAMESPACE,
                         "labels": {**labels, "app.kubernetes.io/version": v["image"]["tag"].removeprefix("v")}},
            "spec": {"replicas": v["replicaCount"], "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {
                         "priorityClassName": v["priorityClassName"], "containers": [container],
                         "nodeSelector": v["nodeSelector"], "serviceAccountName": v["rbac"]["serviceAccount"]["name"],
                         "tolerations": v["tolerations"], "securityContext": v["securityContext"]}}}}


@pytest.mark.parametrize("version", SUPPORTED_KUBERNETES_VERSIONS)
def test_values_render_into_a_valid_deployment(plan: StackPlan, version: str) -> None:
    cloud = replace(plan.cloud, kubernetes_version=version)
    deployment = _chart_deployment(ca.helm_values(cloud, ca.autoscaler_image(version)))
    assert check_objects([deployment], version) == []
