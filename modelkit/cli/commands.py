"""The model subcommands of tfplat-model (edge ones: modelkit/cli/edge_cmds.py). TensorFlow is
imported only by those that run models."""

from __future__ import annotations

import argparse
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
