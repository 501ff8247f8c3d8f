"""model-alerts, model-dashboard."""

from __future__ import annotations

from typing import Any

from tests.policies.factories import K8S, deployment, messages, res, run_stack


def _rule(model: str, alerts: bool = True) -> Any:
    rules = [{"alert": "TFServingHighErrorRatio", "expr": "x > 0"}] if alerts else [{"record": "r", "expr": "x"}]
    return res(K8S["PrometheusRule"], f"rule-{model}", {
        "metadata": {"name": f"tfplat-{model}", "labels": {"tfplat.dev/model": model}},
        "spec": {"groups": [{"name": f"tfplat.{model}", "rules": rules}]}})


def _board(name: str, labels: dict[str, str], data: dict[str, str]) -> Any:
    return res(K8S["ConfigMap"], name, {"metadata": {"name": name, "labels": labels}, "data": data})


MOBILENET = res(K8S["Deployment"], "serving-mobilenet-blue", deployment())
RESNET = res(K8S["Deployment"], "serving-resnet50-blue", deployment("resnet50-blue", model="resnet50"))
# What the monitoring layer emits today: no model label, the model in the data key.
EMITTED_BOARD = _board("tfplat-mobilenet-dashboard", {"grafana_dashboard": "1"}, {"tfplat-mobilenet.json": "{}"})


def test_models_with_alerts_pass() -> None:
    assert run_stack("model-alerts", [MOBILENET, RESNET, _rule("mobilenet"), _rule("resnet50")]) == []


def test_a_model_without_alerting_rules_fails() -> None:
    findings = run_stack("model-alerts", [MOBILENET, RESNET, _rule("mobilenet"), _rule("resnet50", alerts=False)])
    assert messages(findings) == ["model 'resnet50' has no PrometheusRule labelled tfplat.dev/model=resnet50 with an "
                                  "alerting rule"]
    assert findings[0].resource == RESNET
    assert "tfplat:monitoring.enabled" in findings[0].fix and "models/resnet50.yaml" in findings[0].fix


def test_a_fleet_without_a_model_label_cannot_be_matched() -> None:
    props = deployment()
    del props["metadata"]["labels"]["tfplat.dev/model"]
    unlabelled = res(K8S["Deployment"], "odd", props)
    for policy in ("model-alerts", "model-dashboard"):
        assert messages(run_stack(policy, [unlabelled])) == [
            "fleet Deployment serving/mobilenet-blue has no tfplat.dev/model label, so its alerts and dashboard "
            "cannot be found"]


def test_dashboards_match_by_data_key_or_model_label() -> None:
    labelled = _board("resnet", {"grafana_dashboard": "1", "tfplat.dev/model": "resnet50"}, {"board.json": "{}"})
    assert run_stack("model-dashboard", [MOBILENET, RESNET, EMITTED_BOARD, labelled]) == []


def test_a_model_without_a_dashboard_fails() -> None:
    not_loaded = _board("resnet", {"app": "x"}, {"tfplat-resnet50.json": "{}"})  # Grafana's sidecar ignores it
    empty = _board("resnet2", {"grafana_dashboard": "1"}, {"tfplat-resnet50.json": ""})
    findings = run_stack("model-dashboard", [MOBILENET, RESNET, EMITTED_BOARD, not_loaded, empty])
    assert messages(findings) == ["model 'resnet50' has no Grafana dashboard (a ConfigMap labelled grafana_dashboard "
                                  "with tfplat.dev/model=resnet50 or data key tfplat-resnet50.json)"]
    assert findings[0].resource == RESNET
