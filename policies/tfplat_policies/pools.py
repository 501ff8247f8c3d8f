"""Node pools: accelerator pools tainted and bounded, GKE nodes off the default service account.

An accelerator pool without a NoSchedule taint fills up with pods that need no GPU or TPU,
and one without an autoscaling maximum can grow the bill without limit. A GKE node running
as the Compute Engine default service account holds the project-wide Editor role.
"""

from __future__ import annotations

import re
from typing import Literal

from .model import Finding, Props, ResourcePolicy, Settings, as_list, as_map, dig, is_unknown

GKE_CLUSTER = "gcp:container/cluster:Cluster"
GKE_POOL = "gcp:container/nodePool:NodePool"
EKS_NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
GPU_TAINT = "nvidia.com/gpu"
TPU_TAINT = "google.com/tpu"
REPELLING_EFFECTS = frozenset({"NO_SCHEDULE", "NO_EXECUTE"})
# Machine families that always carry GPUs (no guestAccelerators needed) and TPU VM families.
GKE_GPU_FAMILIES = ("a2-", "a3-", "a4-", "g2-", "g4-")
GKE_TPU_FAMILIES = ("ct", "tpu")
EKS_GPU_INSTANCE = re.compile(r"^(p\d|g\d|gr\d)")
DEFAULT_COMPUTE_SA = "-compute@developer.gserviceaccount.com"

Accelerator = Literal["gpu", "tpu"]
_TAINT_KEY: dict[Accelerator, str] = {"gpu": GPU_TAINT, "tpu": TPU_TAINT}


def pool_key(resource_type: str, props: Props) -> str:
    """The tfplat:node_pools key a pool came from (its tfplat.dev/pool label)."""
    node_labels = as_map(props.get("labels")) if resource_type == EKS_NODE_GROUP \
        else as_map(dig(props, "nodeConfig", "labels"))
    key = node_labels.get("tfplat.dev/pool")
    return key if isinstance(key, str) else "<pool>"


def accelerator(resource_type: str, props: Props) -> Accelerator | None:
    if resource_type == GKE_POOL:
        machine = dig(props, "nodeConfig", "machineType")
        machine = machine if isinstance(machine, str) else ""
        if machine.startswith(GKE_TPU_FAMILIES):
            return "tpu"
        attached = [a for a in as_list(dig(props, "nodeConfig", "guestAccelerators")) if dig(a, "count") != 0]
        if attached or machine.startswith(GKE_GPU_FAMILIES):
            return "gpu"
    elif resource_type == EKS_NODE_GROUP:
        ami = props.get("amiType")
        if isinstance(ami, str) and ("NVIDIA" in ami or "GPU" in ami):
            return "gpu"
        if any(isinstance(t, str) and EKS_GPU_INSTANCE.match(t) for t in as_list(props.get("instanceTypes"))):
            return "gpu"
    return None


def check_taint(resource_type: str, props: Props, settings: Settings) -> list[Finding]:
    kind = accelerator(resource_type, props)
    if kind is None:
        return []
    taints = props.get("taints") if resource_type == EKS_NODE_GROUP else dig(props, "nodeConfig", "taints")
    if is_unknown(taints):
        return []
    key = _TAINT_KEY[kind]
    if any(dig(t, "key") == key and dig(t, "effect") in REPELLING_EFFECTS for t in as_list(taints)):
        return []
    pool = pool_key(resource_type, props)
    return [Finding(f"{kind.upper()} pool has no {key} NoSchedule/NoExecute taint, so pods that need no "
                    f"{kind.upper()} land on it",
                    f"declare the pool's accelerator under tfplat:node_pools.{pool}.accelerator (tfplat then adds "
                    f"the {key} taint); never put an accelerator machine type in a pool without it")]


def check_bounded(resource_type: str, props: Props, settings: Settings) -> list[Finding]:
    kind = accelerator(resource_type, props)
    if kind is None:
        return []
    pool = pool_key(resource_type, props)
    fix = f"set tfplat:node_pools.{pool}.max_nodes (and min_nodes, 0 to scale to zero)"
    if resource_type == GKE_POOL:
        scaling = props.get("autoscaling")
        if is_unknown(scaling):
            return []
        maxima = [dig(scaling, "totalMaxNodeCount"), dig(scaling, "maxNodeCount")]
        if not any(is_unknown(m) or (isinstance(m, int) and m > 0) for m in maxima):
            return [Finding(f"{kind.upper()} pool has no autoscaling maximum (autoscaling {dict(as_map(scaling))})",
                            fix)]
    else:
        top, bottom = dig(props, "scalingConfig", "maxSize"), dig(props, "scalingConfig", "minSize")
        if is_unknown(top):
            return []
        if not isinstance(top, int) or top <= 0 or (isinstance(bottom, int) and bottom > top):
            return [Finding(f"GPU node group has no usable scalingConfig.maxSize ({top!r}, minSize {bottom!r})", fix)]
    return []


def _default_sa(account: object) -> bool:
    if is_unknown(account):
        return False
    return not account or account == "default" or (isinstance(account, str) and account.endswith(DEFAULT_COMPUTE_SA))


def check_service_account(resource_type: str, props: Props, settings: Settings) -> list[Finding]:
    fix = ("run nodes as tfplat's dedicated node service account (node_config.service_account = the "
           "tfplat-<environment>-nodes account created in infra/components/gcp.py)")
    places: list[tuple[str, object]] = []
    if resource_type == GKE_POOL:
        places.append(("nodeConfig.serviceAccount", dig(props, "nodeConfig", "serviceAccount")))
    elif resource_type == GKE_CLUSTER:
        if props.get("nodeConfig") or props.get("removeDefaultNodePool") is not True:
            places.append(("nodeConfig.serviceAccount", dig(props, "nodeConfig", "serviceAccount")))
        if dig(props, "clusterAutoscaling", "enabled") is True or props.get("enableAutopilot") is True:
            places.append(("clusterAutoscaling.autoProvisioningDefaults.serviceAccount",
                           dig(props, "clusterAutoscaling", "autoProvisioningDefaults", "serviceAccount")))
    return [Finding(f"{where} is {account or 'unset'!r}: nodes run as the Compute Engine default service "
                    "account (project Editor)", fix)
            for where, account in places if _default_sa(account)]


POLICIES = (
    ResourcePolicy(
        id="pool-accelerator-taint", severity="high", check=check_taint,
        description="GPU and TPU node pools carry the nvidia.com/gpu or google.com/tpu NoSchedule taint.",
        remediation="Declare accelerators under tfplat:node_pools.<pool>.accelerator; tfplat adds the taint."),
    ResourcePolicy(
        id="pool-bounded-autoscaling", severity="high", check=check_bounded,
        description="GPU and TPU node pools autoscale with an explicit maximum node count.",
        remediation="Set tfplat:node_pools.<pool>.max_nodes."),
    ResourcePolicy(
        id="gke-no-default-service-account", cis=("GKE 5.2.1",), severity="high", check=check_service_account,
        description="GKE nodes never run as the Compute Engine default service account.",
        remediation="Use tfplat's dedicated node service account on every cluster and node pool."),
)
