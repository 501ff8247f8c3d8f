"""Migration from the pinned-key scheme (before TUF): verify the bootstrap root, once.

Devices in the field trust Ed25519 keys pinned in their client (key id -> base64 of the 32
raw bytes) and verify "envelopes": a JSON payload signed as exact bytes, with its type bound
into the signature. To move such a device to TUF without shipping it a root file, the old
key signs the stack's TUF root once (`tfplat-model edge migrate`); the new client verifies
that envelope with the keys the device already pins, stores the root as its trust anchor,
and from then on trusts only TUF. This module is the verifying half; modelkit.edge.legacy
signs.

Envelope: {"key_id", "payload" (JSON text), "payload_type", "signature" (base64), "digest"?}.
The signature covers b"tfplat-edge-v1\\x00" + type + b"\\x00" + payload, or, with
"digest": "sha512" (KMS signers), b"tfplat-edge-v2\\x00" + type + b"\\x00" + SHA-512(payload).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
import hashlib
import json
from typing import Any

BOOTSTRAP_TYPE = "application/vnd.tfplat.edge.tuf-root.v1+json"
MAX_BOOTSTRAP_BYTES = 1 << 20


class LegacyError(Exception):
    """The bootstrap document failed verification."""


def signed_message(payload_type: str, payload: bytes, digest: str | None = None) -> bytes:
    """The bytes a legacy signature covers (see the module docstring)."""
    if digest is None:
        return b"tfplat-edge-v1\x00" + payload_type.encode() + b"\x00" + payload
    if digest == "sha512":
        return b"tfplat-edge-v2\x00" + payload_type.encode() + b"\x00" + hashlib.sha512(payload).digest()
    raise ValueError(f"unknown envelope digest {digest!r} (this client knows sha512)")


def canonical_json(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def open_envelope(raw: bytes, payload_type: str, pinned: Mapping[str, str]) -> dict[str, Any]:
    """Verify a legacy envelope with the pinned keys (key id -> base64 raw Ed25519); its payload."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        env = json.loads(raw)
        kind, key_id, payload = env["payload_type"], env["key_id"], env["payload"]
        sig = base64.b64decode(env["signature"], validate=True)
        message = signed_message(kind, payload.encode(), env.get("digest"))
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise LegacyError(f"not a signed document ({exc.__class__.__name__}: {exc})") from None
    if kind != payload_type:
        raise LegacyError(f"document type {kind!r}, expected {payload_type!r}")
    if key_id not in pinned:
        raise LegacyError(f"signed by unknown key id {key_id!r} (pinned: {', '.join(sorted(pinned))})")
    try:
        raw_key = base64.b64decode(pinned[key_id], validate=True)
        Ed25519PublicKey.from_public_bytes(raw_key).verify(sig, message)
    except (InvalidSignature, ValueError) as exc:
        raise LegacyError(f"bad signature (key id {key_id})") from exc
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError) as exc:
        raise LegacyError(f"payload is not JSON ({exc.__class__.__name__})") from None
    if not isinstance(data, dict):
        raise LegacyError("payload is not an object")
    return data


def bootstrap_root(raw: bytes, pinned: Mapping[str, str], environment: str | None) -> bytes:
    """The TUF root a legacy-signed bootstrap document carries, for `environment` (None: any)."""
    doc = open_envelope(raw, BOOTSTRAP_TYPE, pinned)
    root, named = doc.get("root"), doc.get("environment")
    if not isinstance(root, str) or not isinstance(named, str):
        raise LegacyError("the bootstrap document has no root or environment")
    if environment is not None and named != environment:
        raise LegacyError(f"the bootstrap root is for environment {named!r}, this device is {environment!r}")
    return root.encode()
