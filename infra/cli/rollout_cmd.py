"""Runbook commands: stage, canary, switch, rollback, retire, status.

Each edits stacks/Pulumi.<stack>.yaml in place (comments and key order kept), but only
after the step passes the rollout rules and the edited file passes the full loader; a
refused step prints why, exits 2 and changes nothing. Applying is a separate, reviewed
step: `make plan STACK=<s>` / `tfplat diff`, then `pulumi up -s <s>`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
import os
from pathlib import Path
import tempfile
from typing import Any

from infra.config.errors import ConfigError, ConfigIssue, did_you_mean, one_of
from infra.config.loader import LoadedConfig, available_stacks, load, project_root, stack_file
from infra.config.yamlio import edit_yaml
from infra.plan.rollout import Rollout, RolloutError, canary, retire, rollback, stage, switch

Step = Callable[[Rollout], Rollout]


def _issue(loaded: LoadedConfig, model: str, field: str, message: str, hint: str, *,
           value: object = None) -> ConfigIssue:
    path = f"config.tfplat:models.{model}" + (f".{field}" if field else "")
    return ConfigIssue(file=loaded.stack.file, path=path, message=message, hint=hint, value=value)


def _write_rollout(doc: Any, model: str, before: Rollout, after: Rollout) -> None:
    entry = doc["config"]["tfplat:models"][model]
    for color in ("blue", "green"):
        version = after.blue if color == "blue" else after.green
        if version is None:
            if color in entry:
                del entry[color]
        elif color not in entry:
            # Keep the file's natural order: colors before `live`.
            keys = list(entry)
            pos = keys.index("live") if "live" in keys else len(keys)
            if color == "green" and "blue" in keys:
                pos = min(pos, keys.index("blue") + 1)
            entry.insert(pos, color, version)
        elif version != (before.blue if color == "blue" else before.green):
            entry[color] = version
    entry["live"] = after.live
    if after.canary_percent or "canary_percent" in entry:
        entry["canary_percent"] = after.canary_percent


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


Preflight = Callable[[LoadedConfig, Rollout], ConfigIssue | None]


def apply_step(root: Path, stack: str, model: str, step: Step, *,
               preflight: Preflight | None = None) -> tuple[Rollout, Rollout]:
    """Validate, compute, re-validate the edited file, then write it. Raises ConfigError."""
    loaded = load(root, stack)
    if model not in loaded.stack.models:
        known = sorted(loaded.stack.models)
        raise ConfigError([ConfigIssue(
            file=loaded.stack.file, path="config.tfplat:models", value=model,
            message=f"model {model} is not deployed in stack {stack}",
            hint=f"use one of: {one_of(known)}{did_you_mean(model, known)}; to add it, write "
                 f"tfplat:models.{model}: {{blue: <version>, live: blue}} (see docs/runbooks/add-a-model.md)")])
    before = Rollout.of(loaded.stack.models[model])
    try:
        after = step(before)
    except RolloutError as err:
        raise ConfigError([_issue(loaded, model, err.field, err.message, err.hint, value=err.value)]) from None
    if after == before:
        return before, after  # nothing to change; the file is left as it is
    if preflight is not None:
        problem = preflight(loaded, after)
        if problem is not None:
            raise ConfigError([problem])
    path = stack_file(root, stack)
    text = edit_yaml(path, lambda doc: _write_rollout(doc, model, before, after))
    load(root, stack, stack_text=text)  # the edited file must pass every check
    _atomic_write(path, text)
    return before, after


def _stage_preflight(model: str, version: int, endpoint: str | None) -> Preflight:
    def check(loaded: LoadedConfig, _after: Rollout) -> ConfigIssue | None:
        from infra.plan.cluster import model_bucket_name
        from infra.preflight import check_version

        spec = loaded.models[model]
        bucket = spec.artifact.bucket or model_bucket_name(loaded.stack)
        result = check_version(cloud=loaded.stack.cloud, region=loaded.stack.region, bucket=bucket,
                               prefix=spec.artifact.prefix, version=version, endpoint_url=endpoint)
        if result.ok:
            print(f"preflight: {result.uri} exists")
            return None
        return ConfigIssue(file=loaded.stack.file, path=f"config.tfplat:models.{model}", value=version,
                           message=f"preflight failed: {result.message}",
                           hint=result.hint)
    return check


def _report(stack: str, model: str, before: Rollout, after: Rollout) -> None:
    if before == after:
        print(f"{model} on {stack}: already {after.describe()}; nothing to change")
        return
    print(f"{model} on {stack}: {before.describe()}  ->  {after.describe()}")
    print(f"updated stacks/Pulumi.{stack}.yaml. Review with `make plan STACK={stack}` or "
          f"`tfplat diff --stack {stack}`, then apply with `pulumi up -s {stack}`.")


def _run_step(args: argparse.Namespace, step: Step, preflight: Any = None) -> int:
    before, after = apply_step(project_root(), args.stack, args.model, step, preflight=preflight)
    _report(args.stack, args.model, before, after)
    return 0


def _status(args: argparse.Namespace) -> int:
    root = project_root()
    stacks = [args.stack] if args.stack else available_stacks(root)
    rows = [("stack", "model", "blue", "green", "live", "canary", "traffic")]
    for stack in stacks:
        loaded = load(root, stack)
        for name, spec in loaded.stack.models.items():
            r = Rollout.of(spec)
            traffic = " ".join(f"{c} {w}%" for c, w in sorted(r.weights().items()) if w)
            rows.append((stack, name, "-" if r.blue is None else f"v{r.blue}",
                         "-" if r.green is None else f"v{r.green}", r.live,
                         f"{r.canary_percent}%" if r.canary_percent else "-", traffic))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    print("\n(desired state from the stack files; the cluster follows after `pulumi up`)")
    return 0


def register(sub: Any) -> None:
    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(name, help=help_text)
        p.add_argument("model", help="model name (models/<model>.yaml)")
        p.add_argument("--stack", "-s", required=True, help="stack whose file to edit")
        return p

    p = add("stage", "load a version into the idle color (no traffic moves)")
    p.add_argument("version", type=int, help="SavedModel version number")
    p.add_argument("--skip-preflight", action="store_true", help="do not check the bucket for the version")
    p.add_argument("--endpoint-url", help="S3 API endpoint (default: AWS S3, or storage.googleapis.com on GCP)")
    p.set_defaults(func=lambda a: _run_step(
        a, lambda r: stage(r, a.version),
        None if a.skip_preflight else _stage_preflight(a.model, a.version, a.endpoint_url)))

    p = add("canary", "send PERCENT of traffic to the idle color (0 ends the canary)")
    p.add_argument("percent", type=int, help="0-100")
    p.set_defaults(func=lambda a: _run_step(a, lambda r: canary(r, a.percent)))

    add("switch", "make the idle color live (the old one stays up for rollback)").set_defaults(
        func=lambda a: _run_step(a, switch))
    add("rollback", "end a canary, or switch back to the previous color").set_defaults(
        func=lambda a: _run_step(a, rollback))
    add("retire", "remove the idle color's version (after a switch has settled)").set_defaults(
        func=lambda a: _run_step(a, retire))

    p = sub.add_parser("status", help="blue/green versions, live color and traffic per model")
    p.add_argument("--stack", "-s", help="one stack (default: all)")
    p.set_defaults(func=_status)
