"""Cluster-level facts shared by both clouds: Kubernetes versions, zones, name prefix."""

from __future__ import annotations

from infra.config.spec import StackSpec

#: Minor versions a stack may ask for. Each must be offered by GKE and EKS and have
#: OpenAPI schemas in kubernetes-validate (the offline plan validates against them);
#: tests/plan/test_cluster.py checks the latter.
SUPPORTED_KUBERNETES_VERSIONS: tuple[str, ...] = ("1.31", "1.32", "1.33", "1.34", "1.35", "1.36")


def default_zones(stack: StackSpec) -> tuple[str, ...]:
    """The zones node pools use unless a pool names its own."""
    if stack.cloud == "gcp":
        if stack.gcp is not None and stack.gcp.zones:
            return stack.gcp.zones
        return tuple(f"{stack.region}-{z}" for z in ("a", "b", "c"))
    if stack.aws is not None and stack.aws.availability_zones:
        return stack.aws.availability_zones
    return tuple(f"{stack.region}{z}" for z in ("a", "b", "c"))


def name_prefix(stack: StackSpec) -> str:
    """Prefix of cloud resource names: tfplat-<stack>, so two stacks never collide."""
    return f"tfplat-{stack.name}"


def bucket_name(stack: StackSpec, purpose: str) -> str:
    """Globally unique and deterministic: the GCP project or AWS account id is in it."""
    if stack.cloud == "gcp":
        assert stack.gcp is not None
        return f"{stack.gcp.project}-{stack.name}-{purpose}"
    assert stack.aws is not None
    return f"tfplat-{stack.name}-{purpose}-{stack.aws.account_id}"


def model_bucket_name(stack: StackSpec) -> str:
    return bucket_name(stack, "models")


def serving_identity_name(stack: StackSpec) -> str:
    """GCP service account id / IAM role name of the serving pods (<= 30 chars)."""
    return f"tfplat-{stack.name}-serving"


def gcp_serving_email(stack: StackSpec) -> str:
    assert stack.gcp is not None
    return f"{serving_identity_name(stack)}@{stack.gcp.project}.iam.gserviceaccount.com"
