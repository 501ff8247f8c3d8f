"""GCP side of training: the checkpoint bucket and one training identity per trained model
(a Google service account bound to the model's training KSA through Workload Identity).

Every grant of a training identity is conditioned on an object prefix (IAM conditions on the
bucket, which uniform bucket-level access allows): it reads its data prefixes, writes its
checkpoints under <model>/ and new versions under the model's prefix, and nothing else."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from infra.config.spec import GcpSettings
from infra.plan.training.iam import gcs_grants
from infra.plan.training.platform import CheckpointBucketPlan, IdentityPlan

PURPOSE_LABEL = "tfplat-purpose"


class GcsCheckpointBucket(pulumi.ComponentResource):
    """Private (uniform access, public access prevention), unversioned (a checkpoint is
    rewritten, never restored from an old generation), objects deleted after retention_days."""

    def __init__(self, name: str, plan: CheckpointBucketPlan, settings: GcpSettings, *, protect: bool,
                 opts: pulumi.ResourceOptions) -> None:
        super().__init__("tfplat:training:GcsCheckpointBucket", name, None, opts)
        self.bucket = gcp.storage.Bucket(
            f"{name}-bucket", name=plan.name, project=settings.project, location=plan.location.upper(),
            uniform_bucket_level_access=True, public_access_prevention="enforced",
            versioning={"enabled": False}, force_destroy=False, labels={PURPOSE_LABEL: "checkpoints"},
            lifecycle_rules=[{"action": {"type": "Delete"}, "condition": {"age": plan.retention_days}}],
            encryption={"default_kms_key_name": plan.kms_key} if plan.kms_key else None,
            opts=pulumi.ResourceOptions(parent=self, protect=protect))
        self.register_outputs({"bucket": self.bucket.name})


class GcpTrainingIdentity(pulumi.ComponentResource):
    """One model's training identity: the service account, its prefix-scoped grants, and the
    Workload Identity binding of the model's training KSA."""

    def __init__(self, name: str, identity: IdentityPlan, settings: GcpSettings, *, cluster: pulumi.Resource,
                 depends_on: list[pulumi.Resource], opts: pulumi.ResourceOptions) -> None:
        super().__init__("tfplat:training:GcpIdentity", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, depends_on=depends_on)
        gsa = gcp.serviceaccount.Account(f"{name}-sa", account_id=identity.cloud_name, project=settings.project,
                                         display_name=f"training jobs of {identity.model}",
                                         opts=pulumi.ResourceOptions(parent=self))
        member = gsa.email.apply(lambda e: f"serviceAccount:{e}")
        for grant in gcs_grants(identity):
            gcp.storage.BucketIAMMember(f"{name}-{grant.key}", bucket=grant.bucket, role=grant.role, member=member,
                                        condition=gcp.storage.BucketIAMMemberConditionArgs(**grant.condition),
                                        opts=child)
        gcp.serviceaccount.IAMMember(
            f"{name}-wi", service_account_id=gsa.name, role="roles/iam.workloadIdentityUser",
            member=f"serviceAccount:{settings.project}.svc.id.goog[{identity.namespace}/{identity.service_account}]",
            opts=pulumi.ResourceOptions(parent=self, depends_on=[cluster]))
        self.email = gsa.email
        self.register_outputs({"serviceAccount": gsa.email})
