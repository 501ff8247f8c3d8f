"""The `tfplat-model edge ...` subcommands and their arguments."""

from __future__ import annotations

import argparse
from typing import Any

from modelkit.edge.paths import DEFAULT_BUILD_ROOT


def add_edge(sub: Any) -> None:
    from modelkit.cli import edge_cmds as c
    from modelkit.cli import edge_keys_cmds as k

    edge = sub.add_parser("edge", help="TFLite artifacts for edge devices, distributed as a TUF repository")
    cmds = edge.add_subparsers(dest="edge_command", required=True, metavar="EDGE_COMMAND")

    def model_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument("--model", "-m", required=True, help="model name (models/<name>.yaml)")

    def stack_arg(p: argparse.ArgumentParser, what: str) -> None:
        p.add_argument("--stack", "-s", required=True, help=what)

    def bucket_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--bucket", required=True, metavar="URI", help="s3://bucket[/prefix] or gs://bucket[/prefix]")
        p.add_argument("--endpoint-url", help="object storage endpoint (default: AWS, or GCS for gs://)")
        p.add_argument("--workers", type=int, default=8, help="parallel uploads (default 8)")

    def key_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--keep-published", action="store_true",
                       help="after a scheduled targets key rotation (never after a leak): re-sign what the "
                            "earlier targets key signed, as it is")
        for role in ("targets", "online"):
            p.add_argument(f"--{role}-key-file", help=f"PEM of the {role} key (default: $TFPLAT_EDGE_{role.upper()}_KEY"
                                                      f"_FILE or $TFPLAT_EDGE_{role.upper()}_KEY); a stack with "
                                                      f"signing.{role}.kms_key signs in KMS instead")

    p = cmds.add_parser("build", help="convert, measure and gate the TFLite variants of one version")
    model_arg(p)
    p.add_argument("--saved-model", required=True, metavar="LOCATION",
                   help="one SavedModel version: a local dir, s3://bucket/prefix/<version> or gs://...")
    p.add_argument("--version", type=int, help="model version (default: the number --saved-model ends with)")
    p.add_argument("--out", default=DEFAULT_BUILD_ROOT, help=f"build folder (default {DEFAULT_BUILD_ROOT})")
    p.add_argument("--samples", help="sample .npz (default: the model's edge.samples)")
    p.set_defaults(func=c.cmd_build)

    p = cmds.add_parser("publish", help="upload target files, then signed metadata (timestamp last)")
    model_arg(p)
    stack_arg(p, "stack whose tfplat:edge config (keys, channels) drives the repository")
    bucket_args(p)
    p.add_argument("--build", default=DEFAULT_BUILD_ROOT, help=f"build folder (default {DEFAULT_BUILD_ROOT})")
    p.add_argument("--version", type=int, action="append", default=[],
                   help="also publish this built version (no channel points at it yet); repeatable")
    p.add_argument("--replace", action="store_true", help="overwrite a published version whose content differs")
    key_args(p)
    p.set_defaults(func=c.cmd_publish)

    p = cmds.add_parser("refresh", help="re-sign metadata that is due (the timestamp above all): the scheduled job")
    stack_arg(p, "stack whose repository to refresh")
    bucket_args(p)
    key_args(p)
    p.set_defaults(func=c.cmd_refresh)

    p = cmds.add_parser("keygen", help="print a new key pair for a TUF role")
    p.add_argument("--role", required=True, choices=("root", "targets", "online"), help="the role the key is for")
    p.add_argument("--name", default="", help="root keys: the key holder's name in signing.root.keys")
    p.add_argument("--algorithm", default="ed25519", choices=("ed25519", "ecdsa-p256"), help="default ed25519")
    p.add_argument("--out", help="write the private key (PEM) to this new file (mode 600) instead of stdout")
    p.add_argument("--encrypt", action="store_true", help="protect the private key with a passphrase (asked)")
    p.set_defaults(func=k.cmd_keygen)

    root = cmds.add_parser("root", help="the root ceremony: draft, sign and check root metadata")
    rcmds = root.add_subparsers(dest="root_command", required=True, metavar="ROOT_COMMAND")
    p = rcmds.add_parser("draft", help="write the next root version from the stack config, for signing")
    stack_arg(p, "stack whose root to draft")
    p.add_argument("--force", action="store_true", help="draft a new version even if nothing changed (renewal)")
    p.set_defaults(func=k.cmd_root_draft)
    p = rcmds.add_parser("sign", help="sign a root version with one offline root key")
    stack_arg(p, "stack whose root to sign")
    p.add_argument("--key-file", required=True, help="your root key (PEM; asked for its passphrase if encrypted)")
    p.add_argument("--version", type=int, help="root version (default: the newest)")
    p.set_defaults(func=k.cmd_root_sign)
    p = rcmds.add_parser("status", help="every root version: who signed, who still has to, expiry")
    stack_arg(p, "stack whose roots to show")
    p.add_argument("--check", action="store_true", help="exit 1 if a version is unsigned or the newest expires soon")
    p.set_defaults(func=k.cmd_root_status)

    p = cmds.add_parser("migrate", help="have the pre-TUF key sign the stack's root once, for devices that "
                                        "only trust that key (legacy/tuf-root.json)")
    stack_arg(p, "stack whose root to hand to legacy devices")
    bucket_args(p)
    p.add_argument("--legacy-key-file", help="the legacy key's PEM (default: $TFPLAT_EDGE_LEGACY_KEY_FILE or "
                                             "$TFPLAT_EDGE_LEGACY_KEY); signing.legacy.kms_key signs in KMS")
    p.add_argument("--force", action="store_true", help="replace a bootstrap document that holds another root")
    p.set_defaults(func=k.cmd_migrate)

    p = cmds.add_parser("fetch", help="device client demo: follow a channel, verify, keep last known good")
    model_arg(p)
    p.add_argument("--base-url", required=True, help="CDN or bucket URL the repository starts at")
    p.add_argument("--device-id", required=True, help="decides (by hash) whether this device follows canary")
    p.add_argument("--store", required=True, help="local folder for models, metadata and state")
    trust_group = p.add_mutually_exclusive_group(required=True)
    trust_group.add_argument("--trusted-root", metavar="FILE", help="the root the device ships with")
    trust_group.add_argument("--stack", help="ship the newest signed root of this stack (edge/roots/<stack>/)")
    trust_group.add_argument("--legacy-key", action="append", metavar="KEY_ID=BASE64",
                             help="migrate: the pre-TUF key the device pins (repeatable); needs --environment")
    p.add_argument("--environment", help="the device's environment (default: the one its root names)")
    p.add_argument("--prefer", default="int8,float16,dynamic_range,float32",
                   help="variants this device runs, best first (default int8,float16,dynamic_range,float32)")
    p.add_argument("--url-token-file", help="Cloud CDN signed URL prefix token to append to every request "
                                            "(default: $TFPLAT_EDGE_URL_TOKEN; see edge sign-url-prefix)")
    p.add_argument("--ca-file", help="CA certificates to trust for https (default: the system's)")
    p.add_argument("--deadline", type=float, default=600.0, help="seconds one update may take (default 600)")
    p.set_defaults(func=c.cmd_fetch)

    p = cmds.add_parser("sign-url-prefix", help="mint a Cloud CDN signed URL prefix token for devices "
                                                "(key from a file or the environment, never the command line)")
    p.add_argument("--prefix", required=True, help="URL prefix the token admits, e.g. https://edge.example.com/")
    p.add_argument("--key-name", required=True, help="the backend bucket's URL-signing key name "
                                                     "(tfplat names it tfplat-<stack>-edge-key)")
    p.add_argument("--key-file", help="file holding the key (default: $TFPLAT_CDN_URL_SIGNING_KEY_FILE or "
                                      "$TFPLAT_CDN_URL_SIGNING_KEY)")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--expires-in", default="1d", help="lifetime: seconds, or a number with s/m/h/d (default 1d)")
    when.add_argument("--expires-at", type=int, help="expiry in unix seconds")
    p.set_defaults(func=c.cmd_sign_url_prefix)
