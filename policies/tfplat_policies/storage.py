"""Customer-managed keys for disks: node volumes and persistent volumes.

GKE boot disks are checked on the node pools (gke.py, CIS GKE 5.9.2). Here: EKS nodes' root
volumes (their launch templates), and every StorageClass the stack renders plus every
volumeClaimTemplate in its Helm values (Prometheus, Alertmanager) naming one of them (CIS GKE
5.9.1; the same rule on EKS, where CIS has no item for it).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from .model import Finding, Props, Resource, ResourcePolicy, Settings, StackPolicy, as_list, as_map, dig, is_unknown

LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
STORAGE_CLASS = "kubernetes:storage.k8s.io/v1:StorageClass"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
#: The parameter that names the KMS key, per CSI driver.
KEY_PARAMETER = {"pd.csi.storage.gke.io": "disk-encryption-kms-key", "ebs.csi.aws.com": "kmsKeyId"}
_FIX = "set tfplat:cluster.disk_encryption: cmek (the default in prod)"


def check_node_volumes(resource_type: str, props: Props, settings: Settings) -> list[Finding]:
    if resource_type != LAUNCH_TEMPLATE:
        return []
    out = []
    for mapping in as_list(props.get("blockDeviceMappings")):
        ebs = as_map(dig(mapping, "ebs"))
        device = dig(mapping, "deviceName")
        if is_unknown(ebs.get("kmsKeyId")):
            continue
        if str(ebs.get("encrypted")).lower() != "true":
            out.append(Finding(f"volume {device!r} is not encrypted", _FIX))
        elif not ebs.get("kmsKeyId"):
            out.append(Finding(f"volume {device!r} is encrypted with the AWS-managed key, not the stack's", _FIX))
    return out


def _claims(value: Any, path: str = "values") -> Iterator[tuple[str, Any]]:
    """(where, storageClassName) of every volumeClaimTemplate in Helm values."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "volumeClaimTemplate":
                yield f"{path}.{key}", dig(item, "spec", "storageClassName")
            else:
                yield from _claims(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _claims(item, f"{path}[{i}]")


def check_volumes(resources: Sequence[Resource], settings: Settings) -> list[Finding]:
    out, keyed = [], set()
    for sc in (r for r in resources if r.type == STORAGE_CLASS):
        param = KEY_PARAMETER.get(str(sc.props.get("provisioner")))
        key = dig(sc.props, "parameters", param) if param else None
        name = dig(sc.props, "metadata", "name")
        if is_unknown(key) or key:
            keyed.add(name)
        else:
            out.append(Finding(f"StorageClass {name!r} creates volumes encrypted with the provider's key", _FIX, sc))
    for release in (r for r in resources if r.type == HELM_RELEASE):
        for where, cls in _claims(release.props.get("values")):
            if not is_unknown(cls) and cls not in keyed:
                out.append(Finding(f"{where} uses StorageClass {cls or '(the cluster default)'!r}, which encrypts with "
                                   "the provider's key", f"{_FIX}; the monitoring volumes then use tfplat-encrypted",
                                   release))
    return out


POLICIES = (
    ResourcePolicy(
        id="eks-node-volumes-cmek", severity="medium", check=check_node_volumes,
        description="EKS node root volumes are encrypted with the stack's KMS key (their launch templates).",
        remediation="Set tfplat:cluster.disk_encryption: cmek."),
    StackPolicy(
        id="volumes-cmek", cis=("GKE 5.9.1",), severity="medium", check=check_volumes,
        description="Persistent volumes (every StorageClass the stack renders, every volumeClaimTemplate in its Helm "
                    "values) are encrypted with the stack's KMS key.",
        remediation="Set tfplat:cluster.disk_encryption: cmek; the monitoring volumes use the tfplat-encrypted class."),
)
