"""The training platform's Kubernetes side, as plain objects and chart values: the team
namespaces, each model's training service account, Kueue's ResourceFlavors, ClusterQueue and
LocalQueues, and the values of the Kueue and JobSet charts."""

from __future__ import annotations

from typing import Any

import yaml

from infra.plan.cloud import Taint
from infra.plan.manifests.serving import meta as _meta
from infra.plan.scan_waivers import NEEDS_API, NEEDS_API_REASON, PULL_POLICY, skip_annotations
from infra.plan.training.platform import (
    KUEUE_NAMESPACE,
    NAMESPACE_LABEL,
    NAMESPACE_LABEL_VALUE,
    IdentityPlan,
    TrainingPlan,
)
from infra.rules import names

Manifest = dict[str, Any]
KUEUE_API = "kueue.x-k8s.io/v1beta2"
ROLE_LABEL = "tfplat.dev/role"
#: Kueue's controller config. Defaults from the chart's own controllerManagerConfigYaml; tfplat
#: changes what the comments say.
_KUEUE_CONFIG_BASE: dict[str, Any] = {
    "apiVersion": "config.kueue.x-k8s.io/v1beta2",
    "kind": "Configuration",
    "health": {"healthProbeBindAddress": ":8081"},
    "metrics": {"bindAddress": ":8443"},
    "webhook": {"port": 9443},
    "leaderElection": {"leaderElect": True, "resourceName": "c1f6bfd2.kueue.x-k8s.io"},
}


def _labels(component: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {names.LABEL_NAME: "tfplat-training", names.LABEL_COMPONENT: component,
            names.LABEL_PART_OF: names.PART_OF, names.LABEL_MANAGED_BY: names.MANAGED_BY, **(extra or {})}


def _tolerations(taints: tuple[Taint, ...]) -> list[dict[str, str]]:
    return [{"key": t.key, "operator": "Equal", "value": t.value, "effect": t.effect}
            for t in sorted(set(taints), key=lambda t: (t.key, t.value, t.effect))]


def team_namespace(plan: TrainingPlan, team: str) -> Manifest:
    """A team's training namespace: Kueue manages its jobs (the label), and its pods meet the
    restricted Pod Security Standard like serving's."""
    labels = {**_labels("namespace", {names.LABEL_TEAM: team, names.LABEL_ENV: plan.environment}),
              NAMESPACE_LABEL: NAMESPACE_LABEL_VALUE,
              "pod-security.kubernetes.io/enforce": "restricted",
              "pod-security.kubernetes.io/enforce-version": "latest"}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(plan.namespaces[team], None, labels)}


def service_account(identity: IdentityPlan, annotations: dict[str, str]) -> Manifest:
    """The KSA a model's jobs run as: bound to its training identity (GKE: the annotation;
    EKS: a Pod Identity association), never to the serving one."""
    return {"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": _meta(identity.service_account, identity.namespace,
                              _labels("identity", {names.LABEL_MODEL: identity.model}), annotations),
            "automountServiceAccountToken": False}


def resource_flavors(plan: TrainingPlan) -> list[Manifest]:
    """A flavor per training pool: Kueue pins admitted pods to the pool (nodeLabels) and
    admits only jobs that tolerate the pool's taints."""
    return [{"apiVersion": KUEUE_API, "kind": "ResourceFlavor",
             "metadata": _meta(f.name, None, _labels("resource-flavor")),
             "spec": {"nodeLabels": dict(f.node_labels),
                      "nodeTaints": [{"key": t.key, "value": t.value, "effect": t.effect}
                                     for t in sorted(set(f.taints), key=lambda t: t.key)]}}
            for f in plan.flavors]


def cluster_queue(plan: TrainingPlan) -> Manifest:
    """One queue for the stack's training pools. Quotas: each pool's maximum size times what
    a node gives pods, so an admitted job always fits the pools; a resource a flavor's pool
    lacks has quota 0. StrictFIFO keeps a large job from being starved by small ones."""
    covered = list(plan.resources)
    flavors = [{"name": f.name,
                "resources": [{"name": r, "nominalQuota": f.quota.get(r, "0")} for r in covered]}
               for f in plan.flavors]
    return {"apiVersion": KUEUE_API, "kind": "ClusterQueue",
            "metadata": _meta(plan.cluster_queue, None, _labels("cluster-queue")),
            "spec": {"namespaceSelector": {"matchLabels": {NAMESPACE_LABEL: NAMESPACE_LABEL_VALUE}},
                     "queueingStrategy": "StrictFIFO",
                     "resourceGroups": [{"coveredResources": covered, "flavors": flavors}]}}


def local_queue(plan: TrainingPlan, team: str) -> Manifest:
    return {"apiVersion": KUEUE_API, "kind": "LocalQueue",
            "metadata": _meta(plan.local_queue, plan.namespaces[team],
                              _labels("local-queue", {names.LABEL_TEAM: team})),
            "spec": {"clusterQueue": plan.cluster_queue}}


def kueue_config(plan: TrainingPlan) -> dict[str, Any]:
    """Kueue's Configuration. Jobs in training namespaces that name no queue are held
    (manageJobsWithoutQueueName, limited to those namespaces so other namespaces' Jobs, such
    as charts' hooks, are left alone). An admitted job whose pods are not all running within
    pods_ready_timeout_s is evicted and requeued, so a job never holds part of a slice while
    waiting for the rest (waitForPodsReady)."""
    return {**_KUEUE_CONFIG_BASE,
            "manageJobsWithoutQueueName": True,
            "managedJobsNamespaceSelector": {"matchLabels": {NAMESPACE_LABEL: NAMESPACE_LABEL_VALUE}},
            "waitForPodsReady": {"timeout": f"{plan.pods_ready_timeout_s}s", "blockAdmission": False,
                                 "requeuingStrategy": {"timestamp": "Eviction", "backoffLimitCount": 5}},
            "integrations": {"frameworks": ["batch/job", "jobset.x-k8s.io/jobset"]}}


def _controller_placement(plan: TrainingPlan) -> dict[str, Any]:
    return {"nodeSelector": {ROLE_LABEL: "system"}, "tolerations": _tolerations(plan.system_tolerations)}


# Both controllers' images are distroless "nonroot" images (UID and GID 65532); the charts
# leave the UID to the image, which checkov's CKV_K8S_40 cannot see, so it is set here.
_NONROOT = {"runAsNonRoot": True, "runAsUser": 65532, "runAsGroup": 65532, "seccompProfile": {"type": "RuntimeDefault"}}


def kueue_values(plan: TrainingPlan) -> dict[str, Any]:
    replicas = 2 if plan.environment == "prod" else 1
    return {
        "controllerManager": {
            "replicas": replicas, **_controller_placement(plan),
            "manager": {"image": {"pullPolicy": PULL_POLICY}, "podSecurityContext": _NONROOT},
            "podDisruptionBudget": {"enabled": replicas > 1, "minAvailable": 1}},
        "managerConfig": {"controllerManagerConfigYaml": yaml.safe_dump(kueue_config(plan), sort_keys=True)},
        "kubernetesClusterDomain": "cluster.local",
    }


def jobset_values(plan: TrainingPlan) -> dict[str, Any]:
    replicas = 2 if plan.environment == "prod" else 1
    return {"image": {"pullPolicy": PULL_POLICY},
            "controller": {"replicas": replicas, **_controller_placement(plan),
                           "podSecurityContext": _NONROOT,
                           "annotations": skip_annotations({NEEDS_API: NEEDS_API_REASON}),
                           "podDisruptionBudget": {"enabled": replicas > 1, "minAvailable": 1}}}


def platform_objects(plan: TrainingPlan) -> list[Manifest]:
    """Kueue's objects (after its chart: their CRDs come with it)."""
    return [*resource_flavors(plan), cluster_queue(plan), *(local_queue(plan, t) for t in sorted(plan.namespaces))]


__all__ = ["KUEUE_NAMESPACE", "cluster_queue", "jobset_values", "kueue_config", "kueue_values", "local_queue",
           "platform_objects", "resource_flavors", "service_account", "team_namespace"]
