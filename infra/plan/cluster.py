"""Names of a stack's cloud resources, shared by both clouds: prefix, buckets, serving identity.

The Kubernetes versions and default zones are rules (infra.rules.cluster)."""

from __future__ import annotations

from infra.config.spec import StackSpec


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
