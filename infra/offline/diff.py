"""Desired-state diff of two offline plans (resources.json documents), as Markdown.

What a pull-request comment shows to contributors without cloud secrets: resources added,
changed (with the input paths that changed), moved (a new URN with an alias to the old
one, so `pulumi up` keeps the resource) and removed, and per model the blue-green move in
words ("resnet50: live blue v7 -> green v8"), with a warning when the move would be unsafe
in one apply (the same guards as the rollout commands: infra.plan.guards). Resources are
matched by the engine's URNs (infra.offline.urns), whichever naming each document was
written with.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from infra.offline.urns import as_engine, renamed, takeovers
from infra.plan.guards import StepLimits, change_problems
from infra.rules.rollout import Color, Rollout

MAX_PATHS = 12
MARKER = "<!-- tfplat-diff:{stack} -->"


@dataclass
class StackDiff:
    stack: str
    added: list[dict[str, Any]] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)
    changed: list[tuple[dict[str, Any], list[str]]] = field(default_factory=list)
    moved: list[tuple[dict[str, Any], str, list[str]]] = field(default_factory=list)  # (entry, old URN, paths)
    rollouts: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.moved)


def changed_paths(before: Any, after: Any, prefix: str = "") -> Iterator[str]:
    """Dotted paths where two JSON values differ (leaves, or whole lists of unequal length)."""
    if isinstance(before, dict) and isinstance(after, dict):
        for key in sorted(set(before) | set(after)):
            sub = f"{prefix}.{key}" if prefix else str(key)
            if key not in before or key not in after:
                yield sub
            else:
                yield from changed_paths(before[key], after[key], sub)
    elif isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        for i, (b, a) in enumerate(zip(before, after, strict=True)):
            yield from changed_paths(b, a, f"{prefix}[{i}]")
    elif before != after:
        yield prefix or "(value)"


def _index(doc: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Entries by the engine's URN, whichever naming the document was written with."""
    return {e["urn"]: e for e in as_engine((doc or {}).get("resources", []))}


def _options(entry: Mapping[str, Any]) -> Any:
    # Aliases only say which old URN a resource takes over; they change nothing in the cloud.
    return {k: v for k, v in (entry.get("options") or {}).items() if k != "aliases"} or None


def _paths(b: Mapping[str, Any], a: Mapping[str, Any]) -> list[str]:
    paths = [f"inputs.{p}" for p in changed_paths(b.get("inputs"), a.get("inputs"))]
    for key in ("parent", "dependsOn", "provider"):
        if b.get(key) != a.get(key):
            paths.append(key)
    if _options(b) != _options(a):
        paths.append("options")
    return paths


def _rollout(entry: Mapping[str, Any] | None) -> Rollout | None:
    if not entry:
        return None
    versions = entry.get("versions", {})
    live: Color = entry["live"]
    weights = entry.get("weights", {})
    idle: Color = "green" if live == "blue" else "blue"
    return Rollout(blue=versions.get("blue"), green=versions.get("green"), live=live,
                   canary_percent=int(weights.get(idle, 0)))


def _v(version: int | None) -> str:
    return "nothing" if version is None else f"v{version}"


def describe_rollout(model: str, before: Rollout | None, after: Rollout | None) -> list[str]:
    """Sentences for one model's blue-green change ([] if unchanged)."""
    if before == after:
        return []
    if before is None:
        assert after is not None
        return [f"{model}: added, live {after.live} {_v(after.version(after.live))}"]
    if after is None:
        return [f"{model}: removed (was live {before.live} {_v(before.version(before.live))})"]
    out = []
    if before.live != after.live or before.version(before.live) != after.version(after.live):
        out.append(f"{model}: live {before.live} {_v(before.version(before.live))} -> "
                   f"{after.live} {_v(after.version(after.live))}")
    colors: tuple[Color, Color] = ("blue", "green")
    for color in colors:
        b, a = before.version(color), after.version(color)
        if b == a or color == after.live:
            continue
        if b is None:
            out.append(f"{model}: staged {color} {_v(a)}")
        elif a is None:
            out.append(f"{model}: retired {color} {_v(b)}")
        else:
            out.append(f"{model}: {color} {_v(b)} -> {_v(a)}")
    if before.canary_percent != after.canary_percent:
        out.append(f"{model}: canary {before.canary_percent}% -> {after.canary_percent}% "
                   f"to {after.idle} {_v(after.version(after.idle))}")
    return out


def unsafe_moves(before: Rollout | None, after: Rollout | None, limits: StepLimits) -> list[str]:
    """What the rollout commands would refuse about this move (infra.plan.guards), in words."""
    if after is None:
        return []
    out = [p.message for p in change_problems(before, after, limits)]
    if after.canary_percent >= 100:
        out.append(f"a canary of {after.canary_percent}% sends all gateway traffic to {after.idle} while the live "
                   f"Service and status still call {after.live} live; switch instead (tfplat switch)")
    return out


def diff_docs(stack: str, base: Mapping[str, Any] | None, head: Mapping[str, Any] | None,
              limits: StepLimits | None = None) -> StackDiff:
    """limits: the head stack's rollout step limits (default: prod's, the strictest)."""
    limits = limits or StepLimits.for_stack("prod")
    result = StackDiff(stack)
    old, new = _index(base), _index(head)
    moved = takeovers(new.values(), old)
    # Old entries under the URN that takes them over, so references to them compare equal.
    old = {e["urn"]: e for e in renamed(old.values(), {was: now for now, was in moved.items()})}
    for urn in sorted(set(new) - set(old)):
        result.added.append(new[urn])
    for urn in sorted(set(old) - set(new)):
        result.removed.append(old[urn])
    for urn in sorted(set(old) & set(new)):
        paths = _paths(old[urn], new[urn])
        if urn in moved:  # a new parent is what moved it
            result.moved.append((new[urn], moved[urn], [p for p in paths if p != "parent"]))
        elif paths:
            result.changed.append((new[urn], paths))
    models_b = (base or {}).get("outputs", {}).get("models", {})
    models_a = (head or {}).get("outputs", {}).get("models", {})
    for model in sorted(set(models_b) | set(models_a)):
        rb, ra = _rollout(models_b.get(model)), _rollout(models_a.get(model))
        result.rollouts += describe_rollout(model, rb, ra)
        result.warnings += [f"{model}: {p}" for p in unsafe_moves(rb, ra, limits)]
    return result


def _row(sign: str, r: Mapping[str, Any], detail: str = "") -> str:
    return f"| {sign} | `{r['name']}` | `{r['type']}` | {detail} |"


def to_markdown(d: StackDiff, *, base_label: str, head_label: str, note: str | None = None) -> str:
    counts = f"{len(d.added)} to add, {len(d.changed)} to change, {len(d.removed)} to remove"
    if d.moved:
        counts += f", {len(d.moved)} moved (aliased: kept, not replaced)"
    lines = [MARKER.format(stack=d.stack), f"### tfplat desired-state diff: stack `{d.stack}`", "",
             f"`{base_label}` -> `{head_label}`: **{'no changes' if d.empty else counts}**", ""]
    if note:
        lines += [f"> {note}", ""]
    if d.warnings:
        lines += ["**Unsafe in one apply:**", ""] + [f"- :warning: {w}" for w in d.warnings] + [""]
    if d.rollouts:
        lines += ["**Blue-green:**", ""] + [f"- {r}" for r in d.rollouts] + [""]
    if not d.empty:
        lines += ["| | resource | type | changed |", "|---|---|---|---|"]
        lines += [_row("+", r) for r in d.added]
        for r, paths in d.changed:
            shown = ", ".join(f"`{p}`" for p in paths[:MAX_PATHS])
            more = f" and {len(paths) - MAX_PATHS} more" if len(paths) > MAX_PATHS else ""
            lines.append(_row("~", r, shown + more))
        for r, was, paths in d.moved:
            lines.append(_row("~", r, f"moved from `{was}`" + "".join(f", `{p}`" for p in paths[:MAX_PATHS])))
        lines += [_row("-", r) for r in d.removed]
        lines.append("")
    return "\n".join(lines) + "\n"
