"""tfplat: the project's command line (offline plan, diff, runbook steps).

Exit status: 0 success, 1 the plan or a check failed, 2 a mistake in config or usage,
130 interrupted (Ctrl-C). Files are found from the current directory: the nearest folder
above it holding Pulumi.yaml is the project root (or $TFPLAT_ROOT).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
import sys

from infra.bounded_yaml import YamlFileError
from infra.config.errors import ConfigError, ConfigIssue
from infra.config.loader import other_checkout_note, project_root

EXIT_OK, EXIT_FAIL, EXIT_CONFIG, EXIT_INTERRUPTED = 0, 1, 2, 130


def plan_failure(err: BaseException, stack: str, out: Path) -> tuple[str, int] | None:
    """The message and exit status for an offline plan that failed in a known way (None:
    not one of those). Shared by `plan` and `diff`."""
    from infra.engines.chartstore import ChartSourceError
    from infra.engines.helm import HelmRenderError
    from infra.engines.tools import ToolMissingError
    from infra.offline.charts import ChartsUnavailableError
    from infra.offline.crd_validate import CrdValidatorMissingError
    from infra.offline.plan import InvalidPlanError, PolicyViolationError, ScanFindingsError
    from infra.offline.rulecheck import PromtoolMissingError

    if isinstance(err, (CrdValidatorMissingError, PromtoolMissingError, ToolMissingError)):
        return (f"error: a tool the plan needs is missing: {err}\n"
                "    fix: run `make setup` (node/npm for tools/crd-validate and tools/helm; Debian package "
                "`prometheus` for promtool; .venv-checkov for checkov)"), EXIT_FAIL
    if isinstance(err, (ChartSourceError, HelmRenderError)):
        return f"error: stack {stack}: {err}", EXIT_FAIL
    if isinstance(err, ChartsUnavailableError):
        lines = [f"error: stack {stack}: {len(err.unrendered)} Helm release(s) could not be rendered "
                 "and TFPLAT_REQUIRE_CHARTS=1 refuses that:", *(f"  {u}" for u in err.unrendered),
                 "    fix: set TFPLAT_CHART_MIRROR to a folder of chart archives, or allow helm pull to reach "
                 "the chart repositories (docs/charts.md)"]
        return "\n".join(lines), EXIT_FAIL
    if isinstance(err, ScanFindingsError):
        lines = [f"error: checkov finds {len(err.report.findings)} problem(s) in what stack {stack} deploys "
                 f"(files kept in {out / stack}):", *(f"  {f.render()}" for f in err.report.findings),
                 "    fix: change the values (infra/plan/...) or waive the check on that object with an "
                 "annotation `checkov.io/skip<N>: <CHECK>=<reason>` (docs/charts.md)"]
        return "\n".join(lines), EXIT_FAIL
    if isinstance(err, PolicyViolationError):
        lines = [f"error: stack {stack} breaks {len(err.violations)} mandatory polic"
                 f"{'y' if len(err.violations) == 1 else 'ies'} (policies/, docs/policies.md); "
                 f"files kept in {out / stack}:", *(f"  {v.render()}" for v in err.violations)]
        return "\n".join(lines), EXIT_FAIL
    if isinstance(err, InvalidPlanError):
        lines = [f"error: rendered objects of stack {stack} fail the Kubernetes schema "
                 f"(files kept in {out / stack} for inspection):", *(f"  {p.render()}" for p in err.problems)]
        return "\n".join(lines), EXIT_FAIL
    if isinstance(err, OSError) and err.filename is not None:
        return (f"error: cannot write the plan: {err.strerror} ({err.filename}); nothing was written\n"
                f"    fix: make {out} writable (or remove it), or pass --out <a writable folder>"), EXIT_CONFIG
    return None


def warn_notices(notices: Sequence[str]) -> None:
    """Config that still works but should change (a deprecated key): on stderr, never fatal."""
    for notice in notices:
        print(f"warning: {notice}", file=sys.stderr)


def _cmd_plan(args: argparse.Namespace) -> int:
    from infra.config.loader import load
    from infra.offline.plan import offline_plan
    from infra.release.checks import release_issues

    root = project_root()
    # build/ belongs at the project root wherever the command runs; an explicit --out is
    # taken relative to the current directory, as a path on a command line is.
    out = (Path(args.out) if args.out else root / "build").absolute()
    loaded = load(root, args.stack)
    warn_notices(loaded.notices)
    issues = release_issues(root, loaded)  # the release policy is config too
    if issues:
        raise ConfigError(issues)
    try:
        outcome = offline_plan(root, args.stack, out, scan=not args.no_scan)
    except Exception as err:
        known = plan_failure(err, args.stack, out)
        if known is None:
            raise
        print(known[0], file=sys.stderr)
        return known[1]
    sys.stdout.write(outcome.summary)
    for note in outcome.notes:
        print(f"note: {note}")
    charts = outcome.charts
    print(f"\nwrote {out / args.stack}/resources.json, "
          f"{sum(1 for f in outcome.files if f.startswith('manifests/'))} manifests in {out / args.stack}/manifests "
          f"and {sum(len(r.objects) for r in charts.rendered)} objects of {len(charts.rendered)} Helm release(s) "
          f"in charts/ (validated against Kubernetes {outcome.plan.stack.cluster.version}"
          + (f"; scanned: {outcome.scan.passed} checks passed, {len(outcome.scan.waivers)} waived)"
             if outcome.scan else "; not scanned)"))
    if charts.unrendered:
        print(f"WARNING: {len(charts.unrendered)} Helm release(s) NOT rendered, validated or scanned "
              "(no chart source): see UNRENDERED above", file=sys.stderr)
    return EXIT_OK


def _cmd_validate(args: argparse.Namespace) -> int:
    from infra.config.loader import available_stacks, load
    from infra.release.checks import release_issues

    root = project_root()
    stacks = args.stack or available_stacks(root)
    issues: list[ConfigIssue] = []
    for stack in stacks:
        try:
            loaded = load(root, stack)
            warn_notices(loaded.notices)
            found = release_issues(root, loaded)
            if found:
                raise ConfigError(found)
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
    if not args.check and any(r.changed for r in results):
        from infra.rules.images import VERSIONS_FILE

        print(f"wrote {VERSIONS_FILE}")
    return EXIT_FAIL if args.check and any(r.changed for r in results) else EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tfplat", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("plan", help="offline plan of one stack: build/<stack>/resources.json and manifests/")
    p.add_argument("--stack", "-s", default="dev", help="stack name (stacks/Pulumi.<stack>.yaml); default dev")
    p.add_argument("--out", help="output folder (default: build/ at the project root)")
    p.add_argument("--no-scan", action="store_true", help="skip the checkov scan of everything the stack deploys")
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

    from infra.cli import cis_cmd, diff_cmd, release_cmd, rollout_cmd, train_cmd

    cis_cmd.register(sub)
    diff_cmd.register(sub)
    rollout_cmd.register(sub)
    release_cmd.register(sub)
    train_cmd.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        root = project_root()
        note = other_checkout_note(root)
        if note:
            print(f"warning: {note}", file=sys.stderr)
        code: int = args.func(args)
        return code
    except ConfigError as err:
        print(err.render(), file=sys.stderr)
        print("nothing was changed", file=sys.stderr)
        return EXIT_CONFIG
    except YamlFileError as err:
        # images/versions.yaml or Pulumi.yaml (models and stacks report through ConfigError)
        print(f"1 configuration error:\n{err.render()}", file=sys.stderr)
        print("nothing was changed", file=sys.stderr)
        return EXIT_CONFIG
    except ValueError as err:
        from infra.rules.images import VersionPinError
        from policies.tfplat_policies.enforcement import TierConfigError  # not imported at start-up: 0.2 s

        if isinstance(err, VersionPinError):  # images/versions.yaml
            print(f"1 configuration error:\n{err}\n    fix: pin it in images/versions.yaml "
                  "(schemas/versions.schema.json, docs/charts.md)\nnothing was changed", file=sys.stderr)
            return EXIT_CONFIG
        if not isinstance(err, TierConfigError):
            raise
        print(f"error: {err}\n    fix: make it a JSON object of policy id -> enforcement level "
              "(docs/policies.md)\nnothing was changed", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        print("\ninterrupted; files are written whole or not at all", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # Output piped into `head` and the like: stop quietly, as Unix tools do.
        sys.stderr.close()
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
