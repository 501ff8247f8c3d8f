"""Model buckets: private, versioned and encrypted, on GCS and S3.

A GCS bucket carries all three settings itself. An S3 bucket (AWS provider v6+) carries
none: each lives in a companion resource pointing at the bucket, so the per-resource checks
validate the companions and a stack check makes sure every bucket has all three.
"""

from __future__ import annotations

from collections.abc import Sequence

from .model import Finding, Props, Resource, ResourcePolicy, Settings, StackPolicy, dig, is_unknown

GCS_BUCKET = "gcp:storage/bucket:Bucket"
S3_BUCKETS = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
S3_PUBLIC_ACCESS_BLOCK = ("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",)
S3_VERSIONING = ("aws:s3/bucketVersioning:BucketVersioning", "aws:s3/bucketVersioningV2:BucketVersioningV2")
S3_ENCRYPTION = ("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
                 "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2")
S3_ACLS = ("aws:s3/bucketAcl:BucketAcl", "aws:s3/bucketAclV2:BucketAclV2")
PUBLIC_ACLS = frozenset({"public-read", "public-read-write", "authenticated-read"})
PUBLIC_ACCESS_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
SSE_ALGORITHMS = frozenset({"AES256", "aws:kms", "aws:kms:dsse"})

_STORE = "the model bucket comes from tfplat's ModelStore component ({file}); no stack key turns this off"
_GCS_STORE = _STORE.format(file="infra/components/gcp.py")
_S3_STORE = _STORE.format(file="infra/components/aws.py")


def _is_false(value: object) -> bool:
    """Unset or false; an unknown value is never held against a resource."""
    return not is_unknown(value) and value is not True


def check_private(resource_type: str, props: Props, settings: Settings) -> list[Finding]:
    out: list[Finding] = []
    if resource_type == GCS_BUCKET:
        if _is_false(props.get("uniformBucketLevelAccess")):
            out.append(Finding("uniformBucketLevelAccess is not true, so object ACLs can grant public access",
                               f"set uniform_bucket_level_access=True; {_GCS_STORE}"))
        pap = props.get("publicAccessPrevention")
        if not is_unknown(pap) and pap != "enforced":
            out.append(Finding(f"publicAccessPrevention is {pap!r}, not 'enforced'",
                               f"set public_access_prevention='enforced'; {_GCS_STORE}"))
    elif resource_type in S3_PUBLIC_ACCESS_BLOCK:
        off = [flag for flag in PUBLIC_ACCESS_FLAGS if _is_false(props.get(flag))]
        if off:
            out.append(Finding(f"public access is not fully blocked: {', '.join(off)} not true",
                               f"set all four flags to True on the BucketPublicAccessBlock; {_S3_STORE}"))
    elif resource_type in (*S3_BUCKETS, *S3_ACLS):
        acl = props.get("acl")
        if isinstance(acl, str) and acl in PUBLIC_ACLS:
            out.append(Finding(f"canned ACL {acl!r} makes the bucket readable outside the account",
                               f"remove the ACL (ownership is BucketOwnerEnforced); {_S3_STORE}"))
    return out


CHECKPOINT_LABEL = ("tfplat-purpose", "checkpoints")  # GCS label of a training checkpoint bucket
CHECKPOINT_TAG = ("tfplat:purpose", "checkpoints")  # S3 tag of one
S3_LIFECYCLE = ("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
                "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2")


def _gcs_checkpoints(props: Props) -> bool:
    """A training checkpoint bucket: rewritten, never restored, so unversioned by design; it
    only counts as one when old objects really expire (a Delete rule by age)."""
    key, value = CHECKPOINT_LABEL
    if dig(props, "labels", key) != value:
        return False
    rules = dig(props, "lifecycleRules")
    return any(dig(r, "action", "type") == "Delete" and dig(r, "condition", "age") for r in rules or [])


def check_versioned(resource_type: str, props: Props, settings: Settings) -> list[Finding]:
    if resource_type == GCS_BUCKET:
        if _is_false(dig(props, "versioning", "enabled")) and not _gcs_checkpoints(props):
            return [Finding("object versioning is off, so an overwritten or deleted model version is lost",
                            f"set versioning={{'enabled': True}}; {_GCS_STORE}")]
    elif resource_type in S3_VERSIONING:
        status = dig(props, "versioningConfiguration", "status")
        if not is_unknown(status) and status != "Enabled":
            return [Finding(f"versioning status is {status!r}, not 'Enabled'",
                            f"set versioning_configuration status 'Enabled'; {_S3_STORE}")]
    return []


def check_encrypted(resource_type: str, props: Props, settings: Settings) -> list[Finding]:
    if resource_type == GCS_BUCKET:
        # GCS always encrypts at rest (Google-managed keys); what can go wrong is a CMEK
        # block without a key.
        encryption = props.get("encryption")
        key = dig(encryption, "defaultKmsKeyName")
        if encryption is not None and not is_unknown(encryption) and not is_unknown(key) and not key:
            return [Finding("an encryption block names no defaultKmsKeyName",
                            "set tfplat:gcp.kms_key to a full Cloud KMS key name, or remove it to use "
                            "Google-managed encryption")]
    elif resource_type in S3_ENCRYPTION:
        rules = props.get("rules")
        if is_unknown(rules):
            return []
        algorithms = [dig(rule, "applyServerSideEncryptionByDefault", "sseAlgorithm") for rule in rules or []]
        if not any(is_unknown(a) or a in SSE_ALGORITHMS for a in algorithms):
            return [Finding(f"no default encryption rule (sseAlgorithm one of {sorted(SSE_ALGORITHMS)}): "
                            f"{algorithms or 'no rules'}",
                            "set applyServerSideEncryptionByDefault.sseAlgorithm; set tfplat:aws.kms_key_arn for "
                            f"a customer-managed key; {_S3_STORE}")]
    return []


def _belongs(companion: Resource, bucket: Resource) -> bool:
    """A companion points at its bucket by the bucket's ID (an output) or its literal name."""
    if companion.depends_on(bucket, "bucket"):
        return True
    name = companion.props.get("bucket")
    return isinstance(name, str) and name in (bucket.props.get("bucket"), bucket.props.get("id"))


_COMPANIONS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("BucketPublicAccessBlock", S3_PUBLIC_ACCESS_BLOCK, "private"),
    ("BucketVersioning", S3_VERSIONING, "versioned"),
    ("BucketServerSideEncryptionConfiguration", S3_ENCRYPTION, "encrypted"),
)


def _expires(bucket: Resource, resources: Sequence[Resource]) -> bool:
    return any(_belongs(c, bucket) and any(dig(rule, "expiration", "days") for rule in c.props.get("rules") or [])
               for c in resources if c.type in S3_LIFECYCLE)


def check_companions(resources: Sequence[Resource], settings: Settings) -> list[Finding]:
    out = []
    for bucket in (r for r in resources if r.type in S3_BUCKETS):
        key, value = CHECKPOINT_TAG
        checkpoints = dig(bucket.props, "tags", key) == value and _expires(bucket, resources)
        for kind, types, quality in _COMPANIONS:
            if kind == "BucketVersioning" and checkpoints:
                continue  # training checkpoints: unversioned by design, expiring (see _gcs_checkpoints)
            if not any(_belongs(c, bucket) for c in resources if c.type in types):
                out.append(Finding(
                    f"S3 bucket {bucket.name!r} has no {kind}, so nothing makes it {quality}",
                    f"create an aws.s3.{kind} for it (bucket=<bucket>.id) next to the bucket; {_S3_STORE}",
                    bucket))
    return out


POLICIES = (
    ResourcePolicy(
        id="bucket-private", severity="critical", check=check_private,
        description="Model buckets are private: uniform access and public access prevention on GCS; "
                    "all four public access blocks and no public ACL on S3.",
        remediation="Restore the ModelStore component's access settings; model artifacts are never public."),
    ResourcePolicy(
        id="bucket-versioned", severity="high", check=check_versioned,
        description="Model buckets keep object versions, so a rollback can restore an overwritten model "
                    "(training checkpoint buckets, labelled so and expiring old objects, are unversioned by design).",
        remediation="Enable versioning on the bucket (GCS versioning.enabled, S3 BucketVersioning 'Enabled')."),
    ResourcePolicy(
        id="bucket-encrypted", severity="high", check=check_encrypted,
        description="Model buckets are encrypted at rest: a default SSE rule on S3, a valid CMEK key when "
                    "one is configured on GCS.",
        remediation="Give the bucket a default encryption rule; CMEK keys come from tfplat:gcp.kms_key / "
                    "tfplat:aws.kms_key_arn."),
    StackPolicy(
        id="bucket-companions", severity="critical", check=check_companions,
        description="Every S3 bucket has its BucketPublicAccessBlock, BucketVersioning and "
                    "BucketServerSideEncryptionConfiguration companions.",
        remediation="Create the missing companion resources next to the bucket in the ModelStore component."),
)
