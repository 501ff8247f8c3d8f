"""tfplat: the project's command line (offline plan, diff, runbook steps).

Exit status: 0 success, 1 the plan or a check failed, 2 a mistake in config or usage.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
import sys

from infra.config.errors import ConfigError, ConfigIssue
from infra.config.loader import project_root

EXIT_OK, EXIT_FAIL, EXIT_CONFIG = 0, 1, 2


def _cmd_plan(args: argparse.Namespace) -> int:
    from infra.offline.crd_validate import CrdValidatorMissingError
    from infra.offline.plan import InvalidPlanError, PolicyViolationError, offline_plan
    from infra.offline.rulecheck import PromtoolMissingError

    root = project_root()
    out = Path(args.out)
    try:
        outcome = offline_plan(root, args.stack, out)
    except (CrdValidatorMissingError, PromtoolMissingError) as err:
        print(f"error: a validator the plan needs is missing: {err}\n"
              "    fix: run `make setup` (node/npm for tools/crd-validate; Debian package "
              "`prometheus` for promtool)", file=sys.stderr)
        return EXIT_FAIL
    except PolicyViolationError as err:
        print(f"error: stack {args.stack} breaks {len(err.violations)} mandatory polic"
              f"{'y' if len(err.violations) == 1 else 'ies'} (policies/, docs/policies.md); "
              f"files kept in {out / args.stack}:", file=sys.stderr)
        for v in err.violations:
            print(f"  {v.render()}", file=sys.stderr)
        return EXIT_FAIL
    except InvalidPlanError as err:
        print(f"error: rendered objects of stack {args.stack} fail the Kubernetes schema "
              f"(files kept in {out / args.stack} for inspection):", file=sys.stderr)
        for p in err.problems:
            print(f"  {p.render()}", file=sys.stderr)
        return EXIT_FAIL
    sys.stdout.write(outcome.summary)
    for note in outcome.notes:
        print(f"note: {note}")
    print(f"\nwrote {out / args.stack}/resources.json and "
          f"{sum(1 for f in outcome.files if f.startswith('manifests/'))} manifests "
          f"(validated against Kubernetes {outcome.plan.stack.cluster.version})")
    return EXIT_OK


def _cmd_validate(args: argparse.Namespace) -> int:
    from infra.config.loader import available_stacks, load

    root = project_root()
    stacks = args.stack or available_stacks(root)
    issues: list[ConfigIssue] = []
    for stack in stacks:
        try:
            load(root, stack)
            print(f"ok: {stack}")
        except ConfigError as err:
            issues.extend(i for i in err.issues if i not in issues)
    if issues:
        raise ConfigError(issues)
    return EXIT_OK


def _cmd_images_pin(args: argparse.Namespace) -> int:
    from infra.images_pin import PinError, pin

    try:
        results = pin(only=set(args.only) if args.only else None, write=not args.check)
    except PinError as err:
        print(f"error: {err}\n    fix: check network access to the registry, the repository and the tag "
              "in images/versions.yaml", file=sys.stderr)
        return EXIT_FAIL
    for r in results:
        state = ("would change" if args.check else "pinned") if r.changed else "unchanged"
        print(f"{r.key:<22} {r.ref}@{r.digest}  {state}")
    return EXIT_FAIL if args.check and any(r.changed for r in results) else EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tfplat", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("plan", help="offline plan of one stack: build/<stack>/resources.json and manifests/")
    p.add_argument("--stack", "-s", default="dev", help="stack name (stacks/Pulumi.<stack>.yaml); default dev")
    p.add_argument("--out", default="build", help="output folder (default build)")
    p.set_defaults(func=_cmd_plan)

    p = sub.add_parser("validate", help="check models/ and stack files (all stacks by default)")
    p.add_argument("--stack", "-s", action="append", help="only this stack (repeatable)")
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("images", help="image pins in images/versions.yaml")
    images = p.add_subparsers(dest="images_command", required=True, metavar="ACTION")
    p = images.add_parser("pin", help="resolve each tag's digest in its registry and write it to the file")
    p.add_argument("--only", action="append", help="only this key of images/versions.yaml (repeatable)")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if a digest is missing or stale")
    p.set_defaults(func=_cmd_images_pin)

    from infra.cli import diff_cmd, rollout_cmd

    diff_cmd.register(sub)
    rollout_cmd.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
        return code
    except ConfigError as err:
        print(err.render(), file=sys.stderr)
        print("nothing was changed", file=sys.stderr)
        return EXIT_CONFIG
    except BrokenPipeError:
        # Output piped into `head` and the like: stop quietly, as Unix tools do.
        sys.stderr.close()
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
