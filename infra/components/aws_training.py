"""AWS side of training: the checkpoint bucket and one training identity per trained model
(an IAM role associated with the model's training KSA through EKS Pod Identity).

The role's policy names object prefixes, never whole buckets: it reads its data prefixes,
writes its checkpoints under <model>/ and new versions under the model's prefix."""

from __future__ import annotations

import json

import pulumi

from infra.components.aws import EksCluster, _private_s3_bucket, pod_identity_role
from infra.plan.cloud import CloudPlan
from infra.plan.training.iam import s3_policy
from infra.plan.training.platform import CheckpointBucketPlan, IdentityPlan

PURPOSE_TAG = "tfplat:purpose"
NONCURRENT_DAYS = 1  # unversioned: nothing noncurrent to keep
TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"},
                                                 "Action": ["sts:AssumeRole", "sts:TagSession"]}]}


class S3CheckpointBucket(pulumi.ComponentResource):
    """Public access blocked, bucket-owner-enforced, encrypted, TLS only, unversioned, objects
    expire after retention_days."""

    def __init__(self, name: str, plan: CheckpointBucketPlan, cloud: CloudPlan, *,
                 opts: pulumi.ResourceOptions) -> None:
        super().__init__("tfplat:training:S3CheckpointBucket", name, None, opts)
        self.bucket, _ = _private_s3_bucket(
            name, plan.name, kms_key=plan.kms_key, noncurrent_days=NONCURRENT_DAYS, expire_days=plan.retention_days,
            protect=cloud.deletion_protection, tags={"tfplat:stack": cloud.prefix, PURPOSE_TAG: "checkpoints"},
            parent=self, versioned=False)
        self.register_outputs({"bucket": self.bucket.bucket})


class AwsTrainingIdentity(pulumi.ComponentResource):
    """One model's training role, its prefix-scoped policy, and its Pod Identity association
    with the model's training KSA."""

    def __init__(self, name: str, identity: IdentityPlan, cloud: CloudPlan, cluster: EksCluster, *,
                 kms_key: str | None, opts: pulumi.ResourceOptions) -> None:
        super().__init__("tfplat:training:AwsIdentity", name, None, opts)
        document = json.dumps(s3_policy(identity, kms_key))
        self.role, self.ready = pod_identity_role(
            name, plan=cloud, cluster=cluster, role_name=identity.cloud_name,
            description=f"training jobs of {identity.model}", trust=TRUST, namespace=identity.namespace,
            service_account=identity.service_account, policy=lambda _arn: document, parent=self)
        self.register_outputs({"role": self.role.arn})
