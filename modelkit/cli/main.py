"""tfplat-model: TensorFlow model tooling (inspect, warmup, samples, edge build/publish/keygen/fetch/sign-url-prefix).

Exit status: 0 success, 1 a check failed (signature mismatch, a variant rejected, a device
update refused), 2 a mistake in config, arguments or environment (message: file, field,
value, fix), 130 interrupted.
"""

from __future__ import annotations

import argparse
import atexit
from collections.abc import Sequence
import gc
import sys

from modelkit.edge.paths import DEFAULT_BUILD_ROOT

EXIT_OK, EXIT_FAIL, EXIT_USER = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    from modelkit.cli import commands as c

    parser = argparse.ArgumentParser(prog="tfplat-model", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def model_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument("--model", "-m", required=True, help="model name (models/<name>.yaml)")

    def saved_model_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument("--saved-model", required=True, metavar="LOCATION",
                       help="one SavedModel version: a local dir, s3://bucket/prefix/<version> or gs://...")

    p = sub.add_parser("inspect", help="compare a SavedModel's serving signature with models/<name>.yaml")
    model_arg(p)
    saved_model_arg(p)
    p.set_defaults(func=c.cmd_inspect)

    p = sub.add_parser("warmup", help="write assets.extra/tf_serving_warmup_requests into a SavedModel version")
    model_arg(p)
    saved_model_arg(p)
    p.add_argument("--samples", help="sample .npz (default: the model's edge.samples, else synthetic)")
    p.set_defaults(func=c.cmd_warmup)

    p = sub.add_parser("samples", help="write deterministic synthetic sample inputs (.npz) for a model")
    model_arg(p)
    p.add_argument("--out", help="output .npz (default: the model's edge.samples path)")
    p.add_argument("--count", type=int, help="number of samples (default: edge.num_samples)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(func=c.cmd_samples)

    edge = sub.add_parser("edge", help="TFLite artifacts for edge devices").add_subparsers(
        dest="edge_command", required=True, metavar="EDGE_COMMAND")

    p = edge.add_parser("build", help="convert, measure and gate the TFLite variants of one version")
    model_arg(p)
    saved_model_arg(p)
    p.add_argument("--version", type=int, help="model version (default: the number --saved-model ends with)")
    p.add_argument("--out", default=DEFAULT_BUILD_ROOT, help=f"build folder (default {DEFAULT_BUILD_ROOT})")
    p.add_argument("--samples", help="sample .npz (default: the model's edge.samples)")
    p.set_defaults(func=c.cmd_edge_build)

    p = edge.add_parser("publish", help="upload blobs, signed manifests, then move the stack's channels")
    model_arg(p)
    p.add_argument("--stack", "-s", required=True, help="stack whose tfplat:edge config drives the channels")
    p.add_argument("--bucket", required=True, metavar="URI", help="s3://bucket[/prefix] or gs://bucket[/prefix]")
    p.add_argument("--build", default=DEFAULT_BUILD_ROOT, help=f"build folder (default {DEFAULT_BUILD_ROOT})")
    p.add_argument("--version", type=int, action="append", default=[],
                   help="also publish this built version (no channel points at it yet); repeatable")
    p.add_argument("--signing-key-file", help="PEM file (default: $TFPLAT_EDGE_SIGNING_KEY_FILE or "
                                              "$TFPLAT_EDGE_SIGNING_KEY); a stack with "
                                              "tfplat:edge.signing.kms_key signs in AWS KMS instead")
    p.add_argument("--endpoint-url", help="object storage endpoint (default: AWS, or GCS for gs://)")
    p.add_argument("--workers", type=int, default=8, help="parallel blob uploads (default 8)")
    p.add_argument("--replace", action="store_true", help="overwrite a published version whose content differs")
    p.set_defaults(func=c.cmd_edge_publish)

    p = edge.add_parser("keygen", help="print a new Ed25519 key pair for signing edge manifests")
    p.add_argument("--key-id", default="edge-<yyyy-mm>", help="key id to print commands for")
    p.set_defaults(func=c.cmd_edge_keygen)

    p = edge.add_parser("fetch", help="device client demo: follow a channel, verify, keep last known good")
    model_arg(p)
    p.add_argument("--base-url", required=True, help="CDN or bucket URL the edge layout starts at")
    p.add_argument("--device-id", required=True, help="decides (by hash) whether this device follows canary")
    p.add_argument("--store", required=True, help="local folder for models and state")
    keys = p.add_mutually_exclusive_group(required=True)
    keys.add_argument("--trusted-key", action="append", metavar="KEY_ID=BASE64",
                      help="pinned public key (repeatable: pin old and new during a rotation)")
    keys.add_argument("--stack", help="pin the public keys of this stack's tfplat:edge.signing.public_keys")
    p.add_argument("--prefer", default="int8,float16,dynamic_range,float32",
                   help="variants this device runs, best first (default int8,float16,dynamic_range,float32)")
    p.add_argument("--url-token-file", help="Cloud CDN signed URL prefix token to append to every request "
                                            "(default: $TFPLAT_EDGE_URL_TOKEN; see edge sign-url-prefix)")
    p.set_defaults(func=c.cmd_edge_fetch)

    p = edge.add_parser("sign-url-prefix", help="mint a Cloud CDN signed URL prefix token for devices "
                                                "(key from a file or the environment, never the command line)")
    p.add_argument("--prefix", required=True, help="URL prefix the token admits, e.g. https://edge.example.com/")
    p.add_argument("--key-name", required=True, help="the backend bucket's URL-signing key name "
                                                     "(tfplat names it tfplat-<stack>-edge-key)")
    p.add_argument("--key-file", help="file holding the key (default: $TFPLAT_CDN_URL_SIGNING_KEY_FILE or "
                                      "$TFPLAT_CDN_URL_SIGNING_KEY)")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--expires-in", default="1d", help="lifetime: seconds, or a number with s/m/h/d (default 1d)")
    when.add_argument("--expires-at", type=int, help="expiry in unix seconds")
    p.set_defaults(func=c.cmd_edge_sign_url_prefix)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from infra.config.errors import ConfigError
    from modelkit.errors import UserError

    # The interpreter's last garbage collections, at exit, walk every object still alive:
    # after `edge publish` that is botocore's parsed service model, 0.05-0.15 s spent after
    # the work is done. Frozen objects are skipped by those walks; atexit handlers still
    # run and files are still flushed (only cyclic garbage left at exit goes uncollected,
    # and the process is ending).
    atexit.register(gc.freeze)
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (UserError, ConfigError) as err:
        print(f"error: {err.render()}" if isinstance(err, UserError) else err.render(), file=sys.stderr)
        return EXIT_USER
    except KeyboardInterrupt:
        print("interrupted: channels were not moved past the last completed step", file=sys.stderr)
        return 130
    except Exception as exc:
        # Credentials, endpoints and permissions are the user's to fix; say so without a traceback.
        from botocore.exceptions import BotoCoreError, ClientError

        if isinstance(exc, (BotoCoreError, ClientError)):
            print(f"error: object storage: {exc}\n    fix: check the bucket name, --endpoint-url and "
                  "credentials (docs/edge.md, 'Credentials')", file=sys.stderr)
            return EXIT_USER
        raise


if __name__ == "__main__":
    sys.exit(main())
