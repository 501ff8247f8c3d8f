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

from infra.config.spec import StackSpec
from infra.plan.cluster import bucket_name, name_prefix

BLOB_PREFIX = "blobs/"
BLOB_TTL_S = 31_536_000  # one year
MANIFEST_TTL_S = 300
POINTER_TTL_S = 60


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
