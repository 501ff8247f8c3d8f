"""The TUF metadata of an edge repository: read what the bucket holds, work out what to sign.

Each role is re-signed (with the next version number) only when it must be:
- its content changes (a model role's targets, the top-level delegations, snapshot's
  versions, timestamp's snapshot);
- it does not verify with the keys the newest root (or the top-level targets) gives its
  role: after a key rotation, or when the bucket holds metadata an attacker wrote with a
  leaked key (the next version is then past the attacker's, and devices, whose cached copy
  no longer verifies either, accept it: fast-forward recovery);
- less than half of its lifetime is left (the scheduled job relies on this).
Otherwise the bytes in the bucket stay as they are, so an unchanged publish signs nothing
and uploads nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
import hashlib
from typing import TYPE_CHECKING, Any, TypeVar

from tuf.api.metadata import (
    DelegatedRole,
    Delegations,
    Metadata,
    MetaFile,
    Root,
    Signed,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer

from modelkit.device.layout import metadata_key, role_name, role_paths
from modelkit.edge.keys import sign_metadata

if TYPE_CHECKING:
    from securesystemslib.signer import Key, Signer

S = TypeVar("S", bound=Signed)
ROLE_PREFIX = role_name("")  # "model-"


@dataclass
class Current:
    """One version of a role as the bucket holds it (parsed, not trusted)."""

    raw: bytes
    md: Metadata[Any]

    @property
    def version(self) -> int:
        return int(self.md.signed.version)


@dataclass
class Remote:
    """What the bucket holds now: timestamp, the snapshot it names, the roles the snapshot names."""

    timestamp_raw: bytes | None = None
    timestamp: Current | None = None
    snapshot: Current | None = None
    targets: Current | None = None
    roles: dict[str, Current] = field(default_factory=dict)  # model roles, by role name


def parse(raw: bytes | None, kind: type[S]) -> Current | None:
    """Bucket bytes as metadata of `kind`; None when absent or not that (garbage is not an error here:
    the next version is written over it)."""
    if raw is None:
        return None
    try:
        md: Metadata[Any] = Metadata.from_bytes(raw)
    except Exception:  # noqa: BLE001 - DeserializationError wraps anything malformed
        return None
    return Current(raw, md) if isinstance(md.signed, kind) else None


def read(get: Callable[[str], bytes | None], timestamp_raw: bytes | None, workers: int = 8) -> Remote:
    """The repository state, following versions from the timestamp down (reads in parallel)."""
    remote = Remote(timestamp_raw=timestamp_raw, timestamp=parse(timestamp_raw, Timestamp))
    if remote.timestamp is None:
        return remote
    remote.snapshot = parse(get(metadata_key("snapshot", remote.timestamp.md.signed.snapshot_meta.version)),
                            Snapshot)
    if remote.snapshot is None:
        return remote
    meta: Mapping[str, MetaFile] = remote.snapshot.md.signed.meta
    names = [n.removesuffix(".json") for n in meta]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        raws = dict(zip(names, pool.map(lambda n: get(metadata_key(n, meta[f"{n}.json"].version)), names),
                        strict=True))
    remote.targets = parse(raws.pop("targets", None), Targets)
    remote.roles = {n: c for n, raw in raws.items() if n.startswith(ROLE_PREFIX) and (c := parse(raw, Targets))}
    return remote


def verifies(delegator: Root | Targets, role: str, current: Current | None) -> bool:
    if current is None:
        return False
    try:
        delegator.verify_delegate(role, current.md.signed_bytes, current.md.signatures)
    except Exception:  # noqa: BLE001 - unsigned, wrong key, or not delegated: all "does not verify"
        return False
    return True


def _meta(raw: bytes, version: int) -> MetaFile:
    return MetaFile(version=version, length=len(raw), hashes={"sha256": hashlib.sha256(raw).hexdigest()})


@dataclass(frozen=True)
class Lifetimes:
    targets: timedelta
    snapshot: timedelta
    timestamp: timedelta


def signed_by_any(keys: Iterable[Key], current: Current) -> bool:
    """Whether one of `keys` signed `current` (an earlier targets key, after a rotation)."""
    for key in keys:
        sig = current.md.signatures.get(key.keyid)
        if sig is not None:
            try:
                key.verify_signature(sig, current.md.signed_bytes)
                return True
            except Exception:  # noqa: BLE001 - a bad signature is just "not by this key"
                continue
    return False


@dataclass
class Signing:
    """Signs the roles that must change, in publish order; `uploads` lists (key, bytes, kind).

    What a model role holds is carried over (the versions a publish does not rebuild; every
    version, for refresh) only if the current targets key signed it, or, with `earlier_keys`,
    a targets key of an earlier root: the operator's word that the rotation was scheduled and
    the old key did not leak. After a leak, nothing the old key signed is trusted: the model
    must be published from its builds.
    """

    root: Root
    signers: Mapping[str, Signer | None]  # "targets", "online" (None: not available to this run)
    lifetimes: Lifetimes
    now: datetime
    remote: Remote
    earlier_keys: tuple[Key, ...] = ()
    uploads: list[tuple[str, bytes, str]] = field(default_factory=list)
    signed_roles: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def trusted_targets(self, name: str, delegator: Targets) -> dict[str, TargetFile] | None:
        """The current content of a model role, if this run may carry it over; None if not."""
        current = self.remote.roles.get(name)
        if current is None:
            return {}
        if verifies(delegator, name, current) or signed_by_any(self.earlier_keys, current):
            return dict(current.md.signed.targets)
        return None

    def _due(self, current: Current | None, lifetime: timedelta) -> bool:
        return current is None or current.md.signed.expires - self.now < lifetime / 2

    def _sign(self, signed: Signed, role: str, key: str, delegator: Root | Targets) -> bytes:
        signer = self.signers.get(key)
        if signer is None:
            from modelkit.errors import UserError

            raise UserError.one(file="(command line)", field=f"--{key}-key-file", message=f"{role} must be re-signed "
                                f"(v{signed.version}) and no {key} key was given",
                                fix=f"give the {key} key: --{key}-key-file or $TFPLAT_EDGE_{key.upper()}_KEY, or a "
                                    f"KMS key in signing.{key}.kms_key")
        md: Metadata[Any] = Metadata(signed)
        sign_metadata(md, signer)
        delegator.verify_delegate(role, md.signed_bytes, md.signatures)  # what devices will check
        self.signed_roles.append(f"{role} v{signed.version}")
        return md.to_bytes(JSONSerializer(compact=True))

    def role(self, name: str, targets: dict[str, TargetFile] | None, delegator: Targets) -> tuple[bytes, int] | None:
        """A model role: `targets` is its new content (None: keep what it holds, re-sign if due).
        None: nothing to list (no role yet, or one this run may not re-sign)."""
        current = self.remote.roles.get(name)
        if targets is None:
            kept = self.trusted_targets(name, delegator)
            if kept is None:
                assert current is not None
                self.warnings.append(
                    f"{name} v{current.version} is signed by a key the newest root does not trust; it is left as "
                    "it is, and devices refuse it: publish the model from its builds, or, after a scheduled "
                    "rotation (no leak), run again with --keep-published")
                return current.raw, current.version
            if current is None:
                return None
        content = targets if targets is not None else (current.md.signed.targets if current else {})
        unchanged = current is not None and current.md.signed.targets == content
        if unchanged and verifies(delegator, name, current) and not self._due(current, self.lifetimes.targets):
            assert current is not None
            return current.raw, current.version
        version = current.version + 1 if current else 1
        signed = Targets(version=version, expires=self.now + self.lifetimes.targets, targets=dict(content))
        raw = self._sign(signed, name, "targets", delegator)
        self.uploads.append((metadata_key(name, version), raw, "metadata"))
        return raw, version

    def delegations(self, models: set[str]) -> Targets:
        """The top-level targets: one delegated, terminating role per model of the stack's channels
        (the config says which models exist; never what the bucket holds), all with the targets key."""
        keyid = self.root.roles["targets"].keyids[0]
        current = self.remote.targets
        roles = {role_name(m): DelegatedRole(name=role_name(m), keyids=[keyid], threshold=1, terminating=True,
                                             paths=role_paths(m)) for m in sorted(models)}
        # The version is set by top_targets(), once it knows whether anything changed.
        return Targets(version=current.version if current else 1, expires=self.now + self.lifetimes.targets, targets={},
                       delegations=Delegations(keys={keyid: self.root.keys[keyid]}, roles=roles))

    def top_targets(self, wanted: Targets) -> tuple[bytes, int]:
        current = self.remote.targets
        unchanged = current is not None and current.md.signed.delegations == wanted.delegations \
            and not current.md.signed.targets
        if unchanged and verifies(self.root, "targets", current) and not self._due(current, self.lifetimes.targets):
            assert current is not None
            return current.raw, current.version
        wanted.version = current.version + 1 if current else 1
        raw = self._sign(wanted, "targets", "targets", self.root)
        self.uploads.append((metadata_key("targets", wanted.version), raw, "metadata"))
        return raw, wanted.version

    def snapshot(self, metas: Mapping[str, tuple[bytes, int]]) -> tuple[bytes, int]:
        meta = {f"{name}.json": _meta(raw, version) for name, (raw, version) in sorted(metas.items())}
        current = self.remote.snapshot
        unchanged = current is not None and current.md.signed.meta == meta
        if unchanged and verifies(self.root, "snapshot", current) and not self._due(current, self.lifetimes.snapshot):
            assert current is not None
            return current.raw, current.version
        version = current.version + 1 if current else 1
        raw = self._sign(Snapshot(version=version, expires=self.now + self.lifetimes.snapshot, meta=meta),
                         "snapshot", "online", self.root)
        self.uploads.append((metadata_key("snapshot", version), raw, "metadata"))
        return raw, version

    def timestamp(self, snapshot: tuple[bytes, int]) -> None:
        meta = _meta(*snapshot)
        current = self.remote.timestamp
        unchanged = current is not None and current.md.signed.snapshot_meta == meta
        if unchanged and verifies(self.root, "timestamp", current) and not self._due(current,
                                                                                     self.lifetimes.timestamp):
            return
        version = current.version + 1 if current else 1
        raw = self._sign(Timestamp(version=version, expires=self.now + self.lifetimes.timestamp, snapshot_meta=meta),
                         "timestamp", "online", self.root)
        self.uploads.append((metadata_key("timestamp"), raw, "timestamp"))
