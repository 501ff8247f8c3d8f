"""What a training identity may do, as the clouds spell it: prefix-scoped GCS grants (IAM
conditions) and an S3 policy document. Decided here, registered by the components, checked
by the policy pack (no training identity may write outside its prefixes)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from infra.plan.training.platform import Grant, IdentityPlan

# GCS roles. Reads list too: GCS checks list against the bucket resource itself, so the
# condition admits the bucket (object names are visible, their content is not).
READ_ROLE = "roles/storage.objectViewer"
CHECKPOINT_ROLE = "roles/storage.objectUser"  # create, overwrite and delete its own checkpoints
VERSION_ROLE = "roles/storage.objectCreator"  # add new versions; never overwrite or delete one


@dataclass(frozen=True, kw_only=True)
class GcsGrant:
    key: str  # logical name suffix
    bucket: str
    role: str
    condition: dict[str, str]


def prefix_condition(grant: Grant, *, listing: bool, title: str) -> dict[str, str]:
    objects = f'resource.name.startsWith("projects/_/buckets/{grant.bucket}/objects/{grant.prefix}/")'
    expr = f'resource.type == "storage.googleapis.com/Bucket" || {objects}' if listing else objects
    return {"title": title, "description": f"only gs://{grant.bucket}/{grant.prefix}/", "expression": expr}


def gcs_grants(identity: IdentityPlan) -> list[GcsGrant]:
    checkpoints, versions = identity.writes
    # Write roles carry the object-prefix condition alone; listing comes with the reads.
    spec = [*((f"read-{i}", g, READ_ROLE, True) for i, g in enumerate(identity.reads)),
            ("checkpoints-read", checkpoints, READ_ROLE, True),
            ("checkpoints-write", checkpoints, CHECKPOINT_ROLE, False),
            ("versions-read", versions, READ_ROLE, True),
            ("versions-create", versions, VERSION_ROLE, False)]
    return [GcsGrant(key=key, bucket=g.bucket, role=role,
                     condition=prefix_condition(g, listing=listing, title=f"tfplat-training-{key}"))
            for key, g, role, listing in spec]


def _list(grant: Grant, sid: str) -> dict[str, Any]:
    return {"Sid": f"{sid}List", "Effect": "Allow", "Action": "s3:ListBucket",
            "Resource": f"arn:aws:s3:::{grant.bucket}",
            "Condition": {"StringLike": {"s3:prefix": [f"{grant.prefix}/*", grant.prefix]}}}


def _objects(grant: Grant, sid: str, actions: list[str]) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": actions,
            "Resource": f"arn:aws:s3:::{grant.bucket}/{grant.prefix}/*"}


def s3_policy(identity: IdentityPlan, kms_key: str | None) -> dict[str, Any]:
    """The training role's inline policy: list and read the data prefixes; read, write and
    delete checkpoints under <model>/; read and add versions under the model's prefix."""
    checkpoints, versions = identity.writes
    statements: list[dict[str, Any]] = []
    for i, grant in enumerate(identity.reads):
        statements += [_list(grant, f"Data{i}"), _objects(grant, f"Data{i}Read", ["s3:GetObject"])]
    statements += [_list(checkpoints, "Checkpoints"),
                   _objects(checkpoints, "CheckpointsWrite",
                            ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]),
                   _list(versions, "Versions"),
                   _objects(versions, "VersionsWrite", ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"])]
    if kms_key:
        statements.append({"Sid": "Kms", "Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                           "Resource": kms_key})
    return {"Version": "2012-10-17", "Statement": statements}
