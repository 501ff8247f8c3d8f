"""`tfplat-model edge keygen`, `edge root draft|sign|status` (the root ceremony) and `edge migrate`."""

from __future__ import annotations

import argparse
import getpass
import os
from pathlib import Path
import sys

from modelkit.errors import UserError

EXIT_OK, EXIT_FAIL = 0, 1
ROOT_WARN_DAYS = 30


def cmd_keygen(args: argparse.Namespace) -> int:
    from modelkit.edge import keys

    passphrase = None
    if args.encrypt:
        passphrase = getpass.getpass("passphrase for the new key: ").encode()
        if not passphrase or passphrase != getpass.getpass("again: ").encode():
            raise UserError.one(file="(terminal)", field="passphrase", message="empty, or the two differ",
                                fix="run keygen again and type the same passphrase twice")
    pair = keys.generate(args.algorithm, passphrase)
    role, name = args.role, args.name or args.role
    if args.out:
        out = Path(args.out)
        try:
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never over an existing key
        except OSError as exc:
            raise UserError.one(file=args.out, field="--out", message=f"cannot create the key file ({exc.strerror})",
                                fix="name a new file (keygen never overwrites one)") from exc
        with os.fdopen(fd, "w") as fh:
            fh.write(pair.private_pem)
    where = f"the stack's signing.root.keys.{name}" if role == "root" else f"signing.{role}.public_key"
    print(f"# A new {args.algorithm} key for the {role} role. Its public key goes into {where}:")
    if role == "root":
        print(f"#   pulumi config set --path 'tfplat:edge.signing.root.keys.{name}' '{pair.public_b64}' -s <stack>")
        print("# Keep the private key OFFLINE (an encrypted USB stick or a hardware token, never a CI machine);")
        print("# it only signs root metadata in a ceremony: docs/runbooks/edge-root-ceremony.md.")
    else:
        print(f"#   pulumi config set --path 'tfplat:edge.signing.{role}.public_key' '{pair.public_b64}' -s <stack>")
        print(f"#   pulumi config set --secret --path 'tfplat:edge.signing.{role}.private_key' -s <stack> < <pem file>")
        print("# then draft and sign a new root that names it (docs/runbooks/rotate-edge-signing-key.md).")
    print(f"public_key: {pair.public_b64}")
    if not args.out:
        print(pair.private_pem, end="")
    return EXIT_OK


def cmd_root_draft(args: argparse.Namespace) -> int:
    from modelkit.config import load_stack, project_root
    from modelkit.edge import trust

    stack = load_stack(args.stack)
    folder = trust.roots_dir(project_root(), args.stack)
    states = trust.status(trust.load_roots(folder))
    complete = [f for f, st in zip(trust.load_roots(folder), states, strict=True) if st.complete]
    previous = complete[-1].md.signed if complete else None
    now = trust.now_utc()
    desired = trust.desired_root(stack.edge, stack=stack.name, environment=stack.environment, previous=previous,
                                 now=now, stack_file=stack.file)
    path = trust.draft(folder, desired, now=now, force=args.force)
    if path is None:
        print(f"root v{previous.version if previous else 0} already names these keys; nothing to draft "
              "(--force drafts a renewal)")
        return EXIT_OK
    print(f"wrote {path}: {len(desired.roles['root'].keyids)} root keys, threshold {desired.roles['root'].threshold}, "
          f"expires {desired.expires:%Y-%m-%d}")
    _print_status(trust.status(trust.load_roots(folder))[-1])
    print(f"next: each root key holder runs `tfplat-model edge root sign --stack {args.stack} --key-file <key>`; "
          "commit the file when it is complete")
    return EXIT_OK


def cmd_root_sign(args: argparse.Namespace) -> int:
    from modelkit.config import project_root
    from modelkit.edge import keys, trust

    folder = trust.roots_dir(project_root(), args.stack)
    files = trust.load_roots(folder)
    if not files:
        raise UserError.one(file=str(folder), field="", message="no root to sign",
                            fix=f"draft one first: tfplat-model edge root draft --stack {args.stack}")
    target = next((f for f in files if f.version == args.version), None) if args.version else files[-1]
    if target is None:
        raise UserError.one(file=str(folder), field="--version", value=args.version, message="no such root version",
                            fix=f"use one of {[f.version for f in files]}")
    signer = keys.load_signer(keys.read_key_file(args.key_file), args.key_file, ask=sys.stdin.isatty())
    _print_status(trust.sign(target.path, signer))
    return EXIT_OK


def _print_status(st: object) -> None:
    from modelkit.edge.trust import RootStatus

    assert isinstance(st, RootStatus)
    state = "complete" if st.complete else f"needs {st.needs}"
    print(f"root v{st.version}: signed by {', '.join(st.signed) or 'nobody yet'}; {state}; "
          f"expires {st.expires:%Y-%m-%d}")


def cmd_root_status(args: argparse.Namespace) -> int:
    from modelkit.config import project_root
    from modelkit.edge import trust

    folder = trust.roots_dir(project_root(), args.stack)
    states = trust.status(trust.load_roots(folder))
    if not states:
        print(f"no root for {args.stack} in {folder}: run the root ceremony (docs/runbooks/edge-root-ceremony.md)")
        return EXIT_FAIL if args.check else EXIT_OK
    for st in states:
        _print_status(st)
    newest = next((st for st in reversed(states) if st.complete), None)
    soon = newest is None or (newest.expires - trust.now_utc()).days < ROOT_WARN_DAYS
    return EXIT_FAIL if args.check and (soon or not states[-1].complete) else EXIT_OK


def cmd_migrate(args: argparse.Namespace) -> int:
    from modelkit.config import load_stack, project_root
    from modelkit.device.layout import BOOTSTRAP
    from modelkit.device.legacy import BOOTSTRAP_TYPE, LegacyError, open_envelope
    from modelkit.edge import legacy, trust
    from modelkit.edge.transfer import CACHE_SHORT, Bucket
    from modelkit.storage import parse_uri

    stack = load_stack(args.stack)
    if stack.edge.legacy is None:
        raise UserError.one(file=stack.file, field="config.tfplat:edge.signing.legacy", value=None,
                            message="no legacy key to migrate devices from",
                            fix="add the key devices pin today under signing.legacy "
                                "(docs/runbooks/edge-migrate-to-tuf.md)")
    root = trust.trusted_roots(trust.roots_dir(project_root(), args.stack), args.stack)[-1]
    signer = legacy.legacy_signer(stack.edge.legacy, stack.file, args.legacy_key_file)
    bucket = Bucket(parse_uri(args.bucket, what="--bucket"), args.endpoint_url)
    held = bucket.get(BOOTSTRAP)
    if held is not None:
        try:
            same = open_envelope(held, BOOTSTRAP_TYPE, stack.edge.legacy.public_keys).get("root") == root.raw.decode()
        except LegacyError:
            same = False
        if same:
            print(f"{args.bucket}/{BOOTSTRAP} already hands legacy devices root v{root.version}; nothing to do")
            return EXIT_OK
        if not args.force:
            raise UserError.one(file=bucket.key(BOOTSTRAP), field="", message="holds another bootstrap root",
                                fix="the legacy key signs the root once; pass --force only to repair a broken one")
    doc = legacy.bootstrap_document(root.raw, environment=stack.environment, stack=stack.name, signer=signer,
                                    key_id=stack.edge.legacy.key_id)
    bucket.put(BOOTSTRAP, doc, CACHE_SHORT)
    print(f"wrote {args.bucket}/{BOOTSTRAP}: root v{root.version} of {stack.name} ({stack.environment}), signed by "
          f"legacy key {stack.edge.legacy.key_id}; devices that only pin it now move to TUF on their next update")
    return EXIT_OK
