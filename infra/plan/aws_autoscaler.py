"""The Kubernetes Cluster Autoscaler (CA) on EKS: what makes managed node groups grow and shrink.

Pure planning, shared by `pulumi up`, the offline plan and the tests: the pins (chart and
per-minor image, from images/versions.yaml), the controller's IAM policy and Pod Identity
trust as data, its Helm values, and what each node group must carry so the autoscaler can
build a node from it while the group is at zero (labels, taints, resource tags). The
component (infra.components.aws_autoscaler) only maps this onto resources.

How the autoscaler sees a managed node group (cluster-autoscaler/cloudprovider/aws):
  - discovery: EKS tags every managed node group's Auto Scaling group with
    k8s.io/cluster-autoscaler/enabled=true and k8s.io/cluster-autoscaler/<cluster>=owned;
    `--node-group-auto-discovery=asg:tag=<both keys>` finds exactly this cluster's groups.
  - scale from zero: with no node to copy, it builds a template node from the instance type
    (CPU, memory, GPUs) and from EKS DescribeNodegroup: the group's labels, taints and
    tags. Node group tags k8s.io/cluster-autoscaler/node-template/resources/<name> add
    resources the instance type does not tell (ephemeral-storage: every serving pod
    requests it, so without the tag a group at zero never fits one).
  - GPU nodes are labelled k8s.amazonaws.com/accelerator, which the autoscaler treats as
    "GPU node": one that has not advertised nvidia.com/gpu yet is still starting, not a
    node the pending pod does not fit (without it, each wait for the device plugin buys
    another node).

The IAM policy grants the actions of upstream's recommended policy for auto-discovery
(README of cloudprovider/aws, UPSTREAM_POLICY), narrower in two places marked "narrower
than upstream": the two write actions apply only to Auto Scaling groups of this account and
region carrying this cluster's tags, and eks:DescribeNodegroup only to this cluster's node
groups.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
import re
from typing import Any

from infra.plan import aws_controllers as controllers
from infra.plan.aws_controllers import (
    KUBE_SYSTEM_NETWORK_POLICY_REASON,
    NO_CPU_LIMIT_REASON,
    SYSTEM_ROLE,
    ClusterScope,
    system_tolerations,
)
from infra.plan.charts import CLUSTER_AUTOSCALER, Chart, chart
from infra.plan.cloud import CloudPlan, PoolPlan
from infra.plan.scan_waivers import NEEDS_API, NEEDS_API_REASON, PULL_POLICY, skip_annotations
from infra.rules import names
from infra.rules.images import VERSIONS_FILE, VersionPinError, read_versions

# --------------------------------------------------------------------------- names

NAMESPACE = "kube-system"
RELEASE_NAME = "cluster-autoscaler"
#: Object names (Deployment, Service, status ConfigMap owner) without the chart's
#: "<release>-aws-cluster-autoscaler" default, so runbooks can name them.
FULLNAME = "cluster-autoscaler"
SERVICE_ACCOUNT = "cluster-autoscaler"  # created by the chart, bound by Pod Identity
IMAGE_SECTION = "cluster_autoscaler"  # key of images/versions.yaml
PRIORITY_CLASS = "system-cluster-critical"
REPLICAS = 2  # leader election: one active, one warm standby

DISCOVERY_ENABLED_TAG = "k8s.io/cluster-autoscaler/enabled"
TEMPLATE = "k8s.io/cluster-autoscaler/node-template/"
#: The label the autoscaler's AWS provider reads as "this node has GPUs" (cloudprovider/aws
#: GPULabel); the value is informational (the accelerator type).
GPU_LABEL = "k8s.amazonaws.com/accelerator"
GPU_RESOURCE = "nvidia.com/gpu"


def cluster_tag(cluster_name: str) -> str:
    """The Auto Scaling group tag EKS sets to "owned" on this cluster's managed node groups."""
    return f"k8s.io/cluster-autoscaler/{cluster_name}"


def discovery_tags(cluster_name: str) -> list[str]:
    """Tag keys an Auto Scaling group must carry to be autoscaled (both must exist)."""
    return [DISCOVERY_ENABLED_TAG, cluster_tag(cluster_name)]


# --------------------------------------------------------------------------- pins

_TAG = re.compile(r"^v(?P<minor>\d+\.\d+)\.\d+$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


class AutoscalerPinError(VersionPinError):
    """images/versions.yaml pins no autoscaler for a Kubernetes minor, or pins it loosely."""


@dataclass(frozen=True, kw_only=True)
class AutoscalerImage:
    repository: str
    tag: str  # vX.Y.Z, X.Y = the cluster's minor
    #: Recorded so a pull can be verified, not rendered: the chart also writes image.tag
    #: (minus its "v") into the app.kubernetes.io/version label, where "@sha256:..." is not a
    #: valid value. Tags on registry.k8s.io are immutable, so the tag alone cannot drift.
    digest: str | None


@dataclass(frozen=True, kw_only=True)
class AutoscalerPins:
    chart: Chart
    image: AutoscalerImage


def autoscaler_image(kubernetes_version: str, path: Path = VERSIONS_FILE) -> AutoscalerImage:
    """The autoscaler release for a cluster minor ("1.34"). Raises AutoscalerPinError when
    none is pinned, or the pinned tag's minor is another one."""
    where = f"{path}: {IMAGE_SECTION}"
    section = read_versions(path).get(IMAGE_SECTION)
    if not isinstance(section, Mapping) or not section.get("repository"):
        raise AutoscalerPinError(f"{where} must be a mapping with repository and releases")
    releases = section.get("releases")
    if not isinstance(releases, Mapping) or kubernetes_version not in releases:
        have = ", ".join(sorted(map(str, releases))) if isinstance(releases, Mapping) else "none"
        raise AutoscalerPinError(f"{where}.releases has no entry for Kubernetes {kubernetes_version} (have: {have}); "
                                 "pin the newest cluster-autoscaler patch release of that minor")
    entry = releases[kubernetes_version]
    tag = str(entry.get("tag") or "") if isinstance(entry, Mapping) else ""
    m = _TAG.match(tag)
    if m is None:
        raise AutoscalerPinError(f"{where}.releases.{kubernetes_version}.tag is {tag!r}; "
                                 "pin an exact tag such as v1.34.5")
    if m["minor"] != kubernetes_version:
        raise AutoscalerPinError(f"{where}.releases.{kubernetes_version}.tag is {tag}, built for Kubernetes "
                                 f"{m['minor']}; the autoscaler's minor must equal the cluster's")
    digest = entry.get("digest")
    if digest is not None and not _DIGEST.match(str(digest)):
        raise AutoscalerPinError(f"{where}.releases.{kubernetes_version}.digest is {digest!r}; "
                                 "use sha256:<64 hex digits> or null")
    return AutoscalerImage(repository=str(section["repository"]), tag=tag,
                           digest=str(digest) if digest is not None else None)


def autoscaler_pins(kubernetes_version: str, path: Path = VERSIONS_FILE) -> AutoscalerPins:
    return AutoscalerPins(chart=chart(CLUSTER_AUTOSCALER, path), image=autoscaler_image(kubernetes_version, path))


# --------------------------------------------------------------------------- node groups


def ephemeral_storage_gi(disk_size_gb: int) -> int:
    """What a node's allocatable ephemeral storage will be, conservatively: the kubelet
    keeps 10% of the root volume as its eviction threshold and EKS's AL2023 bootstrap
    reserves 1Gi more for itself. Over-stating it would make the autoscaler buy a node a
    pod then does not fit on."""
    return max(disk_size_gb * 9 // 10 - 1, 1)


def node_labels(pool: PoolPlan) -> dict[str, str]:
    """Labels of an EKS node group: the pool's, plus the autoscaler's GPU marker."""
    labels = dict(pool.labels)
    if pool.kind == "gpu" and pool.accelerator:
        labels[GPU_LABEL] = pool.accelerator
    return labels


def node_template_tags(pool: PoolPlan) -> dict[str, str]:
    """Node group tags the autoscaler reads (EKS DescribeNodegroup) to build a node of a
    group at zero. Labels and taints it also reads from the group's own fields; they are
    repeated as tags so the group's tags alone describe its nodes. Resources are only
    known from tags: ephemeral storage (serving pods request it), and the GPU count so it
    does not depend on the autoscaler's instance-type list knowing the type."""
    tags = {f"{TEMPLATE}label/{k}": v for k, v in sorted(node_labels(pool).items())}
    tags.update({f"{TEMPLATE}taint/{t.key}": f"{t.value}:{t.effect}" for t in pool.taints})
    tags[f"{TEMPLATE}resources/ephemeral-storage"] = f"{ephemeral_storage_gi(pool.disk_size_gb)}Gi"
    if pool.kind == "gpu":
        tags[f"{TEMPLATE}resources/{GPU_RESOURCE}"] = str(pool.gpus_per_node)
    return tags


# --------------------------------------------------------------------------- identity

Statement = dict[str, Any]

#: The actions of upstream's "Full Cluster Autoscaler Features Policy (Recommended)" for
#: auto-discovery and dynamic instance-type lists (cloudprovider/aws/README.md). Describe
#: and Get calls have no resource-level permissions, hence Resource "*".
UPSTREAM_READ_ACTIONS = (
    "autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeAutoScalingInstances",
    "autoscaling:DescribeLaunchConfigurations", "autoscaling:DescribeScalingActivities",
    "ec2:DescribeImages", "ec2:DescribeInstanceTypes", "ec2:DescribeLaunchTemplateVersions",
    "ec2:GetInstanceTypesFromInstanceRequirements",
)
NODEGROUP_READ_ACTIONS = ("eks:DescribeNodegroup",)
WRITE_ACTIONS = ("autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup")


def pod_identity_trust(cluster_name: str) -> dict[str, Any]:
    """Pod Identity trust for the autoscaler's service account only."""
    return controllers.pod_identity_trust(cluster_name, NAMESPACE, SERVICE_ACCOUNT)


def autoscaler_policy(scope: ClusterScope) -> dict[str, Any]:
    """The autoscaler's permissions; see the module docstring for how they compare with
    upstream."""
    owned = {f"aws:ResourceTag/{DISCOVERY_ENABLED_TAG}": "true",
             f"aws:ResourceTag/{cluster_tag(scope.cluster_name)}": "owned"}
    statements: list[Statement] = [
        {"Sid": "Discover", "Effect": "Allow", "Action": list(UPSTREAM_READ_ACTIONS), "Resource": "*"},
        # narrower than upstream ("*"): this cluster's node groups
        {"Sid": "ReadOwnNodegroups", "Effect": "Allow", "Action": list(NODEGROUP_READ_ACTIONS),
         "Resource": scope.arn("eks", f"nodegroup/{scope.cluster_name}/*/*")},
        # narrower than upstream: Auto Scaling groups of this account and region that EKS
        # tagged as this cluster's (every managed node group of it, nothing else)
        {"Sid": "ScaleOwnGroups", "Effect": "Allow", "Action": list(WRITE_ACTIONS),
         "Resource": scope.arn("autoscaling", "autoScalingGroup:*:autoScalingGroupName/*"),
         "Condition": {"StringEquals": owned}},
    ]
    return {"Version": "2012-10-17", "Statement": statements}


def role_name(prefix: str) -> str:
    return f"{prefix}-cluster-autoscaler"


# --------------------------------------------------------------------------- helm values

#: Flags passed through the chart's extraArgs (`--<key>=<value>`). Each one differs from
#: the autoscaler's default, or is set to make a reviewed choice visible.
EXTRA_ARGS: Mapping[str, Any] = {
    # Node groups of equal shape (a pool split by zone, say) grow evenly.
    "balance-similar-node-groups": True,
    # Of the groups a pending pod fits, the one leaving the least CPU and memory idle.
    # GPU groups only enter for pods that tolerate the GPU taint, so a CPU pod never buys
    # a GPU node; the priority expander would need regexes over EKS's generated ASG names.
    "expander": "least-waste",
    # Serving pods keep the model in an emptyDir: with the default (true) no serving node
    # would ever be removed. Pods leave through their disruption budgets.
    "skip-nodes-with-local-storage": False,
    # GPU nodes boot and load models slowly: remove a node only after it has been unneeded
    # for 10 minutes, and not within 10 minutes of a scale-up (churn costs more than idling).
    "scale-down-unneeded-time": "10m",
    "scale-down-delay-after-add": "10m",
    # A node counts as unneeded below half use; for GPU nodes "use" is requested GPUs.
    "scale-down-utilization-threshold": 0.5,
    "scale-down-gpu-utilization-threshold": 0.5,
    # Give up on a node that has not joined after 15 minutes (stock-outs): try another group.
    "max-node-provision-time": "15m",
    # New pods land elsewhere while a node drains.
    "cordon-node-before-terminating": True,
}


def helm_values(plan: CloudPlan, image: AutoscalerImage) -> dict[str, Any]:
    """Values for the pinned chart (keys of charts/cluster-autoscaler/values.yaml).

    Defaults: auto-discovery of this cluster's node groups by tag, the image of the
    cluster's minor, two replicas (leader election) on the system pool with a disruption
    budget of one, priority system-cluster-critical (a full cluster must not evict the
    component that adds nodes), the restricted security context, and EXTRA_ARGS.
    """
    if not any(p.role == SYSTEM_ROLE for p in plan.pools.values()):
        raise ValueError(f"stack {plan.prefix} has no pool with role: {SYSTEM_ROLE}; the cluster autoscaler "
                         "runs there (the loader normally rejects such a stack)")
    return {
        "cloudProvider": "aws",
        "awsRegion": plan.region,
        "autoDiscovery": {"clusterName": plan.cluster_name, "tags": discovery_tags(plan.cluster_name)},
        "image": {"repository": image.repository, "tag": image.tag, "pullPolicy": PULL_POLICY},
        "deployment": {"annotations": skip_annotations({
            "CKV_K8S_11": NO_CPU_LIMIT_REASON, NEEDS_API: NEEDS_API_REASON,
            "CKV2_K8S_6": KUBE_SYSTEM_NETWORK_POLICY_REASON,
            # The chart has a liveness probe (/health-check) and no setting for a readiness probe.
            "CKV_K8S_9": "the autoscaler serves no traffic, so readiness would gate nothing; the chart's "
                         "liveness probe on /health-check restarts it when it hangs"})},
        "fullnameOverride": FULLNAME,
        "replicaCount": REPLICAS,
        "priorityClassName": PRIORITY_CLASS,
        # Created by the chart, unannotated: EKS Pod Identity binds it to the role by name.
        "rbac": {"create": True, "serviceAccount": {"create": True, "name": SERVICE_ACCOUNT}},
        "extraArgs": dict(EXTRA_ARGS),
        "resources": {"requests": {"cpu": "100m", "memory": "600Mi"}, "limits": {"memory": "1Gi"}},
        "podDisruptionBudget": {"maxUnavailable": 1},
        "securityContext": {"runAsNonRoot": True, "runAsUser": 65534, "runAsGroup": 65534, "fsGroup": 65534,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "containerSecurityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                     "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}},
        "nodeSelector": {names.LABEL_ROLE: SYSTEM_ROLE},
        "tolerations": system_tolerations(plan),
    }
