"""Compliant resource properties, shaped like build/<stack>/resources.json, to break one at a time."""

from __future__ import annotations

from collections.abc import Mapping
import copy
from typing import Any

from policies.tfplat_policies import Finding, Resource, ResourcePolicy, StackPolicy
from policies.tfplat_policies.registry import BY_ID

Props = dict[str, Any]
DROP = object()  # a patch value that removes the key


def patched(base: Mapping[str, Any], patch: Mapping[str, Any]) -> Props:
    """A deep copy of `base` with `patch` merged in (dicts recursively; DROP deletes)."""
    out = copy.deepcopy(dict(base))
    for key, value in patch.items():
        if value is DROP:
            out.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = patched(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def run(policy_id: str, resource_type: str, props: Mapping[str, Any],
        settings: Mapping[str, Any] | None = None) -> list[Finding]:
    policy = BY_ID[policy_id]
    assert isinstance(policy, ResourcePolicy)
    return policy.check(resource_type, props, {**policy.defaults(), **(settings or {})})


def run_stack(policy_id: str, resources: list[Resource], settings: Mapping[str, Any] | None = None) -> list[Finding]:
    policy = BY_ID[policy_id]
    assert isinstance(policy, StackPolicy)
    return policy.check(resources, {**policy.defaults(), **(settings or {})})


def messages(findings: list[Finding]) -> list[str]:
    return [f.message for f in findings]


def res(type_: str, name: str, props: Mapping[str, Any], *, deps: tuple[str, ...] = (),
        prop_deps: Mapping[str, tuple[str, ...]] | None = None) -> Resource:
    return Resource(urn=f"{type_}::{name}", type=type_, name=name, props=dict(props), dependencies=deps,
                    property_dependencies=dict(prop_deps or {}))


GCS_BUCKET: Props = {
    "name": "acme-ml-prod-prod-models", "location": "US-CENTRAL1", "publicAccessPrevention": "enforced",
    "uniformBucketLevelAccess": True, "versioning": {"enabled": True},
}

DISK_KEY = "projects/acme-ml-prod/locations/us-central1/keyRings/tfplat-prod-gke/cryptoKeys/disks"
SHIELDED = {"enableIntegrityMonitoring": True, "enableSecureBoot": True}

GKE_CLUSTER: Props = {
    "name": "tfplat-prod", "location": "us-central1", "minMasterVersion": "1.34", "removeDefaultNodePool": True,
    "databaseEncryption": {"keyName": "projects/p/locations/l/keyRings/r/cryptoKeys/secrets", "state": "ENCRYPTED"},
    "nodeConfig": {"serviceAccount": "tfplat-prod-nodes@acme-ml-prod.iam.gserviceaccount.com",
                   "workloadMetadataConfig": {"mode": "GKE_METADATA"}, "imageType": "COS_CONTAINERD",
                   "shieldedInstanceConfig": SHIELDED, "bootDiskKmsKey": DISK_KEY},
    "privateClusterConfig": {"enablePrivateEndpoint": True, "enablePrivateNodes": True,
                             "masterIpv4CidrBlock": "172.16.0.0/28"},
    "controlPlaneEndpointsConfig": {"dnsEndpointConfig": {"allowExternalTraffic": True}},
    "masterAuthorizedNetworksConfig": {"cidrBlocks": []},
    "networkingMode": "VPC_NATIVE",
    "ipAllocationPolicy": {"clusterSecondaryRangeName": "pods", "servicesSecondaryRangeName": "services"},
    "datapathProvider": "ADVANCED_DATAPATH", "enableIntranodeVisibility": True, "enableShieldedNodes": True,
    "enableLegacyAbac": False, "enableKubernetesAlpha": False,
    "masterAuth": {"clientCertificateConfig": {"issueClientCertificate": False}},
    "binaryAuthorization": {"evaluationMode": "PROJECT_SINGLETON_POLICY_ENFORCE"},
    "securityPostureConfig": {"mode": "BASIC"},
    "loggingConfig": {"enableComponents": ["SYSTEM_COMPONENTS", "WORKLOADS"]},
    "monitoringConfig": {"enableComponents": ["SYSTEM_COMPONENTS"]},
    "releaseChannel": {"channel": "STABLE"},
    "workloadIdentityConfig": {"workloadPool": "acme-ml-prod.svc.id.goog"},
}


def gke_pool(pool: str = "l4", **node_config: Any) -> Props:
    """A GKE node pool; the default is an L4 GPU pool as tfplat renders it."""
    base: Props = {
        "autoscaling": {"locationPolicy": "ANY", "totalMaxNodeCount": 2, "totalMinNodeCount": 0},
        "nodeConfig": {
            "machineType": "g2-standard-4",
            "guestAccelerators": [{"count": 1, "type": "nvidia-l4"}],
            "labels": {"tfplat.dev/pool": pool},
            "serviceAccount": "tfplat-dev-nodes@acme-ml-dev.iam.gserviceaccount.com",
            "taints": [{"effect": "NO_SCHEDULE", "key": "nvidia.com/gpu", "value": "present"}],
            "workloadMetadataConfig": {"mode": "GKE_METADATA"},
            "imageType": "COS_CONTAINERD", "shieldedInstanceConfig": SHIELDED, "bootDiskKmsKey": DISK_KEY,
        },
        "management": {"autoRepair": True, "autoUpgrade": True},
    }
    return patched(base, {"nodeConfig": node_config})


EKS_CLUSTER: Props = {
    "name": "tfplat-prod-aws", "version": "1.34",
    "encryptionConfig": {"provider": {"keyArn": "arn:aws:kms:us-east-1:111122223333:key/k"}, "resources": ["secrets"]},
    "vpcConfig": {"endpointPrivateAccess": True, "endpointPublicAccess": False, "subnetIds": ["a", "b"]},
    "accessConfig": {"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": True},
    "enabledClusterLogTypes": ["api", "audit", "authenticator", "controllerManager", "scheduler"],
}

EKS_GPU_GROUP: Props = {
    "amiType": "AL2023_x86_64_NVIDIA", "instanceTypes": ["g6.xlarge"], "clusterName": "tfplat-prod-aws",
    "labels": {"tfplat.dev/pool": "l4"}, "scalingConfig": {"desiredSize": 2, "maxSize": 10, "minSize": 2},
    "taints": [{"effect": "NO_SCHEDULE", "key": "nvidia.com/gpu", "value": "present"}],
}

CONTAINER: Props = {
    "name": "tensorflow-serving",
    "image": "docker.io/tensorflow/serving:2.19.1",
    "livenessProbe": {"httpGet": {"path": "/v1/models/m/versions/1", "port": "http"}},
    "readinessProbe": {"httpGet": {"path": "/v1/models/m/versions/1/metadata", "port": "http"}},
    "resources": {"limits": {"cpu": "4", "memory": "1536Mi"}, "requests": {"cpu": "2", "memory": "1536Mi"}},
    "securityContext": {"allowPrivilegeEscalation": False, "runAsNonRoot": True, "runAsUser": 10001},
}
INIT_CONTAINER: Props = {
    "name": "fetch-model",
    "image": "public.ecr.aws/aws-cli/aws-cli:2.31.23"
             "@sha256:668ffb01408e03e1002b36886797c1a97b09f7d0f02fba3123f9fcd68a081dc5",
    "resources": {"limits": {"cpu": "1", "memory": "512Mi"}, "requests": {"cpu": "250m", "memory": "256Mi"}},
    "securityContext": {"allowPrivilegeEscalation": False, "runAsNonRoot": True},
}
FLEET_LABELS = {"app.kubernetes.io/name": "tensorflow-serving", "tfplat.dev/color": "blue",
                "tfplat.dev/model": "mobilenet"}


def deployment(name: str = "mobilenet-blue", *, model: str = "mobilenet", fleet: bool = True,
               containers: list[Props] | None = None, init: list[Props] | None = None,
               namespace: str = "serving") -> Props:
    meta_labels = {**FLEET_LABELS, "tfplat.dev/model": model} if fleet else {"app.kubernetes.io/name": "other"}
    selector = {k: v for k, v in meta_labels.items() if k != "tfplat.dev/team"}
    spec: Props = {"containers": copy.deepcopy(containers if containers is not None else [CONTAINER]),
                   "securityContext": {"runAsNonRoot": True, "runAsUser": 10001}}
    if init is not None:
        spec["initContainers"] = copy.deepcopy(init)
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(meta_labels)},
            "spec": {"selector": {"matchLabels": selector},
                     "template": {"metadata": {"labels": dict(meta_labels)}, "spec": spec}}}


def pdb(name: str, selector: Mapping[str, Any], namespace: str = "serving") -> Props:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"maxUnavailable": 1, "selector": dict(selector)}}


def hpa(target: str, min_replicas: int | None, namespace: str = "serving") -> Props:
    spec: Props = {"maxReplicas": 8, "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target}}
    if min_replicas is not None:
        spec["minReplicas"] = min_replicas
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": target, "namespace": namespace}, "spec": spec}


def scaled_object(target: str, min_replicas: int | None, *, triggers: list[str] | None = None,
                  idle: int | None = None, mode: str = "parallel", namespace: str = "serving") -> Props:
    """A KEDA ScaledObject as tfplat renders it (trigger types only; metadata elided)."""
    spec: Props = {"maxReplicaCount": 8, "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                                            "name": target},
                   "triggers": [{"type": t, "metadata": {}} for t in (triggers or ["prometheus"])]}
    if min_replicas is not None:
        spec["minReplicaCount"] = min_replicas
    if idle is not None:
        spec["idleReplicaCount"] = idle
    return {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
            "metadata": {"name": target, "namespace": namespace,
                         "annotations": {"tfplat.dev/version-change": mode}}, "spec": spec}


K8S = {
    "Deployment": "kubernetes:apps/v1:Deployment",
    "DaemonSet": "kubernetes:apps/v1:DaemonSet",
    "StatefulSet": "kubernetes:apps/v1:StatefulSet",
    "Job": "kubernetes:batch/v1:Job",
    "CronJob": "kubernetes:batch/v1:CronJob",
    "Pod": "kubernetes:core/v1:Pod",
    "PDB": "kubernetes:policy/v1:PodDisruptionBudget",
    "HPA": "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
    "ScaledObject": "kubernetes:keda.sh/v1alpha1:ScaledObject",
    "ConfigMap": "kubernetes:core/v1:ConfigMap",
    "PrometheusRule": "kubernetes:monitoring.coreos.com/v1:PrometheusRule",
    "Secret": "kubernetes:core/v1:Secret",
    "Release": "kubernetes:helm.sh/v3:Release",
}
