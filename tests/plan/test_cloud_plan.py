"""The cloud plan: what each platform adds to its cluster, subnet layout, kubeconfigs."""

from __future__ import annotations

from dataclasses import replace
import ipaddress
import json
from typing import Any

from infra.config.loader import load
from infra.plan.cloud import CloudPlan, aws_subnets
from infra.plan.kubeconfig import eks_kubeconfig, gke_kubeconfig
from infra.plan.stack import plan_stack
from infra.rules.images import eks_addons, image
from tests.conftest import REPO


def test_subnets_do_not_overlap_and_stay_in_the_vpc() -> None:
    plans = aws_subnets("10.0.0.0/16", ("a", "b", "c"))
    nets = [ipaddress.ip_network(c) for p in plans for c in (p.private_cidr, p.public_cidr)]
    vpc = ipaddress.ip_network("10.0.0.0/16")
    assert all(n.subnet_of(vpc) for n in nets)  # type: ignore[arg-type]
    assert not any(a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1:])
    assert [p.private_cidr for p in plans] == ["10.0.0.0/19", "10.0.32.0/19", "10.0.64.0/19"]
    assert plans[0].public_cidr == "10.0.224.0/24"


def test_kubeconfigs_use_exec_credentials_not_tokens() -> None:
    gke = json.loads(gke_kubeconfig(name="c", endpoint="203.0.113.5", ca_b64="Q0E="))
    assert gke["clusters"][0]["cluster"]["server"] == "https://203.0.113.5"
    assert gke["users"][0]["user"]["exec"]["command"] == "gke-gcloud-auth-plugin"
    eks = json.loads(eks_kubeconfig(name="c", endpoint="https://x.eks", ca_b64="Q0E=", region="us-east-1"))
    assert eks["users"][0]["user"]["exec"]["args"][:4] == ["eks", "get-token", "--cluster-name", "c"]
    assert "token" not in json.dumps(eks["users"][0]["user"]).replace("get-token", "")


def _cloud(stack: str, **spec: Any) -> CloudPlan:
    loaded = load(REPO, stack)
    return plan_stack(replace(loaded, stack=replace(loaded.stack, **spec))).cloud


def test_the_plan_decides_what_each_platform_adds_to_its_cluster() -> None:
    gke, eks = _cloud("prod"), _cloud("prod-aws")
    assert eks.eks_addons and eks.eks_addons == eks_addons(eks.kubernetes_version)
    assert (eks.cluster_autoscaler, eks.load_balancer_controller, eks.ha_nat) == (True, True, True)
    assert eks.device_plugin_gpus == ("nvidia-l4",) and eks.device_plugin_image == image("nvidia-device-plugin")
    # GKE: pools autoscale, the gateway and the GPU device plugin are GKE's own.
    assert (dict(gke.eks_addons), gke.cluster_autoscaler, gke.load_balancer_controller) == ({}, False, False)
    assert (gke.device_plugin_gpus, gke.device_plugin_image) == ((), None)
    assert not gke.managed_dcgm  # prod runs dcgm-exporter
    managed = _cloud("prod", monitoring=replace(load(REPO, "prod").stack.monitoring, gpu_metrics="gke-managed"))
    assert managed.managed_dcgm


def test_one_nat_gateway_outside_prod_and_no_controller_without_a_gateway() -> None:
    spec = load(REPO, "prod-aws").stack
    staging = _cloud("prod-aws", environment="staging",
                     serving=replace(spec.serving, gateway=replace(spec.serving.gateway, enabled=False)))
    assert not staging.ha_nat and not staging.load_balancer_controller and staging.cluster_autoscaler
