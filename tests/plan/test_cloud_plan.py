"""Cloud planning helpers: subnet layout and kubeconfigs."""

from __future__ import annotations

import ipaddress
import json

from infra.plan.cloud import aws_subnets
from infra.plan.kubeconfig import eks_kubeconfig, gke_kubeconfig


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
