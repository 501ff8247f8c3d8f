"""Kubeconfigs for the Kubernetes provider, from a cluster's endpoint and CA.

Credentials come from the cloud CLI at run time (gke-gcloud-auth-plugin, `aws eks
get-token`), so no token is ever stored in Pulumi state. JSON is valid YAML and its
output is deterministic.
"""

from __future__ import annotations

import json
from typing import Any


def _config(name: str, server: str, ca_b64: str, user: dict[str, Any]) -> str:
    doc = {
        "apiVersion": "v1", "kind": "Config", "current-context": name,
        "clusters": [{"name": name, "cluster": {"server": server, "certificate-authority-data": ca_b64}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "users": [{"name": name, "user": user}],
    }
    return json.dumps(doc, sort_keys=True)


def gke_kubeconfig(*, name: str, endpoint: str, ca_b64: str) -> str:
    return _config(name, f"https://{endpoint}", ca_b64, {"exec": {
        "apiVersion": "client.authentication.k8s.io/v1beta1", "command": "gke-gcloud-auth-plugin",
        "provideClusterInfo": True, "interactiveMode": "Never",
        "installHint": "install gke-gcloud-auth-plugin: gcloud components install gke-gcloud-auth-plugin"}})


def eks_kubeconfig(*, name: str, endpoint: str, ca_b64: str, region: str) -> str:
    return _config(name, endpoint, ca_b64, {"exec": {
        "apiVersion": "client.authentication.k8s.io/v1beta1", "command": "aws",
        "args": ["eks", "get-token", "--cluster-name", name, "--region", region, "--output", "json"],
        "interactiveMode": "Never", "installHint": "install the AWS CLI v2 and configure credentials"}})
