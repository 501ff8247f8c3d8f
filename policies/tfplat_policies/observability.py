"""Every served model has alerts and a dashboard.

The models are the tfplat.dev/model labels of the fleet Deployments. The monitoring layer
emits, per model, a PrometheusRule labelled tfplat.dev/model=<model> and a ConfigMap
labelled grafana_dashboard (which Grafana's sidecar loads) holding tfplat-<model>.json.
Dashboards are matched by a tfplat.dev/model label when they carry one, otherwise by that
data key (the monitoring layer labels dashboard ConfigMaps by component only).
"""

from __future__ import annotations

from collections.abc import Sequence

from .fleets import MODEL_LABEL, fleets, model_of
from .model import Finding, Resource, Settings, StackPolicy, as_list, as_map, dig, labels, namespace, object_name

PROMETHEUS_RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
DASHBOARD_LABEL = "grafana_dashboard"


def _models(resources: Sequence[Resource]) -> tuple[dict[str, Resource], list[Finding]]:
    """model -> its first fleet Deployment; findings for fleets without a model label."""
    models: dict[str, Resource] = {}
    unlabelled = []
    for fleet in fleets(resources):
        model = model_of(fleet)
        if model is None:
            unlabelled.append(Finding(
                f"fleet Deployment {namespace(fleet.props)}/{object_name(fleet.props)} has no {MODEL_LABEL} label, "
                "so its alerts and dashboard cannot be found",
                "render fleets through tfplat's serving planner (infra/rules/names.py model_labels)", fleet))
        else:
            models.setdefault(model, fleet)
    return dict(sorted(models.items())), unlabelled


def _has_alerts(rule: Resource) -> bool:
    return any(dig(r, "alert") for g in as_list(dig(rule.props, "spec", "groups")) for r in as_list(dig(g, "rules")))


def check_alerts(resources: Sequence[Resource], settings: Settings) -> list[Finding]:
    models, out = _models(resources)
    # One pass over the rules (a lookup per model): a thousand models have a thousand rules.
    alerted = {model for r in resources if r.type == PROMETHEUS_RULE and _has_alerts(r)
               if isinstance(model := labels(r.props).get(MODEL_LABEL), str)}
    for model, fleet in models.items():
        if model not in alerted:
            out.append(Finding(
                f"model {model!r} has no PrometheusRule labelled {MODEL_LABEL}={model} with an alerting rule",
                "enable monitoring in the stack file (tfplat:monitoring.enabled: true); thresholds come from "
                f"alerts: in models/{model}.yaml", fleet))
    return out


def dashboard_models(config_map: Resource) -> set[str]:
    """Models a grafana_dashboard ConfigMap is the dashboard of (none if not a dashboard)."""
    meta = labels(config_map.props)
    if DASHBOARD_LABEL not in meta:
        return set()
    found = {str(meta[MODEL_LABEL])} if MODEL_LABEL in meta else set()
    for key, value in as_map(config_map.props.get("data")).items():
        if key.startswith("tfplat-") and key.endswith(".json") and value:
            found.add(key[len("tfplat-"):-len(".json")])
    return found


def check_dashboards(resources: Sequence[Resource], settings: Settings) -> list[Finding]:
    models, out = _models(resources)
    covered = set().union(*(dashboard_models(r) for r in resources if r.type == CONFIG_MAP))
    for model, fleet in models.items():
        if model not in covered:
            out.append(Finding(
                f"model {model!r} has no Grafana dashboard (a ConfigMap labelled {DASHBOARD_LABEL} with "
                f"{MODEL_LABEL}={model} or data key tfplat-{model}.json)",
                "enable monitoring in the stack file (tfplat:monitoring.enabled: true); tfplat renders one dashboard "
                "per model", fleet))
    return out


POLICIES = (
    StackPolicy(
        id="model-alerts", severity="high", check=check_alerts,
        description="Every served model has a PrometheusRule with alerting rules, labelled tfplat.dev/model.",
        remediation="Enable tfplat:monitoring for the stack."),
    StackPolicy(
        id="model-dashboard", severity="medium", check=check_dashboards,
        description="Every served model has a Grafana dashboard ConfigMap (label grafana_dashboard).",
        remediation="Enable tfplat:monitoring for the stack."),
)
