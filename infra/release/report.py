"""What a release tells people: one line per event on the terminal, and a Markdown report
(GitHub-flavoured, fit for a workflow's job summary) rebuilt from the journal after every
event, so even a killed run leaves a report up to its last decision.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
import math
from typing import Any

from infra.plan.release_policy import Gate, ReleasePolicy

VERDICT = {"pass": "pass", "fail": "**FAIL**", "inconclusive": "inconclusive", "unavailable": "unavailable"}


def num(value: Any, unit: str = "") -> str:
    if value is None:
        return "no data"
    if isinstance(value, str):  # journal round trip of NaN/inf
        value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = f"{value:.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    return f"{text} {unit}".strip()


def _unit(gate: str, gates: Mapping[str, Gate]) -> str:
    g = gates.get(gate)
    return g.unit if g is not None else ""


def _checks(checks: Sequence[Mapping[str, Any]], gates: Mapping[str, Gate]) -> str:
    parts = []
    for c in checks:
        unit = _unit(c["gate"], gates)
        bound = "" if c.get("bound") is None else f" vs {num(c['bound'], unit)}"
        live = f" (live {num(c['live'], unit)})" if c["test"] == "vs live" and c.get("live") is not None else ""
        note = f" [{c['note']}]" if c.get("note") else ""
        parts.append(f"{c['gate']} {c['test']}: {num(c['new'], unit)}{live}{bound} {c['verdict']}{note}")
    return "; ".join(parts)


def line(event: Mapping[str, Any], gates: Mapping[str, Gate]) -> str:
    """One terminal line per event, with its numbers."""
    kind = event["kind"]
    if kind == "start":
        return (f"release {event['model']} v{event['version']} on {event['stack']} ({event['id']}) from "
                f"{event['from_state']}; metrics: {event['source']}; applier: {event['applier']}")
    if kind == "step":
        commit = f" commit {str(event['commit'])[:10]}" if event.get("commit") else ""
        applied = f"\n    {event['applied']}" if event.get("applied") else ""
        unpushed = f"\n    NOT PUSHED: {event['unpushed']}" if event.get("unpushed") else ""
        return f"step {event['label']}: {event['before']} -> {event['after']}{commit}{applied}{unpushed}"
    if kind == "ready":
        return f"ready: {event['seen']} (after {event['waited_s']}s)"
    if kind == "interval":
        return (f"{event['phase']} interval {event['n']}: {event['verdict'].upper()} - requests new "
                f"{num(event['new_requests'])} live {num(event['live_requests'])}; "
                f"{_checks(event['checks'], gates)} -> {event['action']}: {event['decision']}")
    if kind == "decision":
        return f"decision: {event['action']}: {event['reason']}"
    if kind == "end":
        return f"release {event['status']}: {event['reason']}"
    return f"{kind}: {', '.join(f'{k}={v}' for k, v in event.items() if k not in ('kind', 'at'))}"


def _policy(policy: ReleasePolicy) -> list[str]:
    steps = " -> ".join(f"{s}%" for s in policy.steps) + " -> switch"
    rows = [
        "| setting | value |", "|---|---|",
        f"| steps | {steps} |",
        f"| bake per step | {policy.bake_time_s}s ({policy.passes_per_step} passing intervals) |",
        f"| analysis interval | {policy.analysis_interval_s}s |",
        f"| minimum requests of the new color per interval | {policy.min_requests} |",
        f"| inconclusive intervals in a row that abort | {policy.max_inconclusive} |",
        f"| settle after the switch | {policy.settle_time_s}s |",
        f"| metrics unavailable | {policy.on_metrics_unavailable}"
        + (f" (at most {policy.max_pause_s}s)" if policy.on_metrics_unavailable == "pause" else "") + " |",
        "", "| gate | limit | vs live color |", "|---|---|---|",
    ]
    for g in policy.gates:
        sign = "<=" if g.direction == "at_most" else ">="
        versus = "-" if g.live_factor is None else f"{sign} live x {g.live_factor:g}"
        rows.append(f"| {g.name} | {sign} {num(g.limit, g.unit)} | {versus} |")
    precision = [g.precision for g in policy.gates if g.precision]
    return rows + ([f"\nLatency precision: {precision[0]}."] if precision else [])


def markdown(events: Sequence[Mapping[str, Any]], policy: ReleasePolicy) -> str:
    gates = {g.name: g for g in policy.gates}
    start = next((e for e in events if e["kind"] == "start"), None)
    end = next((e for e in reversed(events) if e["kind"] == "end"), None)
    title = (f"Release {start['model']} v{start['version']} on {start['stack']}" if start else "Release")
    status = end["status"] if end else "in progress"
    out = [f"## {title}: {status}", ""]
    if start:
        out += ["| | |", "|---|---|", f"| release | `{start['id']}` |", f"| started from | `{start['from_state']}` |",
                f"| metrics | {start['source']} |", f"| applier | {start['applier']} |"]
    if end:
        out.append(f"| outcome | {end['reason']} |")
    if start:
        out.append(f"| next | {'-' if end else '`tfplat release --resume` or `--abort`'} |")
    out += ["", "### Policy", "", *_policy(policy), "", "### Steps", "",
            "| time (UTC) | step | state after | commit |", "|---|---|---|---|"]
    for e in events:
        if e["kind"] == "step":
            commit = str(e.get("commit") or "-")[:10] + (" (**not pushed**)" if e.get("unpushed") else "")
            out.append(f"| {e['at']} | {e['label']} | `{e['after']}` | {commit} |")
        elif e["kind"] in ("ready", "resume", "decision"):
            text = e.get("seen") or e.get("reason") or e.get("state") or ""
            out.append(f"| {e['at']} | {e['kind']} | {text} | |")
    intervals = [e for e in events if e["kind"] == "interval"]
    if intervals:
        out += ["", "### Analysis", "", "| time (UTC) | phase | # | requests new / live | gates | verdict | decision |",
                "|---|---|---|---|---|---|---|"]
        for e in intervals:
            out.append(f"| {e['at']} | {e['phase']} | {e['n']} | {num(e['new_requests'])} / "
                       f"{num(e['live_requests'])} | {_checks(e['checks'], gates) or e['reason']} | "
                       f"{VERDICT.get(e['verdict'], e['verdict'])} | {e['action']}: {e['decision']} |")
    return "\n".join(out) + "\n"
