"""The AWS Load Balancer Controller: pins, IAM, Helm values and GatewayClass (pure), then the
component under the mock engine on the prod-aws stack."""

from __future__ import annotations

from dataclasses import replace
import json
from pathlib import Path
import re
import subprocess
import sys
from typing import Any

import pulumi
import pytest
import yaml

from infra.bounded_yaml import YamlFileError
from infra.config.loader import load
from infra.offline import engine
from infra.offline.plan import check_objects, engine_config, project_name
from infra.plan import aws_controllers as controllers
from infra.plan import aws_lbc as lbc
from infra.plan.cloud import CloudPlan, Taint
from infra.plan.stack import StackPlan, plan_stack
from infra.rules import names
from infra.rules.images import VERSIONS_FILE
from tests.conftest import REPO, versions_file
from tests.program.records import Run, of_type, one_of_type

STACK = "prod-aws"
ACCOUNT = "111122223333"  # stacks/Pulumi.prod-aws.yaml
CLUSTER_ARN = f"arn:aws:eks:us-east-1:{ACCOUNT}:cluster/tfplat-prod-aws"

# Every action of docs/install/iam_policy.json at kubernetes-sigs/aws-load-balancer-controller
# v3.5.0 (the policy is unchanged since v3.4.2). The planner must grant exactly these.
UPSTREAM_ACTIONS = frozenset({
    "iam:CreateServiceLinkedRole",
    "ec2:DescribeAccountAttributes", "ec2:DescribeAddresses", "ec2:DescribeAvailabilityZones",
    "ec2:DescribeInternetGateways", "ec2:DescribeVpcs", "ec2:DescribeVpcPeeringConnections",
    "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups", "ec2:DescribeInstances", "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeTags", "ec2:GetCoipPoolUsage", "ec2:DescribeCoipPools", "ec2:GetSecurityGroupsForVpc",
    "ec2:DescribeIpamPools", "ec2:DescribeRouteTables",
    "elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeLoadBalancerAttributes",
    "elasticloadbalancing:DescribeListeners", "elasticloadbalancing:DescribeListenerCertificates",
    "elasticloadbalancing:DescribeSSLPolicies", "elasticloadbalancing:DescribeRules",
    "elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTargetGroupAttributes",
    "elasticloadbalancing:DescribeTargetHealth", "elasticloadbalancing:DescribeTags",
    "elasticloadbalancing:DescribeTrustStores", "elasticloadbalancing:DescribeListenerAttributes",
    "elasticloadbalancing:DescribeCapacityReservation",
    "cognito-idp:DescribeUserPoolClient", "acm:ListCertificates", "acm:DescribeCertificate",
    "iam:ListServerCertificates", "iam:GetServerCertificate", "waf-regional:GetWebACL",
    "waf-regional:GetWebACLForResource", "waf-regional:AssociateWebACL", "waf-regional:DisassociateWebACL",
    "wafv2:GetWebACL", "wafv2:GetWebACLForResource", "wafv2:AssociateWebACL", "wafv2:DisassociateWebACL",
    "shield:GetSubscriptionState", "shield:DescribeProtection", "shield:CreateProtection",
    "shield:DeleteProtection",
    "ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress", "ec2:CreateSecurityGroup",
    "ec2:CreateTags", "ec2:DeleteTags", "ec2:DeleteSecurityGroup",
    "elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:CreateTargetGroup",
    "elasticloadbalancing:CreateListener", "elasticloadbalancing:DeleteListener",
    "elasticloadbalancing:CreateRule", "elasticloadbalancing:DeleteRule",
    "elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags",
    "elasticloadbalancing:ModifyLoadBalancerAttributes", "elasticloadbalancing:SetIpAddressType",
    "elasticloadbalancing:SetSecurityGroups", "elasticloadbalancing:SetSubnets",
    "elasticloadbalancing:DeleteLoadBalancer", "elasticloadbalancing:ModifyTargetGroup",
    "elasticloadbalancing:ModifyTargetGroupAttributes", "elasticloadbalancing:DeleteTargetGroup",
    "elasticloadbalancing:ModifyListenerAttributes", "elasticloadbalancing:ModifyCapacityReservation",
    "elasticloadbalancing:ModifyIpPools", "elasticloadbalancing:RegisterTargets",
    "elasticloadbalancing:DeregisterTargets", "elasticloadbalancing:SetWebAcl",
    "elasticloadbalancing:ModifyListener", "elasticloadbalancing:AddListenerCertificates",
    "elasticloadbalancing:RemoveListenerCertificates", "elasticloadbalancing:ModifyRule",
    "elasticloadbalancing:SetRulePriorities",
})
# Actions upstream allows only on resources carrying the elbv2.k8s.aws/cluster tag.
TAG_SCOPED_UPSTREAM = frozenset({
    "ec2:DeleteSecurityGroup", "ec2:DeleteTags",
    "elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:CreateTargetGroup",
    "elasticloadbalancing:ModifyLoadBalancerAttributes",
    "elasticloadbalancing:SetIpAddressType", "elasticloadbalancing:SetSecurityGroups",
    "elasticloadbalancing:SetSubnets", "elasticloadbalancing:DeleteLoadBalancer",
    "elasticloadbalancing:ModifyTargetGroup", "elasticloadbalancing:ModifyTargetGroupAttributes",
    "elasticloadbalancing:DeleteTargetGroup", "elasticloadbalancing:ModifyListenerAttributes",
    "elasticloadbalancing:ModifyCapacityReservation", "elasticloadbalancing:ModifyIpPools",
})


@pytest.fixture(scope="module")
def plan() -> StackPlan:
    return plan_stack(load(REPO, STACK))


def _scope(cluster_name: str = "tfplat-prod-aws") -> controllers.ClusterScope:
    return controllers.ClusterScope.from_cluster_arn(f"arn:aws:eks:us-east-1:{ACCOUNT}:cluster/{cluster_name}")


def _statements(doc: dict[str, Any]) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = doc["Statement"]
    return statements


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


# --------------------------------------------------------------------------- pins


def test_planner_never_imports_pulumi() -> None:
    code = "import sys, infra.plan.aws_lbc; sys.exit(any(m.split('.')[0] == 'pulumi' for m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO, check=False).returncode == 0


def test_chart_is_pinned_exactly() -> None:
    pins = lbc.controller_pins()
    assert (pins.chart.repository, pins.chart.chart) == ("https://aws.github.io/eks-charts",
                                                         "aws-load-balancer-controller")
    assert pins.chart.version == "3.5.0"


def test_crds_come_from_release_tags() -> None:
    pins = lbc.controller_pins()
    assert pins.gateway_api_crds.url == \
        "https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.6.0/standard-install.yaml"
    assert pins.lbc_gateway_crds.url.startswith(
        "https://raw.githubusercontent.com/kubernetes-sigs/aws-load-balancer-controller/v3.5.0/")
    assert pins.lbc_gateway_crds.version == f"v{pins.chart.version}"
    for pin in pins.crds:
        segments = pin.url.split("/")
        assert pin.version in segments and not {"main", "master", "heads"} & set(segments), pin


def _versions_file(tmp_path: Path, *, chart_version: str = "3.5.0", crds: str) -> Path:
    real = yaml.safe_load(VERSIONS_FILE.read_text(encoding="utf-8"))["charts"]
    lbc_chart = {**real["aws-load-balancer-controller"], "version": chart_version}
    return versions_file(tmp_path, charts={**real, "aws-load-balancer-controller": lbc_chart}, crds=crds)


GOOD_GATEWAY_API = ("  gateway-api-standard:\n    url: https://github.com/kubernetes-sigs/gateway-api/releases/"
                    "download/v1.6.0/standard-install.yaml\n    version: v1.6.0\n")
LBC_RAW = "https://raw.githubusercontent.com/kubernetes-sigs/aws-load-balancer-controller"


@pytest.mark.parametrize(("entry", "message"), [
    (f"    url: {LBC_RAW}/refs/heads/main/config/crd/gateway/gateway-crds.yaml\n    version: v3.5.0\n", "'heads'"),
    (f"    url: {LBC_RAW}/main/config/crd/gateway/gateway-crds.yaml\n    version: v3.5.0\n", "'main'"),
    (f"    url: {LBC_RAW}/v3.4.0/config/crd/gateway/gateway-crds.yaml\n    version: v3.5.0\n", "does not name tag"),
])
def test_loose_crd_pins_are_rejected(tmp_path: Path, entry: str, message: str) -> None:
    path = _versions_file(tmp_path, crds=GOOD_GATEWAY_API + "  aws-load-balancer-controller-gateway:\n" + entry)
    with pytest.raises(lbc.CrdPinError, match=re.escape(message)):
        lbc.controller_pins(path)


@pytest.mark.parametrize(("entry", "field", "message"), [
    (f"    url: {LBC_RAW}/v3.5.0/config/crd/gateway/gateway-crds.yaml\n    version: latest\n",
     "crds.aws-load-balancer-controller-gateway.version", "exact released version"),
    ("    url: http://example.com/v3.5.0/gateway-crds.yaml\n    version: v3.5.0\n",
     "crds.aws-load-balancer-controller-gateway.url", "^https://"),
    ("    version: v3.5.0\n", "crds.aws-load-balancer-controller-gateway", "'url' is a required property"),
])
def test_crd_pins_the_schema_refuses(tmp_path: Path, entry: str, field: str, message: str) -> None:
    path = _versions_file(tmp_path, crds=GOOD_GATEWAY_API + "  aws-load-balancer-controller-gateway:\n" + entry)
    with pytest.raises(YamlFileError) as err:
        lbc.controller_pins(path)
    assert err.value.field == field and message in err.value.render()


def test_lbc_crds_must_follow_the_chart(tmp_path: Path) -> None:
    entry = f"    url: {LBC_RAW}/v3.5.0/config/crd/gateway/gateway-crds.yaml\n    version: v3.5.0\n"
    crds = GOOD_GATEWAY_API + "  aws-load-balancer-controller-gateway:\n" + entry
    assert lbc.controller_pins(_versions_file(tmp_path, crds=crds)).lbc_gateway_crds.version == "v3.5.0"
    bumped = tmp_path / "bumped"
    bumped.mkdir()
    mismatch = re.escape("is v3.5.0 but charts.aws-load-balancer-controller runs v3.6.0")
    with pytest.raises(lbc.CrdPinError, match=mismatch):
        lbc.controller_pins(_versions_file(bumped, chart_version="3.6.0", crds=crds))


def test_missing_crd_bundle_is_reported(tmp_path: Path) -> None:
    with pytest.raises(lbc.CrdPinError, match=re.escape("crds.aws-load-balancer-controller-gateway is not pinned")):
        lbc.controller_pins(_versions_file(tmp_path, crds=GOOD_GATEWAY_API))


def test_versions_file_keeps_its_other_sections() -> None:
    # Append-only edit: images, the other charts and the EKS add-ons are all still there.
    text = VERSIONS_FILE.read_text(encoding="utf-8")
    for key in ("images:", "tfserving-gpu:", "kube-prometheus-stack:", "opentelemetry-collector:",
                "eks_addons:", "eks-pod-identity-agent:"):
        assert key in text


# --------------------------------------------------------------------------- IAM


def test_policy_grants_exactly_the_upstream_actions() -> None:
    actions = [a for s in _statements(lbc.controller_policy(_scope())) for a in _as_list(s["Action"])]
    assert set(actions) == UPSTREAM_ACTIONS


def test_policy_has_no_wildcard_actions_or_denies() -> None:
    for s in _statements(lbc.controller_policy(_scope())):
        assert s["Effect"] == "Allow" and "NotAction" not in s and "NotResource" not in s, s["Sid"]
        assert not [a for a in _as_list(s["Action"]) if "*" in a], s["Sid"]


def test_tag_scoped_actions_require_this_clusters_tag() -> None:
    doc = lbc.controller_policy(_scope("tfplat-prod-aws"))
    for s in _statements(doc):
        scoped = TAG_SCOPED_UPSTREAM & set(_as_list(s["Action"]))
        if not scoped:
            continue
        equals = s.get("Condition", {}).get("StringEquals", {})
        tags = {k: v for k, v in equals.items() if k.endswith(f"Tag/{lbc.CLUSTER_TAG}")}
        assert tags and set(tags.values()) == {"tfplat-prod-aws"}, (s["Sid"], sorted(scoped))


def test_tagging_load_balancers_requires_this_clusters_tag() -> None:
    # Upstream leaves listener and rule tags unconditioned; load balancers and target
    # groups may be (re)tagged only when they are, or are being created as, this cluster's.
    for s in _statements(lbc.controller_policy(_scope("tfplat-prod-aws"))):
        tagging = {"elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"} & set(_as_list(s["Action"]))
        lbs = [r for r in _as_list(s["Resource"]) if ":loadbalancer/" in r or ":targetgroup/" in r]
        if tagging and lbs:
            equals = s["Condition"]["StringEquals"]
            assert "tfplat-prod-aws" in {equals.get(f"aws:RequestTag/{lbc.CLUSTER_TAG}"),
                                         equals.get(f"aws:ResourceTag/{lbc.CLUSTER_TAG}")}, s["Sid"]


def test_cluster_scope_keeps_stacks_apart() -> None:
    # Two stacks in one account: neither policy lets its controller touch the other's ALBs.
    prod = json.dumps(lbc.controller_policy(_scope("tfplat-prod-aws")))
    dev = json.dumps(lbc.controller_policy(_scope("tfplat-dev-aws")))
    assert "tfplat-dev-aws" not in prod and "tfplat-prod-aws" not in dev


def test_arns_name_partition_account_and_region() -> None:
    for arn, prefix in [(CLUSTER_ARN, "arn:aws:"), (f"arn:aws-us-gov:eks:us-gov-west-1:{ACCOUNT}:cluster/x",
                                                      "arn:aws-us-gov:")]:
        scope = controllers.ClusterScope.from_cluster_arn(arn)
        resources = [r for s in _statements(lbc.controller_policy(scope)) for r in _as_list(s["Resource"])]
        arns = [r for r in resources if r != "*"]
        assert arns and all(r.startswith(prefix) and f":{ACCOUNT}:" in r for r in arns)
        assert all(f":{scope.region}:{ACCOUNT}:" in r for r in arns if ":iam::" not in r)


@pytest.mark.parametrize("arn", [
    f"arn:aws:iam::{ACCOUNT}:role/x",  # not a cluster
    f"arn:aws-cn:eks:cn-north-1:{ACCOUNT}:cluster/x",  # upstream's China policy differs
    "arn:aws:eks:us-east-1:123:cluster/x",  # account id must be 12 digits
])
def test_cluster_scope_rejects(arn: str) -> None:
    with pytest.raises(ValueError, match=re.escape(arn)):
        controllers.ClusterScope.from_cluster_arn(arn)


def test_policy_fits_in_a_role_and_is_stable() -> None:
    text = controllers.policy_json(lbc.controller_policy(_scope()))
    assert len(text) <= controllers.INLINE_POLICY_LIMIT
    assert text == controllers.policy_json(lbc.controller_policy(_scope()))
    oversized = {"Version": "2012-10-17", "Statement": [{"Sid": "x" * controllers.INLINE_POLICY_LIMIT}]}
    with pytest.raises(ValueError, match="second RolePolicy"):
        controllers.policy_json(oversized)


def test_trust_is_pod_identity_for_the_controller_only() -> None:
    (s,) = lbc.pod_identity_trust("tfplat-prod-aws")["Statement"]
    assert s["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert sorted(s["Action"]) == ["sts:AssumeRole", "sts:TagSession"]
    assert s["Condition"]["StringEquals"] == {
        "aws:RequestTag/eks-cluster-name": "tfplat-prod-aws",
        "aws:RequestTag/kubernetes-namespace": "kube-system",
        "aws:RequestTag/kubernetes-service-account": "aws-load-balancer-controller"}


# --------------------------------------------------------------------------- helm values


def test_helm_values(plan: StackPlan) -> None:
    v = lbc.helm_values(plan.cloud, "vpc-0abc")
    assert (v["clusterName"], v["region"], v["vpcId"]) == ("tfplat-prod-aws", "us-east-1", "vpc-0abc")
    assert v["replicaCount"] == 2 and v["podDisruptionBudget"] == {"maxUnavailable": 1}
    assert v["serviceAccount"] == {"create": True, "name": "aws-load-balancer-controller"}  # no IRSA annotation
    assert v["controllerConfig"]["featureGates"] == {"ALBGatewayAPI": True, "NLBGatewayAPI": False}
    assert v["nodeSelector"] == {"tfplat.dev/role": "system"} and v["tolerations"] == []
    sc = v["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"] == {"drop": ["ALL"]} and sc["runAsNonRoot"] is True
    assert v["podSecurityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert v["resources"]["requests"] and "cpu" not in v["resources"]["limits"]


def test_system_pools_match_the_node_selector(plan: StackPlan) -> None:
    system = [p for p in plan.cloud.pools.values() if p.role == "system"]
    assert system and all(p.labels[names.LABEL_ROLE] == controllers.SYSTEM_ROLE for p in system)


def _with_system_pools(cloud: CloudPlan, taints: tuple[Taint, ...] | None) -> CloudPlan:
    pools = {k: (replace(p, taints=taints) if taints is not None else replace(p, role="serving"))
             if p.role == "system" else p for k, p in cloud.pools.items()}
    return replace(cloud, pools=pools)


def test_tolerations_follow_system_pool_taints(plan: StackPlan) -> None:
    tainted = _with_system_pools(plan.cloud, (Taint(key="CriticalAddonsOnly", value="true"),))
    assert lbc.helm_values(tainted, "vpc-0abc")["tolerations"] == [
        {"key": "CriticalAddonsOnly", "operator": "Equal", "value": "true", "effect": "NoSchedule"}]
    with pytest.raises(ValueError, match="no pool with role: system"):
        lbc.helm_values(_with_system_pools(plan.cloud, None), "vpc-0abc")


# --------------------------------------------------------------------------- GatewayClass


def test_gateway_class_is_valid_for_the_alb_controller() -> None:
    gc = lbc.gateway_class()
    assert (gc["apiVersion"], gc["kind"]) == ("gateway.networking.k8s.io/v1", "GatewayClass")
    assert gc["metadata"]["name"] == lbc.GATEWAY_CLASS_NAME == "tfplat-alb"
    assert gc["spec"]["controllerName"] == "gateway.k8s.aws/alb"
    assert len(gc["spec"]["description"]) <= 64  # the CRD's maxLength
    assert check_objects([gc], "1.34") == []


# --------------------------------------------------------------------------- mock engine




@pytest.fixture(scope="module")
def run(plan: StackPlan) -> Run:
    def program() -> None:
        import pulumi_kubernetes as k8s

        from infra.components.aws import AwsNetwork, EksCluster
        from infra.components.aws_lbc import AwsLoadBalancerController

        cp, stack = plan.cloud, plan.stack
        assert stack.aws is not None
        net = AwsNetwork("network", cp, stack.aws, opts=pulumi.ResourceOptions())
        eks = EksCluster("eks", cp, net, account=stack.aws.account_id, opts=pulumi.ResourceOptions(depends_on=[net]))
        provider = k8s.Provider("cluster", kubeconfig="{}", opts=pulumi.ResourceOptions(depends_on=[eks.cluster]))
        controller = AwsLoadBalancerController("lbc", cp, eks, net.vpc_id, k8s_provider=provider,
                                               opts=pulumi.ResourceOptions())
        pulumi.export("gatewayClassName", controller.gateway_class_name)
        pulumi.export("ready", [r.urn for r in controller.ready])

    values, secret = engine_config(REPO, STACK)
    return plan, engine.run(program, project=project_name(REPO), stack=STACK, config=values, secret_keys=secret)


_of, _one = of_type, one_of_type


def one_named(run: Run, type_: str, name: str) -> Any:
    """The one record of that type and name (the cluster has role policies of its own, e.g. EBS CSI's)."""
    [record] = [r for r in of_type(run, type_) if r.name == name]
    return record


def _urn(run: Run, typ: str, name: str) -> str:
    (rec,) = [r for r in _of(run, typ) if r.name == name]
    return rec.urn


CONFIG_FILE = "kubernetes:yaml/v2:ConfigFile"
RELEASE = "kubernetes:helm.sh/v3:Release"
GATEWAY_CLASS = "kubernetes:gateway.networking.k8s.io/v1:GatewayClass"


def test_role_is_trusted_by_pod_identity(run: Run) -> None:
    (role,) = [r for r in _of(run, "aws:iam/role:Role") if r.name == "lbc-role"]
    assert role.inputs["name"] == "tfplat-prod-aws-lb-controller"
    assert json.loads(role.inputs["assumeRolePolicy"]) == lbc.pod_identity_trust("tfplat-prod-aws")


def test_inline_policy_is_scoped_by_the_cluster_arn(run: Run) -> None:
    policy = one_named(run, "aws:iam/rolePolicy:RolePolicy", "lbc-policy")
    scope = controllers.ClusterScope.from_cluster_arn(CLUSTER_ARN)
    assert json.loads(policy.inputs["policy"]) == lbc.controller_policy(scope)
    assert _urn(run, "aws:iam/role:Role", "lbc-role") in policy.depends_on


def test_association_binds_the_service_account_after_the_agent(run: Run) -> None:
    assoc = _one(run, "aws:eks/podIdentityAssociation:PodIdentityAssociation")
    i = assoc.inputs
    assert (i["namespace"], i["serviceAccount"]) == ("kube-system", "aws-load-balancer-controller")
    assert assoc.inputs["roleArn"] == f"arn:aws:iam::{ACCOUNT}:role/tfplat-prod-aws-lb-controller"
    assert assoc.inputs["clusterName"] == "tfplat-prod-aws"
    assert _urn(run, "aws:eks/addon:Addon", "eks-eks-pod-identity-agent") in assoc.depends_on


def test_crds_are_applied_from_the_pinned_urls(run: Run) -> None:
    files = sorted(r.inputs["file"] for r in _of(run, CONFIG_FILE))
    assert files == sorted(p.url for p in lbc.controller_pins().crds)
    provider = _one(run, "pulumi:providers:kubernetes")
    assert all(r.provider and r.provider.startswith(provider.urn) for r in _of(run, CONFIG_FILE))


def test_release_is_pinned_and_waits_for_crds_and_identity(run: Run) -> None:
    plan, _ = run
    rel = _one(run, RELEASE)
    chart = lbc.controller_pins().chart
    i = rel.inputs
    assert (i["name"], i["namespace"], i["chart"], i["version"]) == (
        "aws-load-balancer-controller", "kube-system", "aws-load-balancer-controller", chart.version)
    assert i["repositoryOpts"] == {"repo": "https://aws.github.io/eks-charts"} and i["createNamespace"] is False
    assert i["values"] == lbc.helm_values(plan.cloud, "network-vpc-id")  # the mock VPC's id
    needs = {r.urn for r in _of(run, CONFIG_FILE)} | {
        _one(run, "aws:eks/podIdentityAssociation:PodIdentityAssociation").urn,
        one_named(run, "aws:iam/rolePolicy:RolePolicy", "lbc-policy").urn}
    assert needs <= set(rel.depends_on)


def test_gateway_class_follows_the_crds(run: Run) -> None:
    gc = _one(run, GATEWAY_CLASS)
    assert gc.inputs == lbc.gateway_class()
    assert {r.urn for r in _of(run, CONFIG_FILE)} <= set(gc.depends_on)
    assert check_objects([dict(gc.inputs)], "1.34") == []


def test_component_interface(run: Run) -> None:
    _, result = run
    component = _one(run, "tfplat:aws:LoadBalancerController")
    assert result.outputs["gatewayClassName"] == "tfplat-alb"
    crds = [_urn(run, CONFIG_FILE, f"lbc-{pin.key}") for pin in lbc.controller_pins().crds]
    assert result.outputs["ready"] == [*crds, _one(run, RELEASE).urn, _one(run, GATEWAY_CLASS).urn]
    children = [r for r in result.records if r.parent == component.urn]
    assert {r.type for r in children} == {"aws:iam/role:Role", "aws:iam/rolePolicy:RolePolicy",
                                          "aws:eks/podIdentityAssociation:PodIdentityAssociation",
                                          CONFIG_FILE, RELEASE, GATEWAY_CLASS}
