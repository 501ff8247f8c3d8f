"""Runbook commands: stage, canary, switch, rollback, retire, status.

Each edits stacks/Pulumi.<stack>.yaml in place (comments and key order kept), but only
after the step passes the rollout rules and the edited file passes the full loader; a
refused step prints why, exits 2 and changes nothing. Applying is a separate, reviewed
step: `make plan STACK=<s>` / `tfplat diff`, then `pulumi up -s <s>`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
import sys
from typing import Any

from infra import atomic
from infra.cli.committed import committed, models_of_doc, rollout_of
from infra.cli.scaling_view import HEADER, print_table, scaling_rows
from infra.config.errors import ConfigError, ConfigIssue, did_you_mean, one_of
from infra.config.loader import LoadedConfig, available_stacks, load, project_root, stack_file
from infra.config.yamlio import SharedNodeError, YamlDoc, edit_yaml, format_users, parse_yaml, read_yaml, unshare
from infra.plan.guards import StepLimits, change_problems
from infra.rules.rollout import Rollout, RolloutError, canary, retire, rollback, stage, switch

Step = Callable[[Rollout], Rollout]


def _issue(loaded: LoadedConfig, model: str, field: str, message: str, hint: str, *,
           value: object = None, line: int | None = None) -> ConfigIssue:
    path = f"config.tfplat:models.{model}" + (f".{field}" if field else "")
    return ConfigIssue(file=loaded.stack.file, path=path, message=message, hint=hint, value=value, line=line)


def _write_rollout(doc: Any, model: str, before: Rollout, after: Rollout) -> list[str]:
    notes = []
    note = unshare(doc, ("config", "tfplat:models", model))
    if note:
        notes.append(f"{model}: {note}")
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
    if entry.get("live") != after.live:
        entry["live"] = after.live
    if after.canary_percent or "canary_percent" in entry:
        entry["canary_percent"] = after.canary_percent
    return notes


def _edit_entry(doc: Any, model: str, before: Rollout, after: Rollout, entry_edit: EntryEdit | None) -> list[str]:
    notes = _write_rollout(doc, model, before, after)
    if entry_edit is not None:
        entry_edit(doc["config"]["tfplat:models"][model])
    return notes


def _plain(text: str, display: str) -> YamlDoc:
    doc, issues = parse_yaml(text.replace("\r\n", "\n"), display)
    if doc is None:
        raise ConfigError(issues)
    return doc


def _only_model_changed(before: YamlDoc, after: YamlDoc, model: str) -> bool:
    """The edit changed the model's entry and nothing else (aliases and merge keys expanded)."""
    def rest(doc: YamlDoc) -> tuple[Any, dict[str, Any]]:
        data = dict(doc.data)
        config = dict(data.get("config", {}))
        models = dict(config.pop("tfplat:models", {}))
        models.pop(model, None)
        data["config"] = config
        return data, models
    return rest(before) == rest(after)


Preflight = Callable[[LoadedConfig, Rollout], ConfigIssue | None]
#: A further edit of the model's entry in the same change (the release engine writes and
#: clears tfplat:models.<model>.release_in_progress with it).
EntryEdit = Callable[[Any], None]


@dataclass(frozen=True)
class StepResult:
    before: Rollout
    after: Rollout
    written: Path | None  # absolute path of the stack file written; None: nothing to change
    notes: tuple[str, ...] = ()


def guard_change(loaded: LoadedConfig, path: Path, model: str, current: Rollout,
                 after: Rollout) -> tuple[list[ConfigIssue], list[str]]:
    """The change guards for taking `model` to `after`: (refusals, notes). Compares with the
    stack file as last committed (infra.cli.committed); outside git, with the file as it is.
    The release engine calls this too."""
    head = committed(path)
    limits = StepLimits.for_stack(loaded.stack.environment, loaded.stack.rollout.max_canary_step_percent)
    notes = []
    if head.text is None:
        base: Rollout | None = current
        notes.append(f"{head.note}, so tfplat cannot tell whether {loaded.stack.file} already holds a step "
                     "that is not applied yet: apply each step (pulumi up) before taking the next")
    else:
        base = head.rollout(model)
    issues = []
    for p in change_problems(base, after, limits):
        since = "" if head.text is None or base is None else f" (last commit: {base.describe()})"
        issues.append(_issue(loaded, model, p.field, p.message + since, p.hint, value=p.value))
    return issues, notes


def apply_step(root: Path, stack: str, model: str, step: Step, *,
               preflight: Preflight | None = None, entry_edit: EntryEdit | None = None) -> StepResult:
    """Validate, compute, guard, re-validate the edited file, then write it. Raises ConfigError.
    `entry_edit` changes more of the model's entry in the same edit (even with no step)."""
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
    if after == before and entry_edit is None:
        return StepResult(before, after, None)  # nothing to change; the file is left as it is
    path = stack_file(root, stack)
    refusals, notes = guard_change(loaded, path, model, before, after)
    if refusals:
        raise ConfigError(refusals)
    if preflight is not None:
        problem = preflight(loaded, after)
        if problem is not None:
            raise ConfigError([problem])
    display = loaded.stack.file
    file_doc, _ = read_yaml(path, display)
    line = file_doc.line_of(("config", "tfplat:models", model)) if file_doc is not None else None
    try:
        edit = edit_yaml(path, display, lambda doc: _edit_entry(doc, model, before, after, entry_edit))
    except SharedNodeError as err:
        users = format_users(err.users).replace("config.tfplat:models.", "")
        raise ConfigError([_issue(
            loaded, model, "", f"this entry is the YAML anchor &{err.anchor}, which {users} also use(s); "
            "editing it would change them too", line=line,
            hint=f"give {users} their own values (replace *{err.anchor} or <<: *{err.anchor} with the keys "
                 "themselves), or move the anchor to one of them, then run the command again")]) from None
    if edit.after == edit.before:
        return StepResult(before, after, None)
    old_doc, new_doc = _plain(edit.before, display), _plain(edit.after, display)
    if not _only_model_changed(old_doc, new_doc, model) or \
            rollout_of(new_doc.data["config"]["tfplat:models"].get(model)) != after:
        raise ConfigError([_issue(
            loaded, model, "", "tfplat cannot edit this entry without changing other values of the file "
            "(it shares YAML anchors, aliases or merge keys in a way the edit cannot separate)", line=line,
            hint=f"write {model}'s entry out in full (no anchors, aliases or merge keys), then run the command again")])
    load(root, stack, stack_text=edit.after.replace("\r\n", "\n"))  # the edited file must pass every check
    written = atomic.write_text(path, edit.after)
    return StepResult(before, after, written, (*notes, *edit.notes))


def stage_preflight(model: str, version: int) -> Preflight:
    def check(loaded: LoadedConfig, _after: Rollout) -> ConfigIssue | None:
        from infra.plan.cluster import model_bucket_name
        from infra.preflight import check_version

        spec = loaded.models[model]
        bucket = spec.artifact.bucket or model_bucket_name(loaded.stack)
        result = check_version(cloud=loaded.stack.cloud, region=loaded.stack.region, bucket=bucket,
                               prefix=spec.artifact.prefix, version=version,
                               project=loaded.stack.gcp.project if loaded.stack.gcp else None)
        if result.ok:
            print(f"preflight: {result.uri} exists")
            return memory_issue(loaded, model, version, result.size_bytes)
        return ConfigIssue(file=loaded.stack.file, path=f"config.tfplat:models.{model}", value=version,
                           message=f"preflight failed: {result.message}",
                           hint=result.hint)
    return check


def memory_issue(loaded: LoadedConfig, model: str, version: int, size_bytes: int | None) -> ConfigIssue | None:
    """Will the version load within its container's memory limit? A version needs its SavedModel
    size x the reload factor, plus runtime and warmup (infra.rules.scaling.version_memory)."""
    from infra.rules import scaling
    from infra.rules.quantity import memory_bytes, with_headroom

    if size_bytes is None:
        return None
    res = loaded.models[model].serving.resources
    limit = memory_bytes(with_headroom(res.memory, res.memory_headroom_percent))
    need = scaling.version_memory(size_bytes, limit)
    gib = 2**30
    print(f"preflight: v{version} is {size_bytes / gib:.2f} GiB; loading it needs {need.need_bytes / gib:.2f} GiB "
          f"of the {limit / gib:.2f} GiB limit")
    if need.fits:
        return None
    memory = scaling.memory_to_fit(need.need_bytes, res.memory_headroom_percent)
    headroom = scaling.headroom_to_fit(need.need_bytes, memory_bytes(res.memory))
    raise_headroom = f", or memory_headroom_percent to {headroom}" if headroom <= 300 else ""
    return ConfigIssue(
        file=f"models/{model}.yaml", path="serving.resources.memory", value=res.memory,
        message=f"v{version} cannot load within its memory limit: TF Serving needs {need.need_bytes / gib:.2f} GiB "
                f"while it loads ({scaling.RELOAD_FACTOR:g} x the {size_bytes / gib:.2f} GiB SavedModel + "
                f"{scaling.RUNTIME_AND_WARMUP_BYTES // 2**20} MiB runtime and warmup), the container's limit is "
                f"{limit / gib:.2f} GiB ({res.memory} + {res.memory_headroom_percent}% headroom)",
        hint=f"raise serving.resources.memory to {memory // 2**20}Mi{raise_headroom} in models/{model}.yaml "
             "(and check the pool's machines still hold the pod: tfplat validate)")


def _report(stack: str, model: str, result: StepResult) -> None:
    if result.written is None:
        print(f"{model} on {stack}: already {result.after.describe()}; nothing to change")
        return
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"{model} on {stack}: {result.before.describe()}  ->  {result.after.describe()}")
    print(f"wrote {result.written}\nReview with `make plan STACK={stack}` or "
          f"`tfplat diff --stack {stack}`, commit, then apply with `pulumi up -s {stack}`.")


def _run_step(args: argparse.Namespace, step: Step, preflight: Any = None) -> int:
    result = apply_step(project_root(), args.stack, args.model, step, preflight=preflight)
    _report(args.stack, args.model, result)
    return 0


def _row(stack: str, name: str, r: Rollout | None, flag: str) -> tuple[str, ...]:
    if r is None:
        return (stack, name, "?", "?", "?", "?", "?", flag)
    traffic = " ".join(f"{c} {w}%" for c, w in sorted(r.weights().items()) if w)
    return (stack, name, "-" if r.blue is None else f"v{r.blue}", "-" if r.green is None else f"v{r.green}",
            r.live, f"{r.canary_percent}%" if r.canary_percent else "-", traffic, flag)


def _mentions(issue: ConfigIssue, model: str) -> bool:
    return (issue.file == f"models/{model}.yaml" or issue.path.startswith(f"config.tfplat:models.{model}")
            or f"models/{model}.yaml" in issue.message)


def _status(args: argparse.Namespace) -> int:
    """The desired state of every model. A read-only view, needed most during an incident,
    so a broken file never hides the rest: rows that could not be checked are flagged and
    the problems listed after the table (exit status 1)."""
    root = project_root()
    stacks = [args.stack] if args.stack else available_stacks(root)
    rows: list[tuple[str, ...]] = [("stack", "model", "blue", "green", "live", "canary", "traffic", "")]
    scaling: list[tuple[str, ...]] = [HEADER]
    problems: list[ConfigIssue] = []
    for stack in stacks:
        try:
            loaded = load(root, stack)
        except ConfigError as err:
            problems.extend(i for i in err.issues if i not in problems)
            doc, _ = read_yaml(stack_file(root, stack), f"stacks/Pulumi.{stack}.yaml")
            if doc is None:
                rows.append(_row(stack, "(stack file unreadable)", None, "! see below"))
                continue
            for name, entry in sorted(models_of_doc(doc).items()):
                bad = any(_mentions(i, name) for i in err.issues)
                rows.append(_row(stack, name, rollout_of(entry), "! see below" if bad else "(unchecked)"))
            continue
        for name, spec in loaded.stack.models.items():
            marker = spec.release_in_progress
            rows.append(_row(stack, name, Rollout.of(spec),
                             f"release of v{marker.version} in progress" if marker else ""))
        scaling += scaling_rows(stack, loaded)
    print_table(rows)
    if len(scaling) > 1:
        print("\nScaling (KEDA, per color; docs/scaling.md):")
        print_table(scaling)
    print("\n(desired state from the stack files; the cluster follows after `pulumi up`)")
    if problems:
        print(f"\n{ConfigError(problems).render()}\n"
              "rows marked ! or (unchecked) are read from the stack file as written, without the checks; "
              "`tfplat validate` lists the same problems", file=sys.stderr)
        return 1
    return 0


def register(sub: Any) -> None:
    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(name, help=help_text)
        p.add_argument("model", help="model name (models/<model>.yaml)")
        p.add_argument("--stack", "-s", required=True, help="stack whose file to edit")
        return p

    p = add("stage", "load a version into the idle color (no traffic moves)")
    p.add_argument("version", type=int, help="SavedModel version number")
    p.add_argument("--skip-preflight", action="store_true",
                   help="do not check the bucket for the version (the check uses gcloud application default "
                        "credentials on GCP, the AWS credential chain on AWS)")
    p.set_defaults(func=lambda a: _run_step(
        a, lambda r: stage(r, a.version),
        None if a.skip_preflight else stage_preflight(a.model, a.version)))

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
