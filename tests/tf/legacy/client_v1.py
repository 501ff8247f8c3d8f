# FROZEN TEST FIXTURE, not code of this repository: the device client as released before TUF
# (modelkit/device/client.py up to the TUF migration), kept byte for byte so that
# test_edge_migrate.py installs a model with exactly what devices in the field run. Never edit.
"""Reference device client for tfplat edge models. Needs only the standard library and
`cryptography`: copy this one file onto a device.

What it guarantees:
- Trust comes only from public keys pinned in the client ahead of time (`trusted_keys`);
  nothing fetched from the bucket or CDN is ever used as a key. Every document names the
  id of the key that signed it, so keys rotate with an overlap (pin old and new).
- A channel pointer is signed and dated; a pointer older than one already accepted is
  refused, so a stale cache or an attacker cannot replay an old channel state.
- The manifest must match the sha256 the pointer names, carry a valid signature, and
  name the model and version the pointer promised.
- A model file is accepted only if its size and sha256 equal the manifest's: a
  truncated, padded or tampered file is refused.
- The last known good model stays in use whenever anything fails.
- Canary: a device follows the canary channel when the hash of (model, device id) falls
  in the canary share, so the same devices stay in the canary for a given rollout.
- Behind GCP Cloud CDN with signed URLs, a signed URL prefix token (minted elsewhere, with
  the key that never reaches a device) is appended to every request; it only opens the
  door, it is never trusted for content: every check above still applies.

Bucket layout (relative to the base URL):
    blobs/sha256/<hex>                    model files, content-addressed, immutable
    manifests/<model>/<version>.json      signed manifest of one model version
    channels/<model>/<channel>.json       signed pointer: channel -> version + manifest sha256
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
import hashlib
import http.client
import json
import os
from pathlib import Path
import tempfile
import time
from typing import TYPE_CHECKING, Any

# cryptography and urllib load on first use: the publisher imports this module for the
# bucket layout, and its start-up time is on every CI publish.
if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

MANIFEST_TYPE = "application/vnd.tfplat.edge.manifest.v1+json"
CHANNEL_TYPE = "application/vnd.tfplat.edge.channel.v1+json"
CHANNELS = ("stable", "canary")
DEFAULT_PREFERENCE = ("int8", "float16", "dynamic_range", "float32")
_CHUNK = 1 << 16


def blob_key(sha256: str) -> str:
    return f"blobs/sha256/{sha256}"


def manifest_key(model: str, version: int) -> str:
    return f"manifests/{model}/{version}.json"


def channel_key(model: str, channel: str) -> str:
    return f"channels/{model}/{channel}.json"


class VerificationError(Exception):
    """A document or file failed verification; the client keeps its last known good model."""


# --------------------------------------------------------------------------- envelopes


def signed_message(payload_type: str, payload: bytes, digest: str | None = None) -> bytes:
    """The bytes a signature covers. The type is bound in, so a signed channel pointer can
    never pass as a manifest (or the reverse).

    digest None (v1): the payload itself. digest "sha512" (v2): its SHA-512, for signers that
    take short messages only (AWS KMS signs at most 4096 bytes, less than a manifest can be).
    Both are pure Ed25519 (RFC 8032) signatures; the prefixes keep the two apart.
    """
    if digest is None:
        return b"tfplat-edge-v1\x00" + payload_type.encode() + b"\x00" + payload
    if digest == "sha512":
        return b"tfplat-edge-v2\x00" + payload_type.encode() + b"\x00" + hashlib.sha512(payload).digest()
    raise ValueError(f"unknown envelope digest {digest!r} (this client knows sha512)")


def canonical_json(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def public_key_from_b64(text: str) -> Ed25519PublicKey:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    raw = base64.b64decode(text, validate=True)
    if len(raw) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


def open_envelope(raw: bytes, payload_type: str, trusted_keys: Mapping[str, Ed25519PublicKey]) -> dict[str, Any]:
    """Verify a signed envelope and return its payload; raise VerificationError otherwise."""
    from cryptography.exceptions import InvalidSignature

    try:
        env = json.loads(raw)
        kind, key_id, payload = env["payload_type"], env["key_id"], env["payload"]
        sig = base64.b64decode(env["signature"], validate=True)
        message = signed_message(kind, payload.encode(), env.get("digest"))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise VerificationError(f"not a signed document ({exc.__class__.__name__}: {exc})") from exc
    if kind != payload_type:
        raise VerificationError(f"document type {kind!r}, expected {payload_type!r}")
    key = trusted_keys.get(key_id)
    if key is None:
        raise VerificationError(f"signed by unknown key id {key_id!r} (pinned: {', '.join(sorted(trusted_keys))})")
    try:
        key.verify(sig, message)
    except InvalidSignature as exc:
        raise VerificationError(f"bad signature (key id {key_id})") from exc
    data = json.loads(payload)
    if not isinstance(data, dict):
        raise VerificationError("payload is not an object")
    return data


# --------------------------------------------------------------------------- canary


def canary_bucket(model: str, device_id: str) -> float:
    """Where a device falls in [0, 100): stable across runs, uniform across device ids."""
    digest = hashlib.sha256(f"{model}\x00{device_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10000 / 100


def follows_canary(model: str, device_id: str, percent: float) -> bool:
    return canary_bucket(model, device_id) < percent


# --------------------------------------------------------------------------- transport


Fetch = Callable[[str, int], bytes]  # (url, max_bytes) -> body; raises FileNotFoundError on 404


def http_fetch(url: str, max_bytes: int, timeout_s: float = 30.0) -> bytes:
    """GET a URL, reading at most max_bytes + 1 (so an oversized body is detected, not buffered)."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            return bytes(resp.read(max_bytes + 1))
    except urllib.error.HTTPError as exc:
        # The query (a URL token's signature) stays out of messages and logs.
        where = f"{url.split('?', 1)[0]}: HTTP {exc.code}"
        if exc.code in (403, 404):  # S3 answers 403 for a missing key without list rights
            raise FileNotFoundError(where) from None
        raise OSError(where) from None


@dataclass(frozen=True)
class UrlToken:
    """A Cloud CDN signed URL prefix: the query string to append to every URL under `prefix`."""

    prefix: str
    expires: int  # unix seconds
    key_name: str
    query: str


URL_TOKEN_FIELDS = ("URLPrefix", "Expires", "KeyName", "Signature")


def parse_url_token(token: str) -> UrlToken:
    """Check a token's shape (the CDN checks its signature) and read its prefix and expiry."""
    query = token.strip().removeprefix("?")
    pairs = [p.partition("=") for p in query.split("&")]
    if [name for name, _, _ in pairs] != list(URL_TOKEN_FIELDS) or not all(v for _, _, v in pairs):
        raise ValueError(f"a URL token is {'=...&'.join(URL_TOKEN_FIELDS)}=... (got fields "
                         f"{', '.join(name for name, _, _ in pairs)})")
    values = {name: value for name, _, value in pairs}
    try:
        encoded = values["URLPrefix"]
        prefix = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
        expires = int(values["Expires"])
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"a URL token's URLPrefix is base64url and its Expires an integer ({exc})") from None
    return UrlToken(prefix=prefix, expires=expires, key_name=values["KeyName"], query=query)


# --------------------------------------------------------------------------- client


@dataclass(frozen=True)
class Installed:
    model: str
    version: int
    variant: str
    sha256: str
    size: int
    path: str
    channel: str
    manifest_sha256: str


@dataclass(frozen=True)
class UpdateResult:
    status: str  # "updated", "unchanged", or "kept" (an error; last known good stays)
    installed: Installed | None
    error: str | None = None


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class EdgeClient:
    """Keeps one model up to date from a channel. `update()` never raises for remote trouble."""

    def __init__(self, *, base_url: str, model: str, device_id: str, store: Path,
                 trusted_keys: Mapping[str, str], preference: Sequence[str] = DEFAULT_PREFERENCE,
                 max_document_bytes: int = 1 << 20, max_blob_bytes: int = 1 << 30,
                 fetch: Fetch | None = None, url_token: str | None = None) -> None:
        if not trusted_keys:
            raise ValueError("pin at least one public key")
        self.base_url = base_url.rstrip("/")
        self.model, self.device_id = model, device_id
        self.store = store / model
        self.keys = {kid: public_key_from_b64(b64) for kid, b64 in trusted_keys.items()}
        self.preference = tuple(preference)
        self.max_document_bytes, self.max_blob_bytes = max_document_bytes, max_blob_bytes
        self._fetch = fetch or http_fetch
        self.url_token: UrlToken | None = None
        if url_token:
            self.set_url_token(url_token)

    def set_url_token(self, token: str) -> None:
        """Use a (new) Cloud CDN signed URL prefix token; it must cover the whole layout."""
        parsed = parse_url_token(token)
        if not f"{self.base_url}/".startswith(parsed.prefix):
            raise ValueError(f"the URL token is for {parsed.prefix}, which does not cover {self.base_url}/")
        self.url_token = parsed

    # ---- local state: what is installed, and the newest pointer time seen per channel
    def _state(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads((self.store / "state.json").read_text())
            return data
        except (FileNotFoundError, ValueError):
            return {"installed": None, "seen": {}}

    def installed(self) -> Installed | None:
        cur = self._state().get("installed")
        return Installed(**cur) if cur else None

    def _get(self, key: str, limit: int) -> bytes:
        url = f"{self.base_url}/{key}"
        if self.url_token is not None:
            if time.time() >= self.url_token.expires:
                raise VerificationError(f"the URL token expired at {self.url_token.expires} (unix time); "
                                        "get a new one from the provisioning service")
            url = f"{url}?{self.url_token.query}"
        body = self._fetch(url, limit)
        if len(body) > limit:
            raise VerificationError(f"{key}: larger than {limit} bytes")
        return body

    def _pointer(self, channel: str, seen: Mapping[str, str]) -> dict[str, Any]:
        """The channel's verified pointer; FileNotFoundError when there is none."""
        raw = self._get(channel_key(self.model, channel), self.max_document_bytes)
        ptr = open_envelope(raw, CHANNEL_TYPE, self.keys)
        if ptr.get("model") != self.model or ptr.get("channel") != channel:
            raise VerificationError(f"channel {channel}: pointer is for {ptr.get('model')}/{ptr.get('channel')}")
        last = seen.get(channel)
        if last and datetime.fromisoformat(ptr["issued_at"]) < datetime.fromisoformat(last):
            raise VerificationError(f"channel {channel}: pointer issued {ptr['issued_at']} is older than one "
                                    f"already accepted ({last}); refusing a replayed or stale pointer")
        return ptr

    def choose(self) -> tuple[str, dict[str, Any], dict[str, str]]:
        """(channel, pointer, updated seen-times) this device should follow now."""
        seen = dict(self._state().get("seen", {}))
        try:
            stable = self._pointer("stable", seen)
        except FileNotFoundError as exc:
            raise VerificationError(f"no stable channel for {self.model} ({exc})") from exc
        seen["stable"] = stable["issued_at"]
        try:
            canary: dict[str, Any] | None = self._pointer("canary", seen)
        except FileNotFoundError:
            canary = None  # never published: follow stable
        if canary is not None:
            seen["canary"] = canary["issued_at"]
            if canary.get("version") is not None and follows_canary(self.model, self.device_id,
                                                                    float(canary.get("percent", 0))):
                return "canary", canary, seen
        return "stable", stable, seen

    def _manifest(self, ptr: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
        raw = self._get(ptr["manifest"], self.max_document_bytes)
        digest = hashlib.sha256(raw).hexdigest()
        if digest != ptr["manifest_sha256"]:
            raise VerificationError(f"{ptr['manifest']}: sha256 {digest} differs from the channel's "
                                    f"{ptr['manifest_sha256']}")
        manifest = open_envelope(raw, MANIFEST_TYPE, self.keys)
        if manifest.get("model") != self.model or manifest.get("version") != ptr["version"]:
            raise VerificationError(f"{ptr['manifest']}: manifest is for {manifest.get('model')} "
                                    f"v{manifest.get('version')}, channel promised v{ptr['version']}")
        return manifest, digest

    def _pick_variant(self, manifest: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        variants: Mapping[str, Any] = manifest.get("variants", {})
        for name in self.preference:
            if name in variants:
                return name, dict(variants[name])
        raise VerificationError(f"manifest v{manifest['version']} has none of the variants this device runs "
                                f"({', '.join(self.preference)}); it has {', '.join(sorted(variants)) or 'none'}")

    def _download_blob(self, sha256: str, size: int) -> Path:
        target = self.store / "blobs" / f"{sha256}.tflite"
        if target.is_file() and target.stat().st_size == size and _file_sha256(target) == sha256:
            return target
        if size > self.max_blob_bytes:
            raise VerificationError(f"blob {sha256}: {size} bytes is over this device's limit")
        body = self._get(blob_key(sha256), size)
        if len(body) != size:
            raise VerificationError(f"blob {sha256}: got {len(body)} bytes, manifest says {size} (truncated?)")
        digest = hashlib.sha256(body).hexdigest()
        if digest != sha256:
            raise VerificationError(f"blob {sha256}: content hashes to {digest} (tampered)")
        _atomic_write(target, body)
        return target

    def update(self) -> UpdateResult:
        """Follow the channel; on any failure keep the last known good model and say why."""
        current = self.installed()
        try:
            channel, ptr, seen = self.choose()
            manifest, manifest_sha = self._manifest(ptr)
            variant, entry = self._pick_variant(manifest)
            if (current and current.sha256 == entry["sha256"] and current.version == manifest["version"]
                    and Path(current.path).is_file()):
                if current.channel != channel or current.manifest_sha256 != manifest_sha:
                    current = Installed(**{**current.__dict__, "channel": channel, "manifest_sha256": manifest_sha})
                self._save({"installed": current.__dict__, "seen": seen})
                return UpdateResult("unchanged", current)
            path = self._download_blob(entry["sha256"], int(entry["size"]))
            new = Installed(model=self.model, version=int(manifest["version"]), variant=variant,
                            sha256=entry["sha256"], size=int(entry["size"]), path=str(path),
                            channel=channel, manifest_sha256=manifest_sha)
            self._save({"installed": new.__dict__, "seen": seen})
            self._prune(keep={new.sha256} | ({current.sha256} if current else set()))
            return UpdateResult("updated", new)
        except (VerificationError, OSError, http.client.HTTPException, ValueError, KeyError, TypeError) as exc:
            return UpdateResult("kept", current, f"{exc.__class__.__name__}: {exc}")

    def _save(self, state: Mapping[str, Any]) -> None:
        _atomic_write(self.store / "state.json", json.dumps(state, indent=2, sort_keys=True).encode())

    def _prune(self, keep: set[str]) -> None:
        """Keep the installed model and the one before it (a local rollback needs no network)."""
        for path in (self.store / "blobs").glob("*.tflite"):
            if path.stem not in keep:
                path.unlink(missing_ok=True)


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()
