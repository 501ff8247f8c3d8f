"""The Observability component under Pulumi's mock engine, for every shipped stack."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infra.offline import engine, render
from infra.offline.engine import Record
from infra.offline.plan import check_objects, engine_config, project_name
from infra.offline.rulecheck import check_rule_objects
from infra.plan import charts, tfserving
from infra.plan.monitoring import alertmanager, values
from infra.plan.monitoring.plan import KPS_RELEASE, MonitoringPlan
from infra.plan.stack import StackPlan
from infra.program import main as program
from infra.rules import names
from tests.conftest import STACKS, shared_run

RELEASE = "kubernetes:helm.sh/v3:Release"
PODMONITOR = "kubernetes:monitoring.coreos.com/v1:PodMonitor"
RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
CONFIGMAP = "kubernetes:core/v1:ConfigMap"
SECRET = "kubernetes:core/v1:Secret"
COMPONENT = "tfplat:monitoring:Observability"

Run = tuple[StackPlan, engine.RunResult, MonitoringPlan]


@pytest.fixture(scope="module", params=STACKS)
def run(request: pytest.FixtureRequest) -> Run:
    plan, result = shared_run(request.param)
    mon = plan.monitoring
    assert mon is not None
    return plan, result, mon


def _of(result: engine.RunResult, typ: str) -> dict[str, Record]:
    return {r.name: r for r in result.records if r.type == typ}


def _plain(value: Any) -> Any:
    """What the mock records for a value: JSON-normalized, whole floats as ints."""
    def norm(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: norm(x) for k, x in v.items()}
        if isinstance(v, list):
            return [norm(x) for x in v]
        if isinstance(v, float) and v.is_integer():
            return int(v)
        return v
    return norm(json.loads(json.dumps(value)))


def test_one_component_owns_every_monitoring_resource(run: Run) -> None:
    _, result, mon = run
    components = [r for r in result.records if r.type == COMPONENT]
    assert len(components) == 1
    urn = components[0].urn
    # Releases outside monitoring (the AWS Load Balancer Controller's) have their own owner.
    other_releases = {r.name for r in result.records if r.type == RELEASE} - {r.name for r in mon.releases}
    monitoring = [r for r in result.records
                  if (r.type == RELEASE and r.name not in other_releases)
                  or r.type in (PODMONITOR, RULE, "random:index/randomPassword:RandomPassword")
                  or (r.custom and r.inputs.get("metadata", {}).get("namespace") == mon.namespace)]
    assert monitoring
    for record in monitoring:
        assert record.parent == urn, record.name


def test_releases_pin_the_versions_file_and_carry_the_planned_values(run: Run) -> None:
    _, result, mon = run
    owner = next(r.urn for r in result.records if r.type == COMPONENT)
    releases = {name: r for name, r in _of(result, RELEASE).items() if r.parent == owner}
    assert set(releases) == {r.name for r in mon.releases}
    for planned in mon.releases:
        rec = releases[planned.name].inputs
        pinned = charts.chart(planned.chart.key)
        assert (rec["chart"], rec["version"], rec["repositoryOpts"]["repo"]) == \
            (pinned.chart, pinned.version, pinned.repository)
        assert rec["name"] == planned.name and rec["namespace"] == mon.namespace
        assert rec["values"] == _plain(dict(planned.values))


def test_releases_that_create_monitors_wait_for_the_operator_crds(run: Run) -> None:
    _, result, mon = run
    releases = _of(result, RELEASE)
    kps_urn = releases[KPS_RELEASE].urn
    for planned in mon.releases:
        if planned.needs_monitoring_crds:
            assert kps_urn in releases[planned.name].depends_on, planned.name
    for typ in (PODMONITOR, RULE):
        for rec in _of(result, typ).values():
            assert kps_urn in rec.depends_on


def test_a_pod_monitor_per_fleet_scrapes_tf_serving_metrics(run: Run) -> None:
    plan, result, mon = run
    monitors = {r.inputs["metadata"]["name"]: r.inputs for r in _of(result, PODMONITOR).values()}
    for fleet in plan.fleets:
        spec = monitors[f"tfplat-{fleet.name}"]["spec"]
        assert spec["selector"] == {"matchLabels": names.selector(fleet.name)}
        assert spec["namespaceSelector"] == {"matchNames": [fleet.namespace]}
        endpoint = spec["podMetricsEndpoints"][0]
        assert (endpoint["port"], endpoint["path"]) == ("http", tfserving.METRICS_PATH)
        assert {r["targetLabel"] for r in endpoint["relabelings"]} == {"model", "color", "version"}
    assert ("tfplat-gke-tpu-device-plugin" in monitors) == mon.scrape_tpu_plugin


def test_a_rule_and_a_dashboard_per_fleet(run: Run) -> None:
    plan, result, mon = run
    rules = {r.inputs["metadata"]["name"]: r.inputs for r in _of(result, RULE).values()}
    maps = {r.inputs["metadata"]["name"]: r.inputs for r in _of(result, CONFIGMAP).values()
            if r.inputs["metadata"]["namespace"] == mon.namespace}
    assert set(rules) == {f"tfplat-{f.name}" for f in plan.fleets}
    for fleet in plan.fleets:
        assert rules[f"tfplat-{fleet.name}"]["spec"]["groups"] == [_plain(dict(mon.rule_groups[fleet.name]))]
        dash = maps[f"tfplat-{fleet.name}-dashboard"]
        assert dash["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert json.loads(dash["data"][f"tfplat-{fleet.name}.json"])["uid"] == f"tfplat-{fleet.name}"
    assert "tfplat-overview-dashboard" in maps


def test_grafana_password_is_generated_and_kept_secret(run: Run) -> None:
    _, result, _ = run
    passwords = [r for r in result.records if r.type == "random:index/randomPassword:RandomPassword"]
    assert [(p.name, p.inputs["length"]) for p in passwords] == [("grafana-admin", 32)]
    secret = _of(result, SECRET)[f"monitoring-{values.GRAFANA_ADMIN_SECRET}"].inputs
    data = secret["stringData"]
    # pulumi-kubernetes marks Secret data secret: offline it is masked (whole or per key).
    assert data == engine.SECRET or set(data.values()) <= {engine.SECRET}


def test_rendered_monitoring_objects_are_schema_valid_and_rules_pass_promtool(run: Run) -> None:
    plan, result, mon = run
    objects = [o for o in render.kubernetes_objects(result.records)
               if o["metadata"].get("namespace") == mon.namespace or o["metadata"]["name"] == mon.namespace]
    # Secrets are left out: the engine masks their whole stringData (see the report); their
    # non-secret fields are asserted above.
    checked = [o for o in objects if o["kind"] != "Secret"]
    kinds = {o["kind"] for o in checked}
    assert {"Namespace", "ConfigMap", "PodMonitor", "PrometheusRule"} <= kinds
    assert check_objects(checked, plan.stack.cluster.version) == []
    assert check_rule_objects(checked) == []


# --- secrets from the stack file ---------------------------------------------------------

RECEIVERS_BLOCK = """
  tfplat:monitoring:
    alertmanager:
      replicas: 2
      receivers:
        oncall:
          pagerduty_routing_key:
            secure: v1:AAAAAAAAAAAAAAAAAAAA
        vision:
          slack_webhook_url:
            secure: v1:BBBBBBBBBBBBBBBBBBBB
          slack_channel: "#vision-alerts"
      routes:
        - receiver: oncall
          severity: page
        - receiver: vision
          team: vision-team
    grafana:
      admin_password:
        secure: v1:CCCCCCCCCCCCCCCCCCCC
    tracing:
      storage: external
      external_endpoint: otlp.example.com:4317
      sampling_ratio: 0.05
"""
PLAINTEXT = {"pd": "PAGERDUTY-KEY-0123456789", "slack": "https://hooks.slack.com/services/T0/B0/SECRETXYZ",
             "grafana": "grafana-admin-pass-5678"}


def test_secrets_from_the_stack_never_reach_inputs_or_manifests(repo_copy: Path) -> None:
    stack_path = repo_copy / "stacks" / "Pulumi.prod.yaml"
    text = stack_path.read_text(encoding="utf-8")
    # Replace the stack's own monitoring block (the last key of the file) with the test's.
    text = text.split("  tfplat:monitoring:")[0]
    stack_path.write_text(text + RECEIVERS_BLOCK, encoding="utf-8")
    config, secret_keys = engine_config(repo_copy, "prod")
    assert "tfplat:monitoring" in secret_keys
    # What `pulumi up` hands the program: decrypted values, the key marked secret.
    monitoring = json.loads(config["tfplat:monitoring"])
    monitoring["alertmanager"]["receivers"]["oncall"]["pagerduty_routing_key"] = PLAINTEXT["pd"]
    monitoring["alertmanager"]["receivers"]["vision"]["slack_webhook_url"] = PLAINTEXT["slack"]
    monitoring["grafana"]["admin_password"] = PLAINTEXT["grafana"]
    config["tfplat:monitoring"] = json.dumps(monitoring)
    result = engine.run(program, project=project_name(repo_copy), stack="prod", config=config,
                        secret_keys=secret_keys)

    everything = json.dumps([r.inputs for r in result.records]) + json.dumps(result.outputs)
    for value in PLAINTEXT.values():
        assert value not in everything
    files = render.write_build(repo_copy / "build", "prod", render.resources_document("prod", "tfplat", result),
                               render.kubernetes_objects(result.records))
    for text in files.values():
        for value in PLAINTEXT.values():
            assert value not in text

    secrets = _of(result, SECRET)
    assert f"monitoring-{alertmanager.SECRET_NAME}" in secrets
    assert not [r for r in result.records if r.type.startswith("random:")]  # the given password is used
    kps = _of(result, RELEASE)[KPS_RELEASE].inputs["values"]
    am = kps["alertmanager"]
    assert am["alertmanagerSpec"]["secrets"] == [alertmanager.SECRET_NAME]
    assert am["alertmanagerSpec"]["replicas"] == 2
    receivers = {r["name"]: r for r in am["config"]["receivers"]}
    assert receivers["oncall"]["pagerduty_configs"][0]["routing_key_file"].startswith(alertmanager.SECRET_MOUNT)
    releases = _of(result, RELEASE)
    assert "jaeger" not in releases  # external trace storage: no in-cluster Jaeger
    exporters = releases["otel-collector"].inputs["values"]["config"]["exporters"]
    assert exporters == {"otlp/backend": {"endpoint": "otlp.example.com:4317"}}
