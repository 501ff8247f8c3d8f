"""What the in-cluster AWS controllers (the load balancer controller, infra.plan.aws_lbc,
and the cluster autoscaler, infra.plan.aws_autoscaler) share: where their IAM policies
may act (the cluster's ARN), how those policies reach IAM, the Pod Identity trust that
binds each role to one service account, and how they run on the system pool.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
import json
import re
from typing import Any

from infra.plan.cloud import CloudPlan, Taint

#: Pools of this role carry the cluster's add-ons; nodes are labelled infra.rules.names.LABEL_ROLE.
SYSTEM_ROLE = "system"

# --------------------------------------------------------------------------- identity

_CLUSTER_ARN = re.compile(r"^arn:(?P<partition>aws[a-z-]*):eks:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
                          r"cluster/(?P<name>[A-Za-z0-9][A-Za-z0-9_-]*)$")
# The upstream policy for aws-cn and the ISO partitions differs in service names, not only
# in ARNs; supporting one is adding its variant here, not substituting the partition.
_PARTITIONS = frozenset({"aws", "aws-us-gov"})


@dataclass(frozen=True, kw_only=True)
class ClusterScope:
    """Where a controller may act: one cluster, in one account and region."""

    partition: str
    region: str
    account: str
    cluster_name: str

    @classmethod
    def from_cluster_arn(cls, arn: str) -> ClusterScope:
        m = _CLUSTER_ARN.match(arn)
        if m is None:
            raise ValueError(f"not an EKS cluster ARN: {arn!r} "
                             "(expected arn:aws:eks:<region>:<account>:cluster/<name>)")
        if m["partition"] not in _PARTITIONS:
            raise ValueError(f"partition {m['partition']!r} of {arn!r} is not supported "
                             f"(supported: {', '.join(sorted(_PARTITIONS))})")
        return cls(partition=m["partition"], region=m["region"], account=m["account"], cluster_name=m["name"])

    def arn(self, service: str, resource: str, *, region: bool = True) -> str:
        return f"arn:{self.partition}:{service}:{self.region if region else ''}:{self.account}:{resource}"



def pod_identity_trust(cluster_name: str, namespace: str, service_account: str | Sequence[str]) -> dict[str, Any]:
    """Trust for EKS Pod Identity (sts:TagSession: the agent passes session tags), limited by
    those tags to the service account(s) in one namespace of this cluster, so another
    association pointed at the role by mistake gets nothing."""
    accounts = service_account if isinstance(service_account, str) else sorted(service_account)
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": "EksPodIdentity", "Effect": "Allow",
        "Principal": {"Service": "pods.eks.amazonaws.com"},
        "Action": ["sts:AssumeRole", "sts:TagSession"],
        "Condition": {"StringEquals": {
            "aws:RequestTag/eks-cluster-name": cluster_name,
            "aws:RequestTag/kubernetes-namespace": namespace,
            "aws:RequestTag/kubernetes-service-account": accounts}}}]}


#: IAM's limit for a role's inline policies, in characters not counting whitespace. The
#: policy is inline, not managed: it names one cluster, so it is never shared, and it is
#: over a managed policy's 6,144 once ARNs and tag values are spelled out.
INLINE_POLICY_LIMIT = 10_240


def policy_json(document: Mapping[str, Any]) -> str:
    """The document as IAM receives it (compact, stable key order); raises ValueError if
    it would exceed INLINE_POLICY_LIMIT, which IAM would only report at apply time."""
    text = json.dumps(document, sort_keys=True, separators=(",", ":"))
    size = sum(1 for ch in text if not ch.isspace())
    if size > INLINE_POLICY_LIMIT:
        raise ValueError(f"IAM policy is {size} characters; a role's inline policies may hold "
                         f"{INLINE_POLICY_LIMIT}. Split it into a second RolePolicy.")
    return text


# checkov waivers both controllers carry (infra.plan.scan_waivers).
NO_CPU_LIMIT_REASON = ("no CPU limit on purpose: throttling a controller only delays its reconciles; "
                       "the CPU request reserves its share and the memory limit bounds it")
KUBE_SYSTEM_NETWORK_POLICY_REASON = (
    "EKS enforces NetworkPolicies only with the VPC CNI network policy agent, which these stacks do not "
    "enable; the controller listens only for its webhook (called by the control plane from outside the pod "
    "network) and its metrics")


# --------------------------------------------------------------------------- placement


def system_tolerations(plan: CloudPlan) -> list[dict[str, str]]:
    taints: set[Taint] = set()
    for pool in plan.pools.values():
        if pool.role == SYSTEM_ROLE:
            taints.update(pool.taints)
    return [{"key": t.key, "operator": "Equal", "value": t.value, "effect": t.effect}
            for t in sorted(taints, key=lambda t: (t.key, t.value, t.effect))]
