"""The catalog check every query of the platform passes (alerts, panels, scaling triggers)."""

from __future__ import annotations

from infra.plan.monitoring import metrics as m


def assert_catalog_query(expr: str) -> None:
    """Every metric `expr` names is in the catalog, with only the labels it (or its scrape) has."""
    found = m.selectors(expr)
    assert found, expr
    for sel in found:
        metric = m.by_series(sel.metric)
        assert metric is not None, f"{sel.metric} is not in the metric catalog ({expr})"
        allowed = metric.labels_of(sel.metric) | m.SCRAPE_LABELS[metric.source]
        for label, _, _ in sel.matchers:
            assert label in allowed, f"{sel.metric} has no label {label!r} ({expr})"
    assert m.bare_identifiers(expr) == set(), f"unparsed names in {expr}"
