"""`edge publish` and `edge refresh`: the stack's edge bucket as a TUF repository.

Order (a device reads timestamp -> snapshot -> targets -> model role -> files, so writing in
the reverse order means it can never see metadata naming a file that is not there yet):
target files (variants, channel pointers), then root versions, then the model roles, the
top-level targets and snapshot, and the timestamp last. A publish stopped at any point leaves
devices on the previous complete state.

Nothing is signed or uploaded twice: target files are content-addressed (skipped when the
bucket has them), and a role is re-signed only when its content, its keys or its expiry ask
for it (modelkit.edge.repo). Re-publishing an unchanged build uploads 0 bytes.

Which version each channel serves comes from the stack (tfplat:edge.channels.<model>); a
rollback is a config change followed by another publish, which only moves a pointer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuf.api.metadata import Root, TargetFile

from modelkit.device.layout import (
    CHANNELS,
    Pointer,
    channel_path,
    metadata_key,
    role_name,
    target_key,
    variant_path,
)
from modelkit.edge import repo, trust
from modelkit.edge.paths import MANIFEST_FILE, version_dir
from modelkit.edge.transfer import (
    CACHE_IMMUTABLE,
    CACHE_TIMESTAMP,
    Blob,
    BlobPrefetch,
    Bucket,
    Stats,
    local_payload,
    upload_blobs,
)
from modelkit.errors import UserError

__all__ = ["BlobPrefetch", "Bucket", "Publisher", "Stats", "publish", "refresh"]

if TYPE_CHECKING:  # not imported at run time: publish starts uploading before the config loads
    from securesystemslib.signer import Key, Signer

    from infra.config.spec import EdgeSpec

ROOT_WARN_DAYS = 30


@dataclass(frozen=True, kw_only=True)
class Context:
    """A stack's repository: its config, newest signed root and the signers this run holds."""

    bucket: Bucket
    stack: str
    environment: str
    stack_file: str
    edge: EdgeSpec
    roots: tuple[trust.RootFile, ...]
    signers: Mapping[str, Signer | None]  # "targets", "online"
    workers: int = 8
    keep_published: bool = False  # trust what earlier roots' targets keys signed (a scheduled rotation)

    @property
    def root(self) -> Root:
        return self.roots[-1].md.signed

    def earlier_targets_keys(self) -> tuple[Key, ...]:
        """Targets keys of earlier roots that the newest no longer names (trusted only with keep_published)."""
        if not self.keep_published:
            return ()
        current = set(self.root.roles["targets"].keyids)
        return tuple(f.md.signed.keys[k] for f in self.roots[:-1] for k in f.md.signed.roles["targets"].keyids
                     if k not in current)

    def signing(self, remote: repo.Remote, now: datetime) -> repo.Signing:
        return repo.Signing(root=self.root, signers=self.signers, lifetimes=self.lifetimes(), now=now, remote=remote,
                            earlier_keys=self.earlier_targets_keys())

    def lifetimes(self) -> repo.Lifetimes:
        e = self.edge
        return repo.Lifetimes(targets=timedelta(days=e.targets_expiry_days),
                              snapshot=timedelta(days=e.snapshot_expiry_days),
                              timestamp=timedelta(hours=e.timestamp_expiry_hours))


def context(*, bucket: Bucket, stack: str, environment: str, stack_file: str, edge: EdgeSpec, project_root: Path,
            signers: Mapping[str, Signer | None], now: datetime, workers: int = 8,
            keep_published: bool = False) -> Context:
    """Check the stack against its newest signed root before anything is signed."""
    if not edge.enabled:
        raise UserError.one(file=stack_file, field="config.tfplat:edge.enabled", value=False,
                            message="edge distribution is off for this stack",
                            fix="set tfplat:edge.enabled: true (and its signing and channels)")
    folder = trust.roots_dir(project_root, stack)
    roots = tuple(trust.trusted_roots(folder, stack))
    latest = roots[-1].md.signed
    desired = trust.desired_root(edge, stack=stack, environment=environment, previous=None, now=now,
                                 stack_file=stack_file)
    trust.check_config(latest, desired, stack_file, folder)
    if latest.is_expired(now):
        raise UserError.one(file=str(roots[-1].path), field="signed.expires", value=str(latest.expires),
                            message="the newest root has expired: devices refuse everything signed under it",
                            fix="renew it in a root ceremony (`tfplat-model edge root draft`, then sign)")
    return Context(bucket=bucket, stack=stack, environment=environment, stack_file=stack_file, edge=edge,
                   roots=roots, signers=signers, workers=workers, keep_published=keep_published)


def _canonical(value: Any) -> Any:
    """TUF signs canonical JSON, which has no floats: a number with a fraction is written as its
    shortest round-trip decimal string (float("0.0078") gives it back)."""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


def _custom(payload: Mapping[str, Any], variant: str, entry: Mapping[str, Any], environment: str) -> dict[str, Any]:
    """A variant's TUF custom fields: what it is (checked by devices), and the build's figures."""
    top = {k: v for k, v in payload.items() if k != "variants"}
    figures = {k: v for k, v in entry.items() if k not in ("sha256", "size")}
    custom: dict[str, Any] = _canonical({**top, **figures, "variant": variant, "environment": environment})
    return custom


class Publisher:
    """Stages one model's versions and channels, then signs and uploads what changed."""

    def __init__(self, ctx: Context, model: str) -> None:
        self.ctx, self.model = ctx, model
        if model not in ctx.edge.channels:
            raise UserError.one(file=ctx.stack_file, field=f"config.tfplat:edge.channels.{model}",
                                value=sorted(ctx.edge.channels), message="no edge channel for this model",
                                fix=f"add tfplat:edge.channels.{model}: {{stable: <version>}}")
        self.stats = Stats()

    def stage(self, current: Mapping[str, TargetFile], versions: Iterable[int], build_root: Path,
              replace: bool) -> tuple[dict[str, TargetFile], list[Blob]]:
        """The model role's new variant targets (built versions over published ones) and their files."""
        targets = {p: t for p, t in current.items() if not p.startswith(f"{self.model}/channels/")}
        blobs: list[Blob] = []
        for version in versions:
            folder = version_dir(build_root, self.model, version)
            if not (folder / MANIFEST_FILE).is_file():
                continue
            payload, files = local_payload(folder, self.model, version)
            built = {}
            for variant, entry in sorted(payload["variants"].items()):
                path = variant_path(self.model, version, variant)
                built[path] = TargetFile(length=int(entry["size"]), hashes={"sha256": entry["sha256"]}, path=path,
                                         unrecognized_fields={"custom": _custom(payload, variant, entry,
                                                                                self.ctx.environment)})
            prefix = f"{self.model}/{version}/"
            published = {p: t for p, t in targets.items() if p.startswith(prefix)}
            if published and published != built and not replace:
                raise UserError.one(file=str(folder / MANIFEST_FILE), field="", value=version,
                                    message=f"version {version} is already published with different content; "
                                            "published versions are immutable",
                                    fix="publish a new model version, or pass --replace to overwrite it on purpose")
            targets = {p: t for p, t in targets.items() if not p.startswith(prefix)} | built
            blobs += files
        return targets, blobs

    def channels(self, targets: Mapping[str, TargetFile]) -> tuple[dict[str, TargetFile], list[Blob]]:
        ch = self.ctx.edge.channels[self.model]
        published = {int(p.split("/")[1]) for p in targets}
        for version in {ch.stable, *([ch.canary] if ch.canary is not None else [])}:
            if version not in published:
                raise UserError.one(file=self.ctx.stack_file, field=f"config.tfplat:edge.channels.{self.model}",
                                    value=version, message=f"version {version} is neither built nor published",
                                    fix=f"run `tfplat-model edge build --model {self.model} --version {version} ...`")
        pointers: dict[str, tuple[int | None, int]] = {
            "stable": (ch.stable, 0), "canary": (ch.canary, ch.canary_percent if ch.canary else 0)}
        out: dict[str, TargetFile] = {}
        blobs = []
        for channel in CHANNELS:
            points_at, percent = pointers[channel]
            data = Pointer(model=self.model, channel=channel, environment=self.ctx.environment, version=points_at,
                           percent=percent).to_bytes()
            path = channel_path(self.model, channel)
            info = TargetFile.from_data(path, data)
            out[path] = info
            blobs.append(Blob(key=target_key(path, info.hashes["sha256"]), sha256=info.hashes["sha256"],
                              size=len(data), data=data))
        return out, blobs


def _put_roots(ctx: Context, stats: Stats) -> None:
    """Every committed root version the bucket lacks (devices walk them one by one)."""
    for f in ctx.roots:
        key = metadata_key("root", f.version)
        held = ctx.bucket.get(key)
        if held == f.raw:
            stats.skip(key)
            continue
        ctx.bucket.put(key, f.raw, CACHE_IMMUTABLE)
        stats.add(key, len(f.raw))


def _sign_and_upload(ctx: Context, signing: repo.Signing, stats: Stats,
                     model_targets: Mapping[str, dict[str, TargetFile]]) -> None:
    """Sign what must change (every model role, targets, snapshot, timestamp) and upload it in order."""
    remote = signing.remote
    wanted = signing.delegations(set(ctx.edge.channels))
    metas: dict[str, tuple[bytes, int]] = {}
    for model in sorted(ctx.edge.channels):
        meta = signing.role(role_name(model), model_targets.get(model), wanted)
        if meta is not None:
            metas[role_name(model)] = meta
    metas["targets"] = signing.top_targets(wanted)
    signing.timestamp(signing.snapshot(metas))
    for key, body, kind in signing.uploads:
        if kind == "timestamp" and ctx.bucket.get(key) != remote.timestamp_raw:
            raise UserError.one(file=ctx.bucket.key(key), field="", message="another publish or refresh changed the "
                                "repository while this one ran; nothing of this one is visible to devices yet",
                                fix="run it again (CI runs one edge job per stack at a time)")
        ctx.bucket.put(key, body, CACHE_TIMESTAMP if kind == "timestamp" else CACHE_IMMUTABLE)
        stats.add(key, len(body))
    stats.signed += signing.signed_roles
    stats.warnings += signing.warnings


def publish(*, publisher: Publisher, build_root: Path, now: datetime, extra_versions: Iterable[int] = (),
            replace: bool = False, after_blob: Callable[[str], None] | None = None,
            prefetch: BlobPrefetch | None = None) -> Stats:
    """Publish the versions the stack's channels name (plus extra_versions), then move the channels."""
    p, ctx = publisher, publisher.ctx
    ch = ctx.edge.channels[p.model]
    remote = repo.read(ctx.bucket.get, ctx.bucket.get(metadata_key("timestamp")), ctx.workers)
    signing = ctx.signing(remote, now)
    current = signing.trusted_targets(role_name(p.model), signing.delegations(set(ctx.edge.channels)))
    if current is None:  # signed by a key no longer trusted: only what is built here goes up
        p.stats.warnings.append(f"the published versions of {p.model} are signed by a key the newest root does not "
                                "trust: only versions in the build folder are published (rebuild older ones to roll "
                                "back to them, or pass --keep-published after a scheduled rotation)")
    versions = sorted({ch.stable, *([ch.canary] if ch.canary is not None else []), *extra_versions})
    variants, blobs = p.stage(current or {}, versions, build_root, replace)
    pointers, pointer_blobs = p.channels(variants)
    present = prefetch.wait() if prefetch is not None else set()
    if prefetch is not None:
        p.stats.merge(prefetch.stats)
    upload_blobs(ctx.bucket, [b for b in [*blobs, *pointer_blobs] if b.key not in present], p.stats, ctx.workers,
                 after_blob)
    _put_roots(ctx, p.stats)
    _sign_and_upload(ctx, signing, p.stats, {p.model: variants | pointers})
    return p.stats


def refresh(ctx: Context, now: datetime) -> tuple[Stats, list[str]]:
    """Re-sign what is due (the timestamp above all) and upload new root versions: the scheduled job.

    Returns (stats, warnings)."""
    stats = Stats()
    remote = repo.read(ctx.bucket.get, ctx.bucket.get(metadata_key("timestamp")), ctx.workers)
    if remote.timestamp is None:
        raise UserError.one(file=ctx.bucket.key(metadata_key("timestamp")), field="", message="nothing published yet",
                            fix="publish a model first (`tfplat-model edge publish`)")
    _put_roots(ctx, stats)
    _sign_and_upload(ctx, ctx.signing(remote, now), stats, {})
    warnings = list(stats.warnings)
    left = ctx.root.expires - now
    if left < timedelta(days=ROOT_WARN_DAYS):
        warnings.append(f"root v{ctx.root.version} expires in {left.days} days ({ctx.root.expires:%Y-%m-%d}): "
                        "renew it in a root ceremony (docs/runbooks/edge-root-ceremony.md)")
    return stats, warnings
