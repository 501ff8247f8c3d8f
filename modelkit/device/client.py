"""Reference device client for tfplat edge models: a thin layer over TUF's `tuf.ngclient.Updater`.

Needs the standard library, `tuf` (python-tuf), `securesystemslib` and `cryptography`; no
TensorFlow. Copy the folder modelkit/device/ onto a device as a package (it imports only
its own modules, relatively).

What it guarantees (TUF does the verifying; docs/edge.md lists the attacks each step stops):
- Trust starts from a root shipped with the device (`trusted_root`), never from one fetched
  with the artifacts. Root rotations are followed through signed root versions, so keys can
  be replaced after a leak with no step on the device. The one exception is migration: a
  device that only pins the pre-TUF keys verifies the stack's root once with them
  (`legacy_keys`), keeps it, and trusts only TUF from then on.
- Expired, rolled back, mixed-and-matched or wrongly signed metadata is refused (ngclient),
  and so is metadata or a model for another environment than the device's (a prod device
  pointed at a dev repository).
- One deadline bounds a whole update: slow or endless responses cannot hold it; every file
  is read with a bound on its length, 64 KiB at a time.
- A model is installed atomically (verified, then renamed into place); the model installed
  before it stays on disk, and whatever fails, the last known good model stays in use. The
  installed model is re-verified (size and sha256) by `installed()`, which the application calls
  before loading it, and by each update when the file changed on disk or once a day.
  Partial files from an interrupted install are removed at the next start.
- Canary: a device follows the canary when the hash of (model, device id) falls in the
  canary share, so the same devices stay in the canary for a rollout. A canary pointer that
  the signed metadata lists but the server hides is an error, never a silent move to stable.
- A Cloud CDN signed URL prefix token is sent only over https and never shows in a message.
- `update()` returns an UpdateResult for anything the network or the repository does; it
  does not raise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
import json
import os
from pathlib import Path
import tempfile
import time
from typing import Any
import urllib.parse

from tuf.api.metadata import Metadata, Root, TargetFile
from tuf.ngclient import Updater, UpdaterConfig

from .fetcher import DeadlineFetcher, parse_url_token
from .files import PARTIAL, atomic_write, file_stat, fsync_dir, intact, unchanged_since
from .layout import (
    BOOTSTRAP,
    DEFAULT_PREFERENCE,
    METADATA,
    TARGETS,
    TFPLAT_FIELD,
    Pointer,
    channel_path,
    follows_canary,
    variant_path,
)
from .legacy import MAX_BOOTSTRAP_BYTES, bootstrap_root

__all__ = ["EdgeClient", "Installed", "UpdateResult", "VerificationError", "follows_canary"]

MAX_POINTER_BYTES = 4096


class VerificationError(Exception):
    """Verified metadata or a file does not say what this device needs; the last good model stays."""


@dataclass(frozen=True)
class Installed:
    model: str
    version: int
    variant: str
    sha256: str
    size: int
    path: str
    channel: str


@dataclass(frozen=True)
class UpdateResult:
    status: str  # "updated", "unchanged", or "kept" (an error; the last known good model stays)
    installed: Installed | None
    error: str | None = None
    bytes_received: int = 0  # over the network, this update
    requests: int = 0


def environment_of(root: bytes) -> str | None:
    """The environment a root names (x-tfplat.environment of its signed part), if any."""
    signed = Metadata[Root].from_bytes(root).signed
    named = signed.unrecognized_fields.get(TFPLAT_FIELD, {})
    env = named.get("environment") if isinstance(named, dict) else None
    return env if isinstance(env, str) else None


class EdgeClient:
    """Keeps one model up to date from a channel of one TUF repository (docs/edge.md, "Device client")."""

    def __init__(self, *, base_url: str, model: str, device_id: str, store: Path,
                 trusted_root: bytes | None = None, legacy_keys: Mapping[str, str] | None = None,
                 environment: str | None = None, preference: Sequence[str] = DEFAULT_PREFERENCE,
                 deadline_s: float = 600.0, max_model_bytes: int = 1 << 30, url_token: str | None = None,
                 ca_file: str | None = None, reverify_s: float = 86400.0) -> None:
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ValueError(f"base_url {base_url!r}: use http(s)://host/path with no query or fragment")
        self.base_url = base_url.rstrip("/")
        self.model, self.device_id = model, device_id
        self.store = store / model
        self.preference = tuple(preference)
        self.deadline_s, self.max_model_bytes, self.reverify_s = deadline_s, max_model_bytes, reverify_s
        self.legacy_keys = dict(legacy_keys or {})
        self.trusted_root = trusted_root
        named = environment_of(trusted_root) if trusted_root is not None else None
        if environment is not None and named is not None and environment != named:
            raise ValueError(f"the trusted root is for environment {named!r}, not {environment!r}")
        self.environment = environment or named
        if trusted_root is None and not self._anchor_file().is_file():
            if not self.legacy_keys:
                raise ValueError("give the device its trusted root (trusted_root=), or legacy_keys= to migrate")
            if self.environment is None:
                raise ValueError("migrating with legacy_keys needs environment= (the legacy key was shared "
                                 "by every environment, so only the device knows which one it is in)")
        if self.environment is None and trusted_root is not None:
            raise ValueError("the trusted root names no environment (x-tfplat): pass environment=")
        self.fetcher = DeadlineFetcher(ca_file=ca_file, temp_dir=self.store)
        if url_token:
            self.set_url_token(url_token)
        self._clean_partials()

    def set_url_token(self, token: str) -> None:
        """Use a (new) Cloud CDN signed URL prefix token; it must cover the whole repository, over https."""
        parsed = parse_url_token(token)
        if not f"{self.base_url}/".startswith(parsed.prefix):
            raise ValueError(f"the URL token is for {parsed.prefix}, which does not cover {self.base_url}/")
        if not self.base_url.startswith("https://"):
            raise ValueError("URL tokens are only sent over https: use an https base_url")
        self.fetcher.url_token = parsed

    # ------------------------------------------------------------------ local state
    def _anchor_file(self) -> Path:
        return self.store / "anchor-root.json"

    def _state(self) -> dict[str, Any]:
        try:
            data = json.loads((self.store / "state.json").read_text())
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    @staticmethod
    def _entry(raw: Any) -> Installed | None:
        """An Installed from state.json (also from the pre-TUF client's state, whose extra fields go)."""
        if not isinstance(raw, dict):
            return None
        try:
            return Installed(**{k: raw[k] for k in Installed.__dataclass_fields__})
        except (KeyError, TypeError):
            return None

    def installed(self, *, full: bool = True) -> Installed | None:
        """The installed model, re-verified on disk (size and sha256); the previous one if it no longer
        verifies. Call it before loading the model. full=False (each update): the sha256 is computed
        again only when the file's size, inode or mtime changed, or the last full check is older
        than reverify_s."""
        state = self._state()
        current, previous = self._entry(state.get("installed")), self._entry(state.get("previous"))
        raw = state.get("checked")
        checked: Mapping[str, Any] = raw if isinstance(raw, dict) else {}
        if current is not None:
            if not full and unchanged_since(Path(current.path), current.sha256, checked, self.reverify_s):
                return current
            if intact(Path(current.path), current.size, current.sha256):
                self._save(current, previous)  # records this full check
                return current
        if previous is not None and intact(Path(previous.path), previous.size, previous.sha256):
            self._save(previous, None)  # fall back to the last known good model
            return previous
        return None

    def _save(self, installed: Installed | None, previous: Installed | None) -> None:
        state: dict[str, Any] = {"format": 2, "installed": asdict(installed) if installed else None,
                                 "previous": asdict(previous) if previous else None}
        if installed is not None:  # saved right after a full check, or an install (which verified it)
            state["checked"] = {"sha256": installed.sha256, "at": time.time(), **file_stat(Path(installed.path))}
        atomic_write(self.store / "state.json", json.dumps(state, indent=2, sort_keys=True).encode())

    def _clean_partials(self) -> None:
        """Remove what an interrupted update left: our partial files and ngclient's temporary ones."""
        for folder in (self.store, self.store / "models", self.store / "cache", self.store / METADATA):
            if folder.is_dir():
                for path in folder.iterdir():
                    if path.is_file() and (path.name.startswith(PARTIAL)
                                           or (folder.name == METADATA and path.name.startswith("tmp"))):
                        path.unlink(missing_ok=True)

    # ------------------------------------------------------------------ TUF
    def _anchor(self) -> bytes:
        """The root this device trusts from the start: shipped, or verified once with the legacy keys."""
        if self.trusted_root is not None:
            return self.trusted_root
        anchor = self._anchor_file()
        if anchor.is_file():
            return anchor.read_bytes()
        raw = self.fetcher.download_bytes(f"{self.base_url}/{BOOTSTRAP}", MAX_BOOTSTRAP_BYTES)
        root = bootstrap_root(raw, self.legacy_keys, self.environment)
        if environment_of(root) != self.environment:
            raise VerificationError(f"the bootstrap root names environment {environment_of(root)!r}, "
                                    f"this device is {self.environment!r}")
        Updater(str(self._metadata_dir()), f"{self.base_url}/{METADATA}/", fetcher=self.fetcher,
                bootstrap=root)  # refuses a root that does not verify with its own keys
        atomic_write(anchor, root)
        return root

    def _metadata_dir(self) -> Path:
        path = self.store / METADATA
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _updater(self) -> Updater:
        config = UpdaterConfig(root_max_length=256 * 1024, timestamp_max_length=16 * 1024,
                               snapshot_max_length=1 << 20, targets_max_length=8 << 20)
        updater = Updater(str(self._metadata_dir()), f"{self.base_url}/{METADATA}/",
                          target_base_url=f"{self.base_url}/{TARGETS}/", fetcher=self.fetcher, config=config,
                          bootstrap=self._anchor())
        updater.refresh()
        # ngclient keeps the newest trusted root as metadata/root.json; it must stay ours.
        named = environment_of((self._metadata_dir() / "root.json").read_bytes())
        if named != self.environment:
            raise VerificationError(f"the repository's root is for environment {named!r}, "
                                    f"this device is {self.environment!r}")
        return updater

    def _download(self, updater: Updater, info: TargetFile, dest: Path) -> Path:
        """Download a target next to `dest`, check it once more, then rename it into place."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self.store, prefix=PARTIAL)
        os.close(fd)
        partial = Path(name)
        try:
            updater.download_target(info, str(partial))
            with partial.open("rb") as fh:
                info.verify_length_and_hashes(fh)  # the copy ngclient made from its verified temp file
                os.fsync(fh.fileno())
            os.replace(partial, dest)
        finally:
            partial.unlink(missing_ok=True)
        fsync_dir(dest.parent)
        return dest

    def _pointer(self, updater: Updater, channel: str) -> Pointer | None:
        """A channel's pointer; None only when the signed metadata lists no such channel."""
        info = updater.get_targetinfo(channel_path(self.model, channel))
        if info is None:
            return None
        if info.length > MAX_POINTER_BYTES:
            raise VerificationError(f"channel {channel}: a {info.length}-byte pointer is not a pointer")
        cached = self.store / "cache" / urllib.parse.quote(info.path, "")
        if updater.find_cached_target(info, str(cached)) is None:
            self._download(updater, info, cached)
        pointer = Pointer.from_bytes(cached.read_bytes())
        if (pointer.model, pointer.channel, pointer.environment) != (self.model, channel, self.environment):
            raise VerificationError(f"channel {channel}: the pointer is for {pointer.model}/{pointer.channel} in "
                                    f"environment {pointer.environment!r}; this device is {self.environment!r}")
        return pointer

    def _choose(self, updater: Updater) -> Pointer:
        stable = self._pointer(updater, "stable")
        if stable is None or stable.version is None:
            raise VerificationError(f"no stable version of {self.model} in the repository")
        canary = self._pointer(updater, "canary")
        if canary and canary.version is not None and follows_canary(self.model, self.device_id, canary.percent):
            return canary
        return stable

    def _variant(self, updater: Updater, version: int) -> tuple[str, TargetFile]:
        for variant in self.preference:
            info = updater.get_targetinfo(variant_path(self.model, version, variant))
            if info is None:
                continue
            custom = info.custom if isinstance(info.custom, dict) else {}
            said = (custom.get("model"), custom.get("version"), custom.get("variant"), custom.get("environment"))
            if said != (self.model, version, variant, self.environment):
                raise VerificationError(f"{info.path} is signed as {said}, not as this model, version, variant "
                                        f"and environment {self.environment!r}")
            if "sha256" not in info.hashes:
                raise VerificationError(f"{info.path} has no sha256")
            return variant, info
        raise VerificationError(f"version {version} of {self.model} has none of the variants this device runs "
                                f"({', '.join(self.preference)})")

    # ------------------------------------------------------------------ update
    def update(self) -> UpdateResult:
        """Follow the channel; on any failure keep the last known good model and say why."""
        self._clean_partials()
        before_bytes, before_requests = self.fetcher.bytes_received, self.fetcher.requests
        current = self.installed(full=False)
        state = self._state()
        previous = self._entry(state.get("previous"))
        self.fetcher.start(self.deadline_s)
        try:
            updater = self._updater()
            pointer = self._choose(updater)
            assert pointer.version is not None  # _choose returns a pointer with a version
            variant, info = self._variant(updater, pointer.version)
            sha = info.hashes["sha256"]
            if current is not None and (current.sha256, current.version, current.variant) == (sha, pointer.version,
                                                                                             variant):
                if current.channel != pointer.channel:
                    current = replace(current, channel=pointer.channel)
                    self._save(current, previous)
                return self._result("unchanged", current, None, before_bytes, before_requests)
            if info.length > self.max_model_bytes:
                raise VerificationError(f"{info.path}: {info.length} bytes is over this device's limit")
            dest = self.store / "models" / f"{sha}.tflite"
            if updater.find_cached_target(info, str(dest)) is None:  # e.g. rolling back to the previous model
                self._download(updater, info, dest)
            new = Installed(model=self.model, version=pointer.version, variant=variant, sha256=sha,
                            size=info.length, path=str(dest), channel=pointer.channel)
            keep = current if current is not None and current.sha256 != sha else previous
            self._save(new, keep)
            self._prune({new.sha256} | ({keep.sha256} if keep else set()))
            return self._result("updated", new, None, before_bytes, before_requests)
        except Exception as exc:  # noqa: BLE001 - anything remote: keep the last known good model
            return self._result("kept", self.installed(), f"{exc.__class__.__name__}: {exc}",
                                before_bytes, before_requests)

    def _result(self, status: str, installed: Installed | None, error: str | None, before_bytes: int,
                before_requests: int) -> UpdateResult:
        return UpdateResult(status, installed, error, self.fetcher.bytes_received - before_bytes,
                            self.fetcher.requests - before_requests)

    def _prune(self, keep: set[str]) -> None:
        """Keep the installed model and the one before it (a local rollback needs no network)."""
        for folder in (self.store / "models", self.store / "blobs"):  # blobs/: the pre-TUF client's
            for path in folder.glob("*.tflite"):
                if path.stem not in keep:
                    path.unlink(missing_ok=True)
