"""Edge distribution infrastructure: the edge bucket (a TUF repository) and the CDN in front of it.

The publisher (modelkit, `tfplat-model edge publish`) writes this layout and sets each
object's Cache-Control; the CDN's cache rules mirror it. With consistent snapshots every
file but one is written once under a name that changes with its content, so it can be
cached for a year; only the timestamp, which devices poll, is short-lived:

    metadata/timestamp.json                       shortest (what devices poll)
    metadata/<version>.<role>.json                immutable (root, snapshot, targets, model-<name>)
    targets/<model>/<version>/<sha256>.<variant>.tflite   immutable (content-addressed)
    targets/<model>/channels/<sha256>.<channel>.json      immutable (content-addressed)
    legacy/tuf-root.json                          short (migration from the pinned-key scheme)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from infra.config.spec import EdgeKey, StackSpec
from infra.plan.cluster import bucket_name, name_prefix

IMMUTABLE_PREFIXES = ("targets/", "metadata/")  # every object there is written once
TIMESTAMP_KEY = "metadata/timestamp.json"
IMMUTABLE_TTL_S = 31_536_000  # one year
TIMESTAMP_TTL_S = 60  # bounds how long a publish or a re-signed timestamp takes to reach devices
SHORT_MAX_TTL_S = 300


@dataclass(frozen=True, kw_only=True)
class EdgeKeyPlan:
    public_key: str | None
    kms_key: str | None  # None: a private key held as a Pulumi secret


@dataclass(frozen=True, kw_only=True)
class EdgePlan:
    cloud: str
    prefix: str
    bucket: str
    region: str
    environment: str
    cdn_enabled: bool
    signed_urls: bool
    cdn_hostname: str | None
    root_threshold: int
    root_keys: Mapping[str, str]
    targets_key: EdgeKeyPlan
    online_key: EdgeKeyPlan
    channels: Mapping[str, Mapping[str, object]]
    protect: bool


def edge_bucket_name(stack: StackSpec) -> str:
    return bucket_name(stack, "edge")


def _key(k: EdgeKey) -> EdgeKeyPlan:
    return EdgeKeyPlan(public_key=k.public_key, kms_key=k.kms_key)


def plan_edge(stack: StackSpec) -> EdgePlan | None:
    e = stack.edge
    if not e.enabled:
        return None
    return EdgePlan(
        cloud=stack.cloud, prefix=name_prefix(stack), bucket=edge_bucket_name(stack), region=stack.region,
        environment=stack.environment, cdn_enabled=e.cdn_enabled, signed_urls=e.signed_urls,
        cdn_hostname=e.cdn_hostname, root_threshold=e.root.threshold, root_keys=e.root.keys,
        targets_key=_key(e.targets), online_key=_key(e.online),
        channels={m: {"stable": c.stable, "canary": c.canary, "canary_percent": c.canary_percent}
                  for m, c in e.channels.items()},
        protect=stack.cluster.deletion_protection)
