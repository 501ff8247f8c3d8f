"""`tfplat-model edge ...`: build, publish, refresh, keys and the root ceremony, migrate, fetch.

Only `edge build` imports TensorFlow. Publish starts uploading target files before it loads
the stack config (modelkit.edge.transfer.BlobPrefetch says why that is safe).
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
import json
import os
from pathlib import Path
import sys
from typing import TYPE_CHECKING

from modelkit.errors import UserError

if TYPE_CHECKING:
    from securesystemslib.signer import Signer

    from infra.config.spec import EdgeSpec
    from modelkit.edge.publish import Bucket, Context, Stats

EXIT_OK, EXIT_FAIL = 0, 1
URL_TOKEN_ENV = "TFPLAT_EDGE_URL_TOKEN"


def cmd_build(args: argparse.Namespace) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter is noise on a CLI
    from modelkit.config import load_model
    from modelkit.edge import build
    from modelkit.savedmodel import version_from_location

    model = load_model(args.model)
    version = args.version or version_from_location(args.saved_model)
    if version is None:
        raise UserError.one(file="(command line)", field="--version", value=args.saved_model,
                            message="cannot tell the model version",
                            fix="pass --version N, or a --saved-model path ending in /<version>")
    result = build.build(model, args.saved_model, version, Path(args.out), args.samples)
    print(build.render(result))
    rejected = [v.variant for v in result.variants if not v.published]
    if rejected:
        print(f"{len(rejected)} variant(s) rejected and not publishable: {', '.join(rejected)}", file=sys.stderr)
    return EXIT_FAIL if not result.published else EXIT_OK


def _signers(args: argparse.Namespace, edge: EdgeSpec, stack_file: str, *,
             targets_optional: bool) -> dict[str, Signer | None]:
    from modelkit.edge.keys import KEY_ENV, role_signer

    targets = edge.targets
    have_targets = (targets.kms_key or args.targets_key_file or os.environ.get(KEY_ENV["targets"])
                    or os.environ.get(f"{KEY_ENV['targets']}_FILE"))
    return {
        "online": role_signer("online", edge.online, stack_file, args.online_key_file),
        # The scheduled job may run without the targets key: it is only needed when targets are due.
        "targets": (role_signer("targets", targets, stack_file, args.targets_key_file)
                    if have_targets or not targets_optional else None),
    }


def _context(args: argparse.Namespace, bucket: Bucket, *, targets_optional: bool) -> Context:
    from modelkit.config import load_stack, project_root
    from modelkit.edge import publish

    stack = load_stack(args.stack)
    signers = _signers(args, stack.edge, stack.file, targets_optional=targets_optional)
    return publish.context(bucket=bucket, stack=stack.name, environment=stack.environment, stack_file=stack.file,
                           edge=stack.edge, project_root=project_root(), signers=signers, now=datetime.now(UTC),
                           workers=args.workers, keep_published=args.keep_published)


def _report(stats: Stats) -> None:
    print(f"uploaded {len(stats.uploaded)} object(s), {stats.uploaded_bytes:,} bytes; "
          f"{len(stats.skipped)} already up to date")
    if stats.signed:
        print(f"signed: {', '.join(stats.signed)}")
    for key in stats.uploaded:
        print(f"  + {key}")
    for warning in stats.warnings:
        print(f"warning: {warning}", file=sys.stderr)


def cmd_publish(args: argparse.Namespace) -> int:
    from modelkit.edge.transfer import BlobPrefetch, Bucket
    from modelkit.storage import parse_uri

    bucket = Bucket(parse_uri(args.bucket, what="--bucket"), args.endpoint_url)
    # Target files start going up while python-tuf (and, through securesystemslib, boto3) and
    # the config load: BlobPrefetch says why that is safe.
    prefetch = BlobPrefetch(bucket, Path(args.build), args.model, args.workers)
    try:
        from modelkit.edge import publish

        ctx = _context(args, bucket, targets_optional=False)
        publisher = publish.Publisher(ctx, args.model)
    except BaseException:
        prefetch.cancel()
        raise
    stats = publish.publish(publisher=publisher, build_root=Path(args.build), now=datetime.now(UTC),
                            extra_versions=args.version, replace=args.replace, prefetch=prefetch)
    ch = ctx.edge.channels[args.model]
    canary = f"canary v{ch.canary} ({ch.canary_percent}%)" if ch.canary is not None else "no canary"
    print(f"published {args.model} to {args.bucket}: stable v{ch.stable}, {canary}")
    _report(stats)
    return EXIT_OK


def cmd_refresh(args: argparse.Namespace) -> int:
    from modelkit.edge import publish
    from modelkit.storage import parse_uri

    bucket = publish.Bucket(parse_uri(args.bucket, what="--bucket"), args.endpoint_url)
    ctx = _context(args, bucket, targets_optional=True)
    stats, warnings = publish.refresh(ctx, datetime.now(UTC))
    print(f"refreshed {args.bucket}" + ("" if stats.signed else ": nothing was due"))
    _report(stats)
    for warning in warnings[len(stats.warnings):]:  # the root's expiry (the others _report printed)
        print(f"warning: {warning}", file=sys.stderr)
    return EXIT_FAIL if warnings else EXIT_OK


def cmd_fetch(args: argparse.Namespace) -> int:
    from modelkit.device.client import EdgeClient

    root: bytes | None = None
    legacy: dict[str, str] = {}
    if args.trusted_root:
        try:
            root = Path(args.trusted_root).read_bytes()
        except OSError as exc:
            raise UserError.one(file=args.trusted_root, field="", message=f"cannot read the root ({exc.strerror})",
                                fix="pass the root file the device ships with") from exc
    elif args.stack:
        from modelkit.config import project_root
        from modelkit.edge import trust

        root = trust.trusted_roots(trust.roots_dir(project_root(), args.stack), args.stack)[-1].raw
    else:
        for item in args.legacy_key:
            kid, sep, b64 = item.partition("=")
            if not sep or not kid or not b64:
                raise UserError.one(file="(command line)", field="--legacy-key", value=item,
                                    message="expected KEY_ID=BASE64", fix="e.g. --legacy-key edge-2026-11=AAAA...=")
            legacy[kid] = b64
    try:
        client = EdgeClient(base_url=args.base_url, model=args.model, device_id=args.device_id,
                            store=Path(args.store), trusted_root=root, legacy_keys=legacy,
                            environment=args.environment, deadline_s=args.deadline, ca_file=args.ca_file,
                            preference=[v.strip() for v in args.prefer.split(",") if v.strip()])
    except ValueError as exc:
        raise UserError.one(file="(command line)", field="--trusted-root/--legacy-key/--environment",
                            message=f"the device cannot start ({exc})",
                            fix="give the root the device ships with, or --legacy-key and --environment") from exc
    token, source = _url_token(args.url_token_file)
    if token:
        try:
            client.set_url_token(token)
        except ValueError as exc:
            raise UserError.one(file=source, field="", message=f"not a usable URL token: {exc}",
                                fix="mint one covering --base-url (`tfplat-model edge sign-url-prefix`)") from exc
    result = client.update()
    print(json.dumps({"status": result.status, "error": result.error, "bytes": result.bytes_received,
                      "installed": result.installed.__dict__ if result.installed else None}, indent=2))
    return EXIT_OK if result.error is None else EXIT_FAIL


def _url_token(path: str | None) -> tuple[str | None, str]:
    """The device's URL token from --url-token-file or $TFPLAT_EDGE_URL_TOKEN (None: no token)."""
    if path:
        try:
            return Path(path).read_text(encoding="ascii").strip(), path
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError.one(file=path, field="", message=f"cannot read the URL token ({exc})",
                                fix="pass the file `tfplat-model edge sign-url-prefix` output went to") from exc
    return os.environ.get(URL_TOKEN_ENV) or None, f"${URL_TOKEN_ENV}"


def cmd_sign_url_prefix(args: argparse.Namespace) -> int:
    import time

    from modelkit.edge import cdn

    prefix, key_name = cdn.check_prefix(args.prefix), cdn.check_key_name(args.key_name)
    expires = cdn.expiry(int(time.time()), expires_in=args.expires_in, expires_at=args.expires_at)
    key, _source = cdn.load_key(args.key_file)
    print(cdn.sign_url_prefix(prefix, key_name=key_name, key=key, expires=expires))
    print(f"# admits GET/HEAD under {prefix} until {datetime.fromtimestamp(expires, UTC).isoformat()} "
          f"(key {key_name}); devices append it to every request (EdgeClient(url_token=...))", file=sys.stderr)
    return EXIT_OK

