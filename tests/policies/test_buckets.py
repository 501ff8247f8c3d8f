"""bucket-private, bucket-versioned, bucket-encrypted, bucket-companions."""

from __future__ import annotations

from typing import Any

import pytest

from policies.tfplat_policies.model import UNKNOWN
from tests.policies.factories import DROP, GCS_BUCKET, messages, patched, res, run, run_stack

GCS = "gcp:storage/bucket:Bucket"
S3 = "aws:s3/bucket:Bucket"
PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
BLOCKED = {"bucket": "models-bucket-id", "blockPublicAcls": True, "blockPublicPolicy": True,
           "ignorePublicAcls": True, "restrictPublicBuckets": True}
ENCRYPTED = {"bucket": "models-bucket-id",
             "rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]}


def test_a_private_gcs_bucket_passes() -> None:
    assert run("bucket-private", GCS, GCS_BUCKET) == []


@pytest.mark.parametrize(("patch", "expected"), [
    ({"uniformBucketLevelAccess": False}, "uniformBucketLevelAccess is not true"),
    ({"uniformBucketLevelAccess": DROP}, "uniformBucketLevelAccess is not true"),
    ({"publicAccessPrevention": "inherited"}, "publicAccessPrevention is 'inherited', not 'enforced'"),
])
def test_a_gcs_bucket_open_to_acls_or_the_public_fails(patch: dict[str, Any], expected: str) -> None:
    findings = run("bucket-private", GCS, patched(GCS_BUCKET, patch))
    assert len(findings) == 1 and findings[0].message.startswith(expected)
    assert "ModelStore" in findings[0].fix


def test_a_full_public_access_block_passes_and_a_partial_one_fails() -> None:
    assert run("bucket-private", PAB, BLOCKED) == []
    partial = patched(BLOCKED, {"restrictPublicBuckets": False, "ignorePublicAcls": DROP})
    assert messages(run("bucket-private", PAB, partial)) == [
        "public access is not fully blocked: ignorePublicAcls, restrictPublicBuckets not true"]


def test_a_public_canned_acl_on_s3_fails() -> None:
    assert run("bucket-private", S3, {"bucket": "b", "acl": "private"}) == []
    assert messages(run("bucket-private", S3, {"bucket": "b", "acl": "public-read"})) == [
        "canned ACL 'public-read' makes the bucket readable outside the account"]


def test_versioning() -> None:
    assert run("bucket-versioned", GCS, GCS_BUCKET) == []
    assert messages(run("bucket-versioned", GCS, patched(GCS_BUCKET, {"versioning": {"enabled": False}}))) == [
        "object versioning is off, so an overwritten or deleted model version is lost"]
    enabled = {"bucket": "b", "versioningConfiguration": {"status": "Enabled"}}
    assert run("bucket-versioned", VERSIONING, enabled) == []
    suspended = patched(enabled, {"versioningConfiguration": {"status": "Suspended"}})
    assert messages(run("bucket-versioned", VERSIONING, suspended)) == [
        "versioning status is 'Suspended', not 'Enabled'"]


def test_encryption() -> None:
    assert run("bucket-encrypted", GCS, GCS_BUCKET) == []  # Google-managed keys
    assert run("bucket-encrypted", GCS, {**GCS_BUCKET, "encryption": {"defaultKmsKeyName": "projects/p/k"}}) == []
    findings = run("bucket-encrypted", GCS, {**GCS_BUCKET, "encryption": {"defaultKmsKeyName": ""}})
    assert messages(findings) == ["an encryption block names no defaultKmsKeyName"]
    assert "tfplat:gcp.kms_key" in findings[0].fix
    assert run("bucket-encrypted", SSE, ENCRYPTED) == []
    findings = run("bucket-encrypted", SSE, {"bucket": "b", "rules": []})
    assert findings and findings[0].message.startswith("no default encryption rule")
    assert "tfplat:aws.kms_key_arn" in findings[0].fix


def test_unknown_values_are_not_held_against_a_resource() -> None:
    assert run("bucket-private", GCS, {**GCS_BUCKET, "uniformBucketLevelAccess": UNKNOWN}) == []
    assert run("bucket-encrypted", SSE, {"bucket": "b", "rules": UNKNOWN}) == []


def _s3_stack(*companions: tuple[str, str, dict[str, Any]]) -> list[Any]:
    bucket = res(S3, "models-bucket", {"bucket": "tfplat-prod-aws-models"})
    return [bucket, *(res(t, n, p, deps=(bucket.urn,)) for t, n, p in companions)]


def test_a_bucket_with_its_three_companions_passes() -> None:
    stack = _s3_stack((PAB, "pab", BLOCKED), (VERSIONING, "ver", {"bucket": "x"}), (SSE, "sse", ENCRYPTED))
    assert run_stack("bucket-companions", stack) == []


def test_a_companion_may_name_its_bucket_literally() -> None:
    bucket = res(S3, "models-bucket", {"bucket": "tfplat-prod-aws-models"})
    companions = [res(t, n, {"bucket": "tfplat-prod-aws-models"})
                  for t, n in ((PAB, "p"), (VERSIONING, "v"), (SSE, "s"))]
    assert run_stack("bucket-companions", [bucket, *companions]) == []


def test_a_bucket_missing_companions_fails_naming_each() -> None:
    other = res(S3, "logs", {"bucket": "logs"})
    stack = [*_s3_stack((VERSIONING, "ver", {"bucket": "x"})), other,
             res(PAB, "logs-pab", BLOCKED, deps=(other.urn,))]  # belongs to the other bucket
    findings = run_stack("bucket-companions", stack)
    assert messages(findings)[:2] == [
        "S3 bucket 'models-bucket' has no BucketPublicAccessBlock, so nothing makes it private",
        "S3 bucket 'models-bucket' has no BucketServerSideEncryptionConfiguration, so nothing makes it encrypted"]
    assert all(f.resource is not None for f in findings)
    assert {f.resource.name for f in findings if f.resource} == {"models-bucket", "logs"}


def test_property_dependencies_decide_when_the_engine_gives_them() -> None:
    bucket = res(S3, "models-bucket", {"bucket": "b"})
    unrelated = res(S3, "other", {"bucket": "o"})
    # depends on the bucket through another property only: not its companion
    pab = res(PAB, "pab", BLOCKED, deps=(bucket.urn, unrelated.urn), prop_deps={"bucket": (unrelated.urn,)})
    findings = run_stack("bucket-companions", [bucket, unrelated, pab])
    assert "S3 bucket 'models-bucket' has no BucketPublicAccessBlock, so nothing makes it private" in messages(findings)
    assert "S3 bucket 'other' has no BucketPublicAccessBlock, so nothing makes it private" not in messages(findings)
