"""The release policy: layers (tier default < model < stack < stack's model entry), the
defaults taken from the model itself, and the queries it asks (catalog-checked like the
alert rules)."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.config.loader import load
from infra.plan.monitoring import metrics as m
from infra.plan.monitoring.scope import FleetScope
from infra.plan.release_policy import TIER_DEFAULTS, resolve
from infra.plan.stack import plan_stack
from infra.release.reading import queries
from tests.conftest import REPO, STACKS


@pytest.mark.parametrize("stack", STACKS)
def test_every_deployed_model_has_a_complete_policy(stack: str) -> None:
    loaded = load(REPO, stack)
    tier = TIER_DEFAULTS[loaded.stack.environment]
    for name in loaded.stack.models:
        model = loaded.models[name]
        p = resolve(loaded.stack, model)
        assert p.steps == tier.steps and p.bake_time_s == tier.bake_time_s
        gates = {g.name: g for g in p.gates}
        # What pages a human stops a release: the alert threshold and the latency objective.
        assert gates["error_ratio"].limit == model.alerts.error_ratio_threshold
        assert gates["latency_p99"].limit == model.serving.latency_objective_ms
        assert gates["latency_p99"].precision and "bucket" in gates["latency_p99"].precision


def test_layers_override_in_order(repo_copy: Path) -> None:
    stack_path = repo_copy / "stacks" / "Pulumi.prod.yaml"
    text = stack_path.read_text(encoding="utf-8")
    text = text.replace("config:\n", "config:\n  tfplat:release: {bake_time: 20m, min_requests: 500}\n", 1)
    text = text.replace("    resnet50:\n      blue: 7\n", "    resnet50:\n      release: {min_requests: 900}\n"
                                                        "      blue: 7\n", 1)
    stack_path.write_text(text, encoding="utf-8")
    model_path = repo_copy / "models" / "resnet50.yaml"
    model_path.write_text(model_path.read_text(encoding="utf-8") +
                          "release: {bake_time: 6m, settle_time: 4m, gates: {error_ratio: {max: 0.002}}}\n",
                          encoding="utf-8")
    loaded = load(repo_copy, "prod")
    p = resolve(loaded.stack, loaded.models["resnet50"])
    assert (p.bake_time_s, p.settle_time_s, p.min_requests) == (1200, 240, 900)
    assert p.origins["bake_time"] == "stack" and p.origins["settle_time"] == "model"
    assert p.origins["min_requests"] == "stack-model" and p.origins["steps"] == "default"
    assert next(g for g in p.gates if g.name == "error_ratio").limit == 0.002
    other = resolve(loaded.stack, loaded.models["mobilenet"])
    assert (other.bake_time_s, other.min_requests) == (1200, 500)


@pytest.mark.parametrize("stack", STACKS)
def test_release_queries_name_only_catalog_metrics_and_their_labels(stack: str) -> None:
    """The check the alert rules and dashboards pass (tests/monitoring), on every query a
    release asks, business metrics declared in the model file included."""
    plan = plan_stack(load(REPO, stack))
    for fleet in plan.fleets:
        policy = resolve(plan.stack, fleet.model)
        for expr in queries(policy, FleetScope.of(fleet), "green").values():
            for sel in m.selectors(expr):
                metric = m.by_series(sel.metric)
                if metric is None:
                    business = policy.business_metrics[sel.metric]
                    allowed = business.labels | {"job", "instance"}
                else:
                    allowed = metric.labels_of(sel.metric) | m.SCRAPE_LABELS[metric.source]
                assert {label for label, _, _ in sel.matchers} <= allowed, expr
            assert m.bare_identifiers(expr) == set(), expr


def test_the_two_schemas_describe_the_same_policy() -> None:
    """models/*.yaml release: and the stack's overrides are one definition, kept in both
    schemas (editors resolve neither file's references into the other)."""
    import json

    model = json.loads((REPO / "schemas" / "model.schema.json").read_text())["$defs"]["releasePolicy"]
    stack_doc = json.loads((REPO / "schemas" / "stack.schema.json").read_text())
    stack = stack_doc["$defs"]["releasePolicy"]
    shared = {k: v for k, v in model["properties"].items() if k != "business_metrics"}
    shared["gates"] = {**shared["gates"], "properties": {k: v for k, v in shared["gates"]["properties"].items()
                                                         if k != "custom"}}
    assert stack["properties"] == shared
    release = stack_doc["properties"]["config"]["properties"]["tfplat:release"]
    assert {k: v for k, v in release["properties"].items() if k != "metrics_source"} == shared
