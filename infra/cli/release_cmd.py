"""`tfplat release MODEL VERSION --stack ENV`: ship a version by itself, judged on live metrics.

    tfplat release resnet50 9 --stack prod               # stage, Ready, 5%, 50%, switch, settle
    tfplat release resnet50 9 --stack prod --dry-run     # the policy, queries and steps; no change
    tfplat release resnet50 --stack prod --resume        # continue what the stack file records
    tfplat release resnet50 --stack prod --abort         # back to where the release started

Exit status: 0 released (or aborted on request), 1 rolled back or aborted by the analysis
(or a preflight that is not a config mistake failed; nothing changed), 2 a mistake in
config or usage (nothing changed), 3 the rollback itself failed (see the report: a human
must finish it), 130 interrupted (the stack file records where: --resume or --abort).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
import datetime as dt
import os
from pathlib import Path
import secrets
import signal
import sys
from typing import Any

from infra import atomic
from infra.cli.release_setup import metrics_source_for, preflight_metrics
from infra.cli.rollout_cmd import stage_preflight
from infra.config.errors import ConfigError, ConfigIssue
from infra.config.loader import LoadedConfig, load, project_root, stack_file
from infra.config.release_spec import ReleaseMarker
from infra.plan.monitoring.scope import FleetScope
from infra.plan.release_policy import ReleasePolicy, resolve
from infra.plan.stack import plan_stack
from infra.release import gitops, report
from infra.release.appliers import Applier, OfflineApplier, PulumiApplier
from infra.release.checks import release_issues
from infra.release.engine import Clock, Outcome, Release, SystemClock
from infra.release.journal import Journal, ReleaseLocked, locked, release_dir
from infra.release.metrics_source import MetricsSource
from infra.release.reading import Reader, queries
from infra.release.steps import Stepper
from infra.rules.rollout import MAX_VERSION, Rollout


def _issue(loaded: LoadedConfig, model: str, message: str, hint: str, value: object = None) -> ConfigIssue:
    return ConfigIssue(file=loaded.stack.file, path=f"config.tfplat:models.{model}", message=message, hint=hint,
                       value=value)


def _check(root: Path, args: argparse.Namespace) -> tuple[LoadedConfig, ReleasePolicy, ReleaseMarker]:
    """Config, policy and the release's marker (new or recorded); ConfigError (exit 2) on a mistake."""
    loaded = load(root, args.stack)
    # An abort needs no policy, so a broken one never blocks the way back.
    issues = [] if args.abort else release_issues(root, loaded)
    if issues:
        raise ConfigError(issues)
    model = args.model
    if model not in loaded.stack.models:
        raise ConfigError([ConfigIssue(file=loaded.stack.file, path="config.tfplat:models", value=model,
                                       message=f"model {model} is not deployed in stack {args.stack}",
                                       hint="add it first (docs/runbooks/add-a-model.md); a release ships a new "
                                            "version of a model the stack already serves")])
    spec = loaded.stack.models[model]
    r, recorded = Rollout.of(spec), spec.release_in_progress
    resume_cmd = f"tfplat release {model} --stack {args.stack}"
    if args.resume or args.abort:
        if recorded is None:
            raise ConfigError([_issue(loaded, model, f"no release of {model} is in progress in stack {args.stack} "
                                      "(release_in_progress is not set)", "start one: tfplat release MODEL VERSION "
                                      f"--stack {args.stack}")])
        if args.resume and recorded.rolling_back:
            raise ConfigError([_issue(loaded, model, f"the release of v{recorded.version} was rolling back "
                                      f"({recorded.rolling_back})", f"finish the rollback: {resume_cmd} --abort")])
        if args.version is not None and args.version != recorded.version:
            raise ConfigError([_issue(loaded, model, f"the release in progress ships v{recorded.version}, not "
                                      f"v{args.version}", f"{resume_cmd} --resume (or --abort)", args.version)])
        return loaded, resolve(loaded.stack, loaded.models[model]), recorded
    if recorded is not None:
        raise ConfigError([_issue(loaded, model, f"a release of {model} v{recorded.version} ({recorded.id}) is in "
                                  f"progress since {recorded.started}", f"{resume_cmd} --resume continues it, "
                                  f"{resume_cmd} --abort rolls it back", recorded.version)])
    version = args.version
    if version is None or not 1 <= version <= MAX_VERSION:
        raise ConfigError([_issue(loaded, model, "a release needs the SavedModel version to ship",
                                  f"tfplat release {model} <version> --stack {args.stack}", version)])
    if r.version(r.live) == version:
        raise ConfigError([_issue(loaded, model, f"v{version} is already live in {r.live}", "nothing to release",
                                  version)])
    if r.canary_percent:
        raise ConfigError([_issue(loaded, model, f"{r.idle} already takes a {r.canary_percent}% canary "
                                  "(a manual rollout is under way)", f"finish it (tfplat switch) or end it "
                                  f"(tfplat rollback {model} --stack {args.stack}) first", r.canary_percent)])
    now = dt.datetime.now(dt.UTC)
    marker = ReleaseMarker(id=f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}", version=version,
                           started=f"{now:%Y-%m-%dT%H:%M:%SZ}", from_blue=r.blue, from_green=r.green,
                           from_live=r.live)
    return loaded, resolve(loaded.stack, loaded.models[model]), marker


def _dry_run(loaded: LoadedConfig, policy: ReleasePolicy, marker: ReleaseMarker, scope: FleetScope,
             source: str) -> int:
    r = Rollout.of(loaded.stack.models[scope.model])
    new = r.idle
    print(f"tfplat release {scope.model} v{marker.version} on {loaded.stack.name} (dry run: nothing changes)")
    print(f"now: {r.describe()}; v{marker.version} goes to {new}; metrics: {source}\n")
    print(report.markdown([], policy).split("### Policy", 1)[1].split("### Steps", 1)[0].strip())
    print(f"\nsteps, each a commit of {loaded.stack.file} then an apply:")
    print(f"  stage v{marker.version} in {new}, wait until Ready (at most {policy.ready_timeout_s}s)")
    for p in policy.steps:
        print(f"  canary {p}%, then {policy.passes_per_step} passing intervals of {policy.analysis_interval_s}s")
    print(f"  switch to {new}" + (f", then {policy.passes_to_settle} passing intervals (settle)"
                                  if policy.passes_to_settle else ""))
    print(f"\nqueries of one interval ({new}; the live color's are the same with color=\"{r.live}\"):")
    for name, expr in queries(policy, scope, new).items():
        print(f"  {name}: {expr}")
    return 0


def _applier(args: argparse.Namespace, root: Path) -> Applier:
    if args.applier == "offline":
        return OfflineApplier(root / "build" / "releases" / args.stack / "applied")
    return PulumiApplier(on_output=lambda text: print(text, end=""))


@dataclass(frozen=True)
class Prepared:
    """A release whose config, policy and marker are checked (nothing changed yet)."""

    root: Path
    args: argparse.Namespace
    loaded: LoadedConfig
    policy: ReleasePolicy
    marker: ReleaseMarker
    scope: FleetScope
    source: MetricsSource

    @property
    def folder(self) -> Path:
        return release_dir(self.root, self.args.stack, self.args.model) / self.marker.id


def prepare(args: argparse.Namespace, root: Path, source: MetricsSource | None = None) -> Prepared:
    """Config, policy, marker and metrics source; ConfigError (exit 2) on any mistake."""
    loaded, policy, marker = _check(root, args)
    fleet = next(f for f in plan_stack(loaded).fleets if f.name == args.model)
    return Prepared(root=root, args=args, loaded=loaded, policy=policy, marker=marker, scope=FleetScope.of(fleet),
                    source=source or metrics_source_for(loaded, args.prometheus_url))


def preflight(p: Prepared, applier: Applier) -> str | None:
    """What must hold before the first change: a clean git checkout of the stack file, an
    applier that can apply, the version in the bucket, every query answered. ConfigError
    for a mistake in config; a message (exit 1, nothing changed) when something outside it
    is not ready."""
    args = p.args
    trouble = gitops.problems(p.root, stack_file(p.root, args.stack))
    if trouble:
        raise ConfigError([ConfigIssue(file=p.loaded.stack.file, path="", message=t,
                                       hint="run the release from a clean git checkout of the branch it deploys")
                           for t in trouble])
    unready = applier.problem(p.root, args.stack)
    if unready is not None:
        return unready
    r = Rollout.of(p.loaded.stack.models[args.model])
    if not (args.resume or args.abort or args.skip_preflight):
        problem = stage_preflight(args.model, p.marker.version)(p.loaded, r)
        if problem is not None:
            raise ConfigError([problem])
    if args.abort:
        return None  # a rollback needs no metrics
    return preflight_metrics(p.policy, p.scope, p.source, r, p.loaded)


def execute(p: Prepared, *, applier: Applier, clock: Clock, echo: Callable[[str], None] = print) -> Outcome:
    """Run (or resume, or abort) the release under its lock, journaled and reported."""
    args, policy = p.args, p.policy
    journal = Journal(p.folder)
    gates = {g.name: g for g in policy.gates}

    def log(kind: str, **data: Any) -> None:
        event = journal.write(kind, **data)
        echo(report.line(event, gates))
        text = report.markdown(journal.events(), policy)
        atomic.write_text(p.folder / "report.md", text)
        atomic.write_text(p.folder.parent / "report.md", text)  # the latest release's, for CI

    remote, _, branch = (args.push or "").partition("/")
    stepper = Stepper(root=p.root, stack=args.stack, model=args.model, release_id=p.marker.id,
                      version=p.marker.version, applier=applier, log=log,
                      push_to=(remote, branch) if args.push else None)
    release = Release(marker=p.marker, policy=policy, scope=p.scope, stepper=stepper,
                      reader=Reader(policy, p.scope, p.source), clock=clock, log=log)
    try:
        with locked(p.root, args.stack, args.model, p.marker.id):
            m = p.marker
            log("start", model=args.model, version=m.version, stack=args.stack, id=m.id,
                from_state=Rollout(blue=m.from_blue, green=m.from_green, live=m.from_live).describe(),
                source=p.source.description, applier=applier.name,
                mode="abort" if args.abort else "resume" if args.resume else "start")
            return _go(release, args)
    except ReleaseLocked as err:
        raise ConfigError([ConfigIssue(file=p.loaded.stack.file, path=f"config.tfplat:models.{args.model}",
                                       message=f"another release of {args.model} runs on this machine ({err.holder})",
                                       hint="wait for it to end; the lock goes with its process "
                                            f"(it is an flock on {err.path})")]) from None


def _run(args: argparse.Namespace) -> int:
    p = prepare(args, project_root())
    if args.dry_run:
        return _dry_run(p.loaded, p.policy, p.marker, p.scope, p.source.description)
    applier = _applier(args, p.root)
    failure = preflight(p, applier)
    if failure is not None:
        print(f"error: {failure}\nnothing was changed", file=sys.stderr)
        return 1
    previous = signal.signal(signal.SIGTERM, _interrupt)  # a cancelled CI job stops like Ctrl-C
    try:
        outcome = execute(p, applier=applier, clock=SystemClock(),
                          echo=lambda s: print(s, flush=True))
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(f"report: {p.folder / 'report.md'}")
    # An abort someone asked for is a success; one the analysis decided is not.
    return 0 if args.abort and outcome.status == "aborted" else outcome.exit_code


def _go(release: Release, args: argparse.Namespace) -> Outcome:
    if args.abort:
        return release.abort("aborted on request (tfplat release --abort)")
    return release.resume() if args.resume else release.start()


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "release", help="ship a version by itself: canary steps judged on live metrics, automatic rollback")
    p.add_argument("model", help="model name (models/<model>.yaml)")
    p.add_argument("version", nargs="?", type=int, help="SavedModel version to ship (not with --resume/--abort)")
    p.add_argument("--stack", "-s", required=True, help="stack to release in")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true", help="continue the release the stack file records")
    mode.add_argument("--abort", action="store_true", help="roll the recorded release back to where it started")
    mode.add_argument("--dry-run", action="store_true", help="print the policy, steps and queries; change nothing")
    p.add_argument("--prometheus-url", help="query this Prometheus-compatible URL instead of the stack's "
                                            "tfplat:release.metrics_source (e.g. a kubectl port-forward)")
    p.add_argument("--applier", choices=("pulumi", "offline"), default=os.environ.get("TFPLAT_RELEASE_APPLIER",
                                                                                     "pulumi"),
                   help="pulumi: pulumi up through the Automation API (default); offline: apply the offline plan "
                        "and record each state under build/releases/<stack>/applied/ (a rehearsal)")
    p.add_argument("--push", metavar="REMOTE/BRANCH", help="push each step's commit there (CI: origin/main)")
    p.add_argument("--skip-preflight", action="store_true", help="do not check the bucket for the version")
    p.set_defaults(func=_run)
