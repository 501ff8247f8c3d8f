"""Edge distribution infrastructure: the edge bucket and the CDN in front of it.

The publisher (modelkit, `tfplat-model edge publish`) writes this layout and sets each
object's Cache-Control; the CDN's cache rules mirror it, so a blob is cached for a year
(content-addressed, never rewritten) and a manifest or channel pointer for minutes:

    blobs/sha256/<hex>                    immutable
    manifests/<model>/<version>.json      short
    channels/<model>/{stable,canary}.json shortest (what devices poll)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
import re

from infra.config.spec import StackSpec
from infra.plan.cluster import bucket_name, name_prefix

BLOB_PREFIX = "blobs/"
BLOB_TTL_S = 31_536_000  # one year
MANIFEST_TTL_S = 300
POINTER_TTL_S = 60

# tfplat:edge.signing.kms_key names an existing key that signs manifests and pointers in KMS:
# - AWS: the ARN of a key (or of an alias of one) with KeySpec ECC_NIST_EDWARDS25519 and
#   KeyUsage SIGN_VERIFY; the region is part of the ARN, so the publisher calls KMS there;
# - GCP: a Cloud KMS key *version* (asymmetric signing uses a version) with algorithm
#   EC_SIGN_ED25519.
GCP_KMS_KEY_VERSION = re.compile(
    r"^projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/locations/[a-z0-9-]+/keyRings/[A-Za-z0-9_-]{1,63}/"
    r"cryptoKeys/[A-Za-z0-9_-]{1,63}/cryptoKeyVersions/[1-9][0-9]*$")
AWS_KMS_KEY_ARN = re.compile(
    r"^arn:aws(?:-cn|-us-gov)?:kms:(?P<region>[a-z]{2}(?:-[a-z]+)+-\d):(?P<account>\d{12}):"
    r"(?:key/(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})"
    r"|alias/[A-Za-z0-9/_-]{1,256})$")


def kms_key_region(arn: str) -> str | None:
    """The region of an AWS KMS key ARN; None if `arn` is not one."""
    match = AWS_KMS_KEY_ARN.match(arn)
    return match.group("region") if match else None


def kms_provider(kms_key: str) -> str | None:
    """"aws" or "gcp" for a well-formed signing.kms_key, else None."""
    if AWS_KMS_KEY_ARN.match(kms_key):
        return "aws"
    return "gcp" if GCP_KMS_KEY_VERSION.match(kms_key) else None


@dataclass(frozen=True, kw_only=True)
class EdgePlan:
    cloud: str
    prefix: str
    bucket: str
    region: str
    cdn_enabled: bool
    signed_urls: bool
    cdn_hostname: str | None
    key_id: str | None
    kms_key: str | None  # KMS key that signs (None: a private key held as a Pulumi secret)
    public_keys: Mapping[str, str]
    channels: Mapping[str, Mapping[str, object]]
    protect: bool


def edge_bucket_name(stack: StackSpec) -> str:
    return bucket_name(stack, "edge")


def plan_edge(stack: StackSpec) -> EdgePlan | None:
    e = stack.edge
    if not e.enabled:
        return None
    return EdgePlan(
        cloud=stack.cloud, prefix=name_prefix(stack), bucket=edge_bucket_name(stack), region=stack.region,
        cdn_enabled=e.cdn_enabled, signed_urls=e.signed_urls, cdn_hostname=e.cdn_hostname, key_id=e.key_id,
        kms_key=e.kms_key, public_keys=e.public_keys,
        channels={m: {"stable": c.stable, "canary": c.canary, "canary_percent": c.canary_percent}
                  for m, c in e.channels.items()},
        protect=stack.cluster.deletion_protection)
