"""The NVIDIA device plugin DaemonSet for EKS GPU nodes.

EKS AL2023 NVIDIA AMIs ship the driver and container toolkit but not the device plugin,
so without it no pod can request nvidia.com/gpu. GKE installs its own; this is AWS only.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from infra.plan.manifests.serving import meta
from infra.rules import names
from infra.rules.images import Image

NAME = "nvidia-device-plugin"
NAMESPACE = "kube-system"


def _labels() -> dict[str, str]:
    return {names.LABEL_NAME: NAME, names.LABEL_PART_OF: names.PART_OF,
            names.LABEL_MANAGED_BY: names.MANAGED_BY, names.LABEL_COMPONENT: "device-plugin"}


def daemonset(image: Image, gpu_types: Iterable[str]) -> dict[str, Any]:
    labels = _labels()
    selector = {names.LABEL_NAME: NAME}
    reason = ("the device plugin registers a socket in the kubelet's root-owned "
              "/var/lib/kubelet/device-plugins and exposes no health endpoint (the kubelet "
              "drops its devices when the plugin dies)")
    annotations = {
        "tfplat.dev/policy-exemptions": "workload-non-root,workload-probes",
        "tfplat.dev/policy-exemption-reason": reason,
        # The same waivers in checkov's format, for teams that scan the manifests.
        "checkov.io/skip1": "CKV_K8S_8=no health endpoint to probe; the kubelet tracks the plugin",
        "checkov.io/skip2": "CKV_K8S_9=no health endpoint to probe; the kubelet tracks the plugin",
        "checkov.io/skip3": "CKV_K8S_23=root: writes the kubelet's root-owned device-plugin socket directory",
        "checkov.io/skip4": "CKV_K8S_40=root: writes the kubelet's root-owned device-plugin socket directory",
    }
    return {
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": meta(NAME, NAMESPACE, labels, annotations),
        "spec": {
            "selector": {"matchLabels": selector},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            "template": {
                "metadata": {"labels": {**labels, **selector}},
                "spec": {
                    "priorityClassName": "system-node-critical",
                    "serviceAccountName": NAME,
                    "automountServiceAccountToken": False,
                    # Only the platform's GPU pools (labelled by the node groups).
                    "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [{"matchExpressions": [
                            {"key": names.LABEL_ACCELERATOR, "operator": "In", "values": sorted(set(gpu_types))}]}]}}},
                    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                    "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [{
                        "name": NAME, "image": image.ref, "imagePullPolicy": "Always",
                        "env": [{"name": "FAIL_ON_INIT_ERROR", "value": "false"}],
                        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"},
                                      "limits": {"cpu": "200m", "memory": "128Mi"}},
                        # The kubelet's device-plugin socket directory is the one host path
                        # it needs; no privilege beyond that.
                        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                            "capabilities": {"drop": ["ALL"]}},
                        "volumeMounts": [{"name": "device-plugin", "mountPath": "/var/lib/kubelet/device-plugins"}],
                    }],
                    "volumes": [{"name": "device-plugin",
                                 "hostPath": {"path": "/var/lib/kubelet/device-plugins", "type": "Directory"}}],
                },
            },
        },
    }


def service_account() -> dict[str, Any]:
    """Its own identity (not kube-system's default), with no API token: the plugin talks
    only to the kubelet."""
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(NAME, NAMESPACE, _labels()),
            "automountServiceAccountToken": False}


def network_policy() -> dict[str, Any]:
    """The plugin talks to the kubelet over a unix socket only: no network in or out."""
    labels = _labels()
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": meta(NAME, NAMESPACE, labels),
            "spec": {"podSelector": {"matchLabels": {names.LABEL_NAME: NAME}},
                     "policyTypes": ["Ingress", "Egress"]}}
