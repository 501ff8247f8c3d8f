"""`edge publish`: blobs, then signed manifests, then channel pointers, in that order.

A device reads pointer -> manifest -> blob, so writing in the reverse order means it can
never see a pointer naming a missing manifest, nor a manifest naming a missing blob: a
publish stopped at any point leaves every channel on its previous, complete version.

Everything is skipped when the bucket already holds the same bytes (blobs by their
content address, manifests and pointers by comparison), so re-publishing an unchanged
build uploads nothing. Ed25519 signatures are deterministic, which keeps signed documents
byte-identical across runs.

Which version each channel serves comes from the stack (tfplat:edge.channels.<model>);
a rollback is a config change followed by another publish, which only moves pointers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelkit.device.client import (
    CHANNEL_TYPE,
    CHANNELS,
    MANIFEST_TYPE,
    VerificationError,
    channel_key,
    manifest_key,
    open_envelope,
    public_key_from_b64,
)
from modelkit.edge.paths import MANIFEST_FILE, version_dir
from modelkit.edge.signing import Signer, envelope
from modelkit.edge.transfer import (
    CACHE_BLOB,
    CACHE_CHANNEL,
    CACHE_MANIFEST,
    Blob,
    BlobPrefetch,
    Bucket,
    Stats,
    local_payload,
    upload_blobs,
)
from modelkit.errors import UserError

__all__ = ["CACHE_BLOB", "CACHE_CHANNEL", "CACHE_MANIFEST", "BlobPrefetch", "Bucket", "Publisher", "Stats", "publish"]

if TYPE_CHECKING:  # not imported at run time: publish starts uploading before the config loads
    from infra.config.spec import EdgeSpec


@dataclass(frozen=True)
class StagedVersion:
    version: int
    payload: dict[str, Any]
    blobs: tuple[Blob, ...]
    signed: bytes  # the manifest document to publish
    published: bytes | None  # what the bucket holds now under its key


class Publisher:
    def __init__(self, *, bucket: Bucket, model: str, edge: EdgeSpec, stack_file: str,
                 signer: Signer, workers: int = 8) -> None:
        self.bucket, self.model, self.edge, self.stack_file = bucket, model, edge, stack_file
        self.signer, self.workers = signer, workers
        self.stats = Stats()
        field_base = "config.tfplat:edge"
        if not edge.enabled:
            raise UserError.one(file=stack_file, field=f"{field_base}.enabled", value=False,
                                message="edge distribution is off for this stack",
                                fix="set tfplat:edge.enabled: true (and its signing and channels)")
        if model not in edge.channels:
            raise UserError.one(file=stack_file, field=f"{field_base}.channels.{model}", value=sorted(edge.channels),
                                message="no edge channel for this model",
                                fix=f"add tfplat:edge.channels.{model}: {{stable: <version>}}")
        key_id = edge.key_id or ""
        pinned = edge.public_keys.get(key_id)
        if pinned != signer.public_b64:
            raise UserError.one(
                file=stack_file, field=f"{field_base}.signing.public_keys.{key_id}", value=pinned,
                message=f"the signing key from {signer.source} is not the key pinned for key id {key_id!r} "
                        f"(its public key is {signer.public_b64})",
                fix="sign with the key of that key id, or pin this key's public key under it")
        self.key_id = key_id
        self.trusted = {kid: public_key_from_b64(b64) for kid, b64 in edge.public_keys.items()}

    def sign(self, payload: dict[str, Any], payload_type: str) -> bytes:
        return envelope(payload, payload_type, self.signer, self.key_id)

    def _verify(self, raw: bytes, payload_type: str, rel: str) -> tuple[dict[str, Any], str]:
        try:
            payload = open_envelope(raw, payload_type, self.trusted)
        except VerificationError as exc:
            raise UserError.one(file=self.bucket.key(rel), field="", message=f"published document fails: {exc}",
                                fix="rebuild and publish this version, or pin the key it was signed with") from exc
        return payload, str(json.loads(raw)["key_id"])

    def stage(self, version: int, build_root: Path, replace: bool) -> StagedVersion:
        """A version with its blobs and signed manifest, from a build folder or from the bucket."""
        rel = manifest_key(self.model, version)
        remote = self.bucket.get(rel)
        folder = version_dir(build_root, self.model, version)
        if (folder / MANIFEST_FILE).is_file():
            payload, blobs = local_payload(folder)
            if remote is not None and not replace:
                published, signed_by = self._verify(remote, MANIFEST_TYPE, rel)
                if published != payload:
                    raise UserError.one(
                        file=str(folder / MANIFEST_FILE), field="", value=self.bucket.key(rel),
                        message=f"version {version} is already published with different content; "
                                "published versions are immutable",
                        fix="publish a new model version, or pass --replace to overwrite it on purpose")
                if signed_by == self.key_id:  # same payload, current key: keep it (no signing call)
                    return StagedVersion(version=version, payload=payload, blobs=blobs, signed=remote,
                                         published=remote)
            return StagedVersion(version=version, payload=payload, blobs=blobs,
                                 signed=self.sign(payload, MANIFEST_TYPE), published=remote)
        if remote is None:
            raise UserError.one(file=self.stack_file, field=f"config.tfplat:edge.channels.{self.model}", value=version,
                                message=f"version {version} is neither built ({folder}) nor published",
                                fix=f"run `tfplat-model edge build --model {self.model} --version {version} ...` first")
        payload, signed_by = self._verify(remote, MANIFEST_TYPE, rel)
        blobs = tuple(Blob(sha256=e["sha256"], size=int(e["size"]), path=None)
                      for e in payload["variants"].values())
        # Re-sign with the current key (rotation): same payload, so the content is unchanged.
        signed = remote if signed_by == self.key_id else self.sign(payload, MANIFEST_TYPE)
        return StagedVersion(version=version, payload=payload, blobs=blobs, signed=signed, published=remote)

    def upload_blobs(self, blobs: Iterable[Blob], after_blob: Callable[[str], None] | None = None) -> None:
        upload_blobs(self.bucket, blobs, self.stats, self.workers, after_blob)

    def put_if_changed(self, rel: str, body: bytes, cache_control: str, existing: bytes | None) -> None:
        if existing == body:
            self.stats.skip(rel)
            return
        self.bucket.put(rel, body, cache_control)
        self.stats.add(rel, len(body))

    def pointer(self, channel: str, version: int | None, manifest: bytes | None, percent: int | None,
                existing: bytes | None) -> None:
        """Move one channel unless it already says the same thing, signed by the current key."""
        rel = channel_key(self.model, channel)
        target: dict[str, Any] = {
            "model": self.model, "channel": channel, "version": version,
            "manifest": manifest_key(self.model, version) if version is not None else None,
            "manifest_sha256": hashlib.sha256(manifest).hexdigest() if manifest is not None else None,
        }
        if percent is not None:
            target["percent"] = percent
        now = datetime.now(UTC)
        if existing is not None:
            try:
                old, signed_by = self._verify(existing, CHANNEL_TYPE, rel)
            except UserError:
                old, signed_by = {}, ""
            if signed_by == self.key_id and {k: v for k, v in old.items() if k != "issued_at"} == target:
                self.stats.skip(rel)
                return
            if "issued_at" in old:
                # Devices refuse a pointer older than one they accepted: stay monotonic even
                # when this machine's clock is behind the last publisher's.
                now = max(now, datetime.fromisoformat(old["issued_at"]) + timedelta(microseconds=1))
        target["issued_at"] = now.isoformat(timespec="microseconds")
        body = self.sign(target, CHANNEL_TYPE)
        self.bucket.put(rel, body, CACHE_CHANNEL)
        self.stats.add(rel, len(body))


def publish(*, publisher: Publisher, build_root: Path, extra_versions: Iterable[int] = (), replace: bool = False,
            after_blob: Callable[[str], None] | None = None, prefetch: BlobPrefetch | None = None) -> Stats:
    """Publish the versions the stack's channels name (plus extra_versions), then move the channels.

    Independent requests run concurrently (reads up front, manifests together, both pointers
    together); the order that matters, blobs < manifests < pointers, is kept by the phases.
    """
    p = publisher
    ch = p.edge.channels[p.model]
    canary = ch.canary
    versions = sorted({ch.stable, *([canary] if canary is not None else []), *extra_versions})
    with ThreadPoolExecutor(max_workers=max(2, len(versions) + 2)) as pool:
        pointer_reads = {c: pool.submit(p.bucket.get, channel_key(p.model, c)) for c in CHANNELS}
        staged = {v: s.result() for v, s in [(v, pool.submit(p.stage, v, build_root, replace)) for v in versions]}
        present = prefetch.wait() if prefetch is not None else set()
        if prefetch is not None:
            p.stats.merge(prefetch.stats)
        p.upload_blobs((b for s in staged.values() for b in s.blobs if b.sha256 not in present), after_blob)
        _all(pool.submit(p.put_if_changed, manifest_key(p.model, v), s.signed, CACHE_MANIFEST, s.published)
             for v, s in staged.items())
        _all([
            pool.submit(p.pointer, "stable", ch.stable, staged[ch.stable].signed, None,
                        pointer_reads["stable"].result()),
            pool.submit(p.pointer, "canary", canary, staged[canary].signed if canary is not None else None,
                        ch.canary_percent if canary is not None else 0, pointer_reads["canary"].result()),
        ])
    return p.stats


def _all(futures: Iterable[Future[None]]) -> None:
    """Wait for every future; raise the first error (after all finished: no half-phase left running)."""
    done = list(futures)
    wait(done)
    for fut in done:
        fut.result()
