"""tfplat-model: TensorFlow model tooling (inspect, warmup, samples) and edge TFLite distribution (edge ...).

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

    from modelkit.cli.edge_parser import add_edge

    add_edge(sub)
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
        print("interrupted: devices still see the last complete publish (the timestamp goes up last)",
              file=sys.stderr)
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
