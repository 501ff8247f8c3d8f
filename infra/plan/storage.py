"""Disk encryption: node boot disks and the StorageClass of the stack's persistent volumes.

With customer-managed keys (tfplat:cluster.disk_encryption: cmek, the default in prod) the
node pools' boot disks and every volume of the `tfplat-encrypted` StorageClass (Prometheus'
and Alertmanager's) are encrypted with the stack's own KMS key: on GKE the `disks` key of
the stack's key ring, on AWS the stack's `disks` KMS key. EKS has no default StorageClass
and no in-tree EBS provisioner, so an AWS stack always gets the class (gp3, encrypted,
with the AWS-managed key when not cmek); a GKE stack without cmek keeps GKE's default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from infra.config.spec import StackSpec
from infra.plan.cluster import name_prefix
from infra.rules import names

STORAGE_CLASS = "tfplat-encrypted"
DISK_KEY = "disks"  # the key's name in the stack's GKE key ring; the AWS key's purpose


def cmek_disks(stack: StackSpec) -> bool:
    choice = stack.cluster.disk_encryption
    return choice == "cmek" if choice is not None else stack.environment == "prod"


def gke_key_ring(stack: StackSpec) -> str:
    """The key ring the GKE component creates (its secrets key lives there too)."""
    return f"{name_prefix(stack)}-gke"


def gke_disk_key(stack: StackSpec) -> str:
    """The disks key's resource name, known before the key exists (GKE names are paths)."""
    assert stack.gcp is not None
    return (f"projects/{stack.gcp.project}/locations/{stack.region}/keyRings/{gke_key_ring(stack)}"
            f"/cryptoKeys/{DISK_KEY}")


@dataclass(frozen=True, kw_only=True)
class StorageClassPlan:
    cloud: str
    cmek: bool

    @property
    def name(self) -> str:
        return STORAGE_CLASS


def plan_storage_class(stack: StackSpec) -> StorageClassPlan | None:
    if stack.cloud == "aws" or cmek_disks(stack):
        return StorageClassPlan(cloud=stack.cloud, cmek=cmek_disks(stack))
    return None


def storage_class_name(stack: StackSpec) -> str | None:
    """What PersistentVolumeClaims of the stack name (None: the cluster's default class)."""
    return STORAGE_CLASS if plan_storage_class(stack) is not None else None


def storage_class(plan: StorageClassPlan, key: Any = None) -> dict[str, Any]:
    """The StorageClass; `key` is the KMS key (GKE resource name, AWS key ARN) when cmek.

    Volumes are created where their pod lands (WaitForFirstConsumer) so a zonal disk is
    never in a zone the pod cannot run in, and may grow."""
    if plan.cloud == "gcp":
        provisioner = "pd.csi.storage.gke.io"
        parameters: dict[str, Any] = {"type": "pd-balanced"}
        if plan.cmek:
            parameters["disk-encryption-kms-key"] = key
    else:
        provisioner = "ebs.csi.aws.com"
        parameters = {"type": "gp3", "encrypted": "true"}
        if plan.cmek:
            parameters["kmsKeyId"] = key
    labels = {names.LABEL_NAME: STORAGE_CLASS, names.LABEL_PART_OF: names.PART_OF,
              names.LABEL_MANAGED_BY: names.MANAGED_BY, names.LABEL_COMPONENT: "storage"}
    return {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": {"name": STORAGE_CLASS, "labels": dict(sorted(labels.items()))},
            "provisioner": provisioner, "parameters": parameters, "reclaimPolicy": "Delete",
            "volumeBindingMode": "WaitForFirstConsumer", "allowVolumeExpansion": True}
