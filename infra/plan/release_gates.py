"""Custom release gates (models/<model>.yaml release.gates.custom) checked like the alert rules.

A gate's query is a template; filled with sample values it must name only metrics of the
platform's catalog (infra.plan.monitoring.metrics) or of the model's
release.business_metrics, match only labels those series carry, write every metric as a
selector (name{...}) and every range as [$window] (the analysis interval: a fixed window
would mix in data from before the step). PromQL syntax is checked by promtool where the
CLI checks the policy (infra.release.checks).
"""

from __future__ import annotations

from infra.config.release_spec import ReleaseSettings
from infra.plan.monitoring import metrics as m
from infra.plan.monitoring import queries as q

#: Labels every scraped series carries besides its own (the scrape target's).
TARGET_LABELS = frozenset({"job", "instance"})
_SAMPLE = {"color": "green", "model": "sample-model", "namespace": "sample-namespace", "window": "2m"}

Located = tuple[tuple[str | int, ...], str, str, object]  # (path, message, hint, value)


def custom_gate_problems(release: ReleaseSettings) -> list[Located]:
    out: list[Located] = []
    for name in sorted(release.business_metrics):
        if m.by_series(name) is not None or name in m.CATALOG:
            out.append((("business_metrics", name), "is a metric of the platform's catalog already",
                        "remove it from business_metrics (the catalog says what its labels are)", name))
    for gate in release.custom_gates.values():
        path = ("gates", "custom", gate.name, "query")
        problem = _template_problem(gate.query) or _selector_problem(gate.query, release)
        if problem is not None:
            out.append((path, problem[0], problem[1], gate.query))
    return out


def _template_problem(template: str) -> tuple[str, str] | None:
    unknown = sorted(q.gate_variables(template) - set(q.GATE_VARIABLES))
    if unknown:
        return (f"unknown variable ${unknown[0]}",
                f"use only {', '.join('$' + v for v in q.GATE_VARIABLES)}")
    if "$color" not in template:
        return ("does not select a color, so it cannot tell the new version from the live one",
                'match the color label of your series, e.g. my_metric{model="$model",color="$color"}')
    ranges = [r for r in _ranges(template) if r != "$window"]
    if ranges:
        return (f"range [{ranges[0]}]: a gate judges one analysis interval at a time",
                "write every range as [$window]")
    return None


def _ranges(text: str) -> list[str]:
    out, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "[":
            depth, start = depth + 1, i + 1
        elif ch == "]" and depth:
            depth -= 1
            out.append(text[start:i])
    return out


def _selector_problem(template: str, release: ReleaseSettings) -> tuple[str, str] | None:
    expr = q.custom_gate(template, **_SAMPLE)
    try:
        found = m.selectors(expr)
    except ValueError as err:
        return str(err), 'write matchers as label="value", label=~"regex", label!="value" or label!~"regex"'
    known = sorted({*m.CATALOG, *release.business_metrics})
    if not found:
        return "names no metric", f"select a metric as name{{...}}, of the catalog or business_metrics ({len(known)})"
    for sel in found:
        metric = m.by_series(sel.metric)
        if metric is not None:
            allowed = metric.labels_of(sel.metric) | m.SCRAPE_LABELS[metric.source]
        else:
            business = _business(sel.metric, release)
            if business is None:
                return (f"{sel.metric} is neither in the platform's metric catalog nor in release.business_metrics",
                        f"declare it under release.business_metrics.{sel.metric} (kind, labels), or use a catalog "
                        "metric (docs/observability.md)")
            allowed = business | TARGET_LABELS
        for label, _, _ in sel.matchers:
            if label not in allowed:
                return (f"{sel.metric} has no label {label!r}",
                        f"match only its labels: {', '.join(sorted(allowed))}")
    bare = sorted(m.bare_identifiers(expr))
    if bare:
        return (f"{bare[0]} is not written as a selector",
                f"write it as {bare[0]}{{...}} (with braces) so the metric catalog check can read it")
    return None


def _business(series: str, release: ReleaseSettings) -> frozenset[str] | None:
    """Labels of a business metric's stored series (histograms as _bucket/_sum/_count)."""
    for name, metric in release.business_metrics.items():
        if series == name and metric.kind != "histogram":
            return metric.labels
        if metric.kind == "histogram" and series in (f"{name}_bucket", f"{name}_sum", f"{name}_count"):
            return metric.labels | {"le"} if series.endswith("_bucket") else metric.labels
    return None
