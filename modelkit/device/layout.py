"""The edge repository's layout and the device-side rules both sides share (standard library only).

The edge bucket is a TUF repository (https://theupdateframework.github.io/specification/latest/)
with consistent snapshots, under one base URL:

    metadata/<n>.root.json                 root, version n (keys and thresholds of every role)
    metadata/timestamp.json                what devices poll: the current snapshot version
    metadata/<n>.snapshot.json             the version of every targets role
    metadata/<n>.targets.json              delegates each model to its own role
    metadata/<n>.model-<model>.json        one model's variants and channel pointers
    targets/<model>/<version>/<sha256>.<variant>.tflite   a variant, content-addressed
    targets/<model>/channels/<sha256>.<channel>.json      a channel pointer, content-addressed
    legacy/tuf-root.json                   migration only: the root, signed by the pre-TUF key

Target paths (what the signed metadata names) drop the <sha256>. prefix of the file names.
"""

from __future__ import annotations

from dataclasses import dataclass
import hashlib
import json
from typing import Any

METADATA = "metadata"
TARGETS = "targets"
BOOTSTRAP = "legacy/tuf-root.json"
CHANNELS = ("stable", "canary")
DEFAULT_PREFERENCE = ("int8", "float16", "dynamic_range", "float32")
TFPLAT_FIELD = "x-tfplat"  # in root metadata: {"environment": ..., "stack": ...}


def role_name(model: str) -> str:
    """The delegated targets role of one model (never a top-level role name)."""
    return f"model-{model}"


def role_paths(model: str) -> list[str]:
    """Target path patterns the model's role is trusted for: <model>/<version>/<variant>.tflite
    and <model>/channels/<channel>.json (TUF patterns match one path segment per `*`)."""
    return [f"{model}/*/*"]


def variant_path(model: str, version: int, variant: str) -> str:
    return f"{model}/{version}/{variant}.tflite"


def channel_path(model: str, channel: str) -> str:
    return f"{model}/channels/{channel}.json"


def target_key(path: str, sha256: str) -> str:
    """Where a target's bytes live under targets/ (consistent snapshots: the hash prefixes the name)."""
    folder, _, name = path.rpartition("/")
    return f"{TARGETS}/{folder}/{sha256}.{name}"


def metadata_key(role: str, version: int | None = None) -> str:
    return f"{METADATA}/{role}.json" if version is None else f"{METADATA}/{version}.{role}.json"


# --------------------------------------------------------------------------- channel pointers


@dataclass(frozen=True)
class Pointer:
    """Where a channel points: a version (None: the canary is off) and, for canary, its share."""

    model: str
    channel: str
    environment: str
    version: int | None
    percent: int

    def to_bytes(self) -> bytes:
        """Canonical bytes: the same pointer is the same file, so re-publishing changes nothing."""
        doc = {"model": self.model, "channel": self.channel, "environment": self.environment,
               "version": self.version, "percent": self.percent}
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode() + b"\n"

    @classmethod
    def from_bytes(cls, data: bytes) -> Pointer:
        """Parse a pointer (already verified against signed metadata); ValueError if malformed."""
        doc: Any = json.loads(data)
        if not isinstance(doc, dict) or set(doc) != {"model", "channel", "environment", "version", "percent"}:
            raise ValueError("a channel pointer has exactly model, channel, environment, version and percent")
        version, percent = doc["version"], doc["percent"]
        if not (version is None or (type(version) is int and version > 0)):
            raise ValueError(f"pointer version {version!r} is not a positive integer or null")
        if type(percent) is not int or not 0 <= percent <= 100:
            raise ValueError(f"pointer percent {percent!r} is not an integer 0-100")
        if not all(isinstance(doc[k], str) for k in ("model", "channel", "environment")):
            raise ValueError("pointer model, channel and environment are strings")
        return cls(model=doc["model"], channel=doc["channel"], environment=doc["environment"],
                   version=version, percent=percent)


# --------------------------------------------------------------------------- canary


def canary_bucket(model: str, device_id: str) -> float:
    """Where a device falls in [0, 100): stable across runs, uniform across device ids."""
    digest = hashlib.sha256(f"{model}\x00{device_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10000 / 100


def follows_canary(model: str, device_id: str, percent: float) -> bool:
    return canary_bucket(model, device_id) < percent
