"""NetworkPolicies of a controller's namespace (CIS GKE 4.3.2 / EKS 4.3.2: every namespace
has one): its pods accept traffic from pods of the same namespace, and on the ports the API
server calls (webhooks, APIService targets) from any source, because the API server is
outside the pod network. Kubelet probes arrive from the node, which the cluster's policy
engines admit. Egress stays open: controllers talk to the API server."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from infra.plan.manifests.serving import meta
from infra.rules import names

Manifest = dict[str, Any]


def ingress_policy(name: str, namespace: str, environment: str, owner: str,
                   ingress: list[dict[str, Any]]) -> Manifest:
    """An Ingress NetworkPolicy over every pod of `namespace`, labelled as `owner`'s."""
    labels = {names.LABEL_NAME: owner, names.LABEL_COMPONENT: "network-policy",
              names.LABEL_PART_OF: names.PART_OF, names.LABEL_MANAGED_BY: names.MANAGED_BY,
              names.LABEL_ENV: environment}
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": meta(name, namespace, labels),
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": ingress}}


def same_namespace(name: str, namespace: str, environment: str, owner: str) -> Manifest:
    return ingress_policy(name, namespace, environment, owner, [{"from": [{"podSelector": {}}]}])


def api_server_ports(name: str, namespace: str, environment: str, owner: str, ports: Sequence[int]) -> Manifest:
    return ingress_policy(name, namespace, environment, owner,
                          [{"ports": [{"protocol": "TCP", "port": p} for p in ports]}])
