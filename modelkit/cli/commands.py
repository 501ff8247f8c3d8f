"""The subcommands of tfplat-model. TensorFlow is imported only by those that run models."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
import json
from pathlib import Path
import sys
import tempfile

from modelkit.errors import UserError

EXIT_OK, EXIT_FAIL = 0, 1


def _quiet_tensorflow() -> None:
    """TensorFlow's C++ start-up chatter is noise on a CLI; real errors still surface."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def cmd_inspect(args: argparse.Namespace) -> int:
    _quiet_tensorflow()
    from modelkit import savedmodel, signature
    from modelkit.config import load_model

    model = load_model(args.model)
    with tempfile.TemporaryDirectory() as tmp:
        found = signature.read_signatures(savedmodel.fetch(args.saved_model, Path(tmp)))
    diffs = signature.compare(model.signature, found)
    if diffs:
        print(f"{args.saved_model} does not match {model.file} ({len(diffs)} difference"
              f"{'s' if len(diffs) != 1 else ''}):", file=sys.stderr)
        for d in diffs:
            print(f"  - {d}", file=sys.stderr)
        print(f"    fix: export the model again with the declared signature, or update {model.file}",
              file=sys.stderr)
        return EXIT_FAIL
    sig = found[model.signature.name]
    print(f"ok: {args.saved_model} matches {model.file} (signature {sig.name}, {len(sig.inputs)} inputs, "
          f"{len(sig.outputs)} outputs)")
    return EXIT_OK


def cmd_warmup(args: argparse.Namespace) -> int:
    _quiet_tensorflow()
    from modelkit import samples, warmup
    from modelkit.config import load_model

    model = load_model(args.model)
    if args.samples or model.edge.samples:
        data = samples.load(model, args.samples)
    else:
        data = samples.generate(model, max(warmup.batch_sizes(model)), seed=0)
    where, count = warmup.write_warmup(model, args.saved_model, data)
    print(f"wrote {count} warmup request{'s' if count != 1 else ''} (batch sizes "
          f"{', '.join(map(str, warmup.batch_sizes(model)))}) to {where}")
    return EXIT_OK


def cmd_samples(args: argparse.Namespace) -> int:
    from modelkit import samples
    from modelkit.config import load_model, resolve_path

    model = load_model(args.model)
    out = args.out or model.edge.samples
    if not out:
        raise UserError.one(file=model.file, field="edge.samples", value=None, message="no output path",
                            fix="pass --out, or set edge.samples in the model file")
    if "://" in out:
        raise UserError.one(file=model.file, field="edge.samples", value=out,
                            message="synthetic samples are written to a local file",
                            fix="pass --out <path>.npz and upload it yourself")
    count = args.count or model.edge.num_samples
    path = resolve_path(out)
    samples.write_npz(samples.generate(model, count, seed=args.seed), path)
    print(f"wrote {count} synthetic samples (seed {args.seed}) for {model.name} to {path}")
    return EXIT_OK


def cmd_edge_build(args: argparse.Namespace) -> int:
    _quiet_tensorflow()
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


def cmd_edge_publish(args: argparse.Namespace) -> int:
    from modelkit.edge import publish
    from modelkit.storage import parse_uri

    bucket = publish.Bucket(parse_uri(args.bucket, what="--bucket"), args.endpoint_url)
    # Blobs start going up while the config loads (see BlobPrefetch for why that is safe).
    prefetch = publish.BlobPrefetch(bucket, Path(args.build), args.model, args.workers)
    try:
        from modelkit.config import load_stack_edge
        from modelkit.edge import signing

        edge, stack_file = load_stack_edge(args.stack)
        signer = signing.signer_for(edge, stack_file, args.signing_key_file)
        publisher = publish.Publisher(bucket=bucket, model=args.model, edge=edge, stack_file=stack_file,
                                      signer=signer, workers=args.workers)
    except BaseException:
        prefetch.cancel()
        raise
    stats = publish.publish(publisher=publisher, build_root=Path(args.build), extra_versions=args.version,
                            replace=args.replace, prefetch=prefetch)
    ch = edge.channels[args.model]
    canary = f"canary v{ch.canary} ({ch.canary_percent}%)" if ch.canary is not None else "no canary"
    print(f"published {args.model} to {args.bucket}: stable v{ch.stable}, {canary}")
    print(f"uploaded {len(stats.uploaded)} object(s), {stats.uploaded_bytes:,} bytes; "
          f"{len(stats.skipped)} already up to date")
    for key_name in stats.uploaded:
        print(f"  + {key_name}")
    return EXIT_OK


def cmd_edge_keygen(args: argparse.Namespace) -> int:
    from modelkit.edge import signing

    pair = signing.generate()
    key_id = args.key_id if args.key_id != "edge-<yyyy-mm>" else datetime.now(UTC).strftime("edge-%Y-%m")
    print(f"# Key id {key_id}. The private key (PEM, last lines) is shown once: keep it only as a Pulumi")
    print("# secret, never in a file in the repository. Save the PEM to a file outside the repo")
    print(f"# (e.g. /dev/shm/{key_id}.pem), then, from the repository root, for each stack that publishes:")
    print(f"#   pulumi config set --secret --path 'tfplat:edge.signing.private_key' -s <stack> < /dev/shm/{key_id}.pem")
    print(f"#   pulumi config set --path 'tfplat:edge.signing.public_keys.{key_id}' '{pair.public_b64}' -s <stack>")
    print(f"#   shred -u /dev/shm/{key_id}.pem")
    print(f"# Switch signing to it (tfplat:edge.signing.key_id: {key_id}) only after devices pin it:")
    print("# docs/runbooks/rotate-edge-signing-key.md.")
    print(f"key_id: {key_id}")
    print(f"public_key_b64: {pair.public_b64}")
    print(pair.private_pem, end="")
    return EXIT_OK


def cmd_edge_fetch(args: argparse.Namespace) -> int:
    from modelkit.device.client import EdgeClient

    if args.stack:
        from modelkit.config import load_stack_edge

        keys = dict(load_stack_edge(args.stack)[0].public_keys)
        if not keys:
            raise UserError.one(file=f"stacks/Pulumi.{args.stack}.yaml", field="config.tfplat:edge.signing.public_keys",
                                value={}, message="no public keys pinned", fix="pass --trusted-key KEY_ID=BASE64")
    else:
        keys = {}
        for item in args.trusted_key:
            kid, sep, b64 = item.partition("=")
            if not sep or not kid or not b64:
                raise UserError.one(file="(command line)", field="--trusted-key", value=item,
                                    message="expected KEY_ID=BASE64", fix="e.g. --trusted-key edge-2026-11=AAAA...=")
            keys[kid] = b64
    try:
        client = EdgeClient(base_url=args.base_url, model=args.model, device_id=args.device_id,
                            store=Path(args.store), trusted_keys=keys,
                            preference=[v.strip() for v in args.prefer.split(",") if v.strip()])
    except ValueError as exc:
        raise UserError.one(file="(command line)", field="--trusted-key", message=f"not a usable public key ({exc})",
                            fix="use the base64 public key `tfplat-model edge keygen` printed") from exc
    token, source = _url_token(args.url_token_file)
    if token:
        try:
            client.set_url_token(token)
        except ValueError as exc:
            raise UserError.one(file=source, field="", message=f"not a usable URL token: {exc}",
                                fix="mint one covering --base-url (`tfplat-model edge sign-url-prefix`)") from exc
    result = client.update()
    print(json.dumps({"status": result.status, "error": result.error,
                      "installed": result.installed.__dict__ if result.installed else None}, indent=2))
    return EXIT_OK if result.error is None else EXIT_FAIL


URL_TOKEN_ENV = "TFPLAT_EDGE_URL_TOKEN"


def _url_token(path: str | None) -> tuple[str | None, str]:
    """The device's URL token from --url-token-file or $TFPLAT_EDGE_URL_TOKEN (None: no token)."""
    import os

    if path:
        try:
            return Path(path).read_text(encoding="ascii").strip(), path
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError.one(file=path, field="", message=f"cannot read the URL token ({exc})",
                                fix="pass the file `tfplat-model edge sign-url-prefix` output went to") from exc
    return os.environ.get(URL_TOKEN_ENV) or None, f"${URL_TOKEN_ENV}"


def cmd_edge_sign_url_prefix(args: argparse.Namespace) -> int:
    import time

    from modelkit.edge import cdn

    prefix, key_name = cdn.check_prefix(args.prefix), cdn.check_key_name(args.key_name)
    expires = cdn.expiry(int(time.time()), expires_in=args.expires_in, expires_at=args.expires_at)
    key, _source = cdn.load_key(args.key_file)
    print(cdn.sign_url_prefix(prefix, key_name=key_name, key=key, expires=expires))
    print(f"# admits GET/HEAD under {prefix} until {datetime.fromtimestamp(expires, UTC).isoformat()} "
          f"(key {key_name}); devices append it to every request (EdgeClient(url_token=...))", file=sys.stderr)
    return EXIT_OK
