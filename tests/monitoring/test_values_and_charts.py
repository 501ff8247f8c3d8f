"""Chart pins, Helm values per stack, Alertmanager routing and tracing choices (pure planner)."""

from __future__ import annotations

from collections.abc import Iterator
import dataclasses
from pathlib import Path
import re
import shutil
import subprocess
from typing import Any

import pytest
import yaml

from infra.bounded_yaml import YamlFileError
from infra.config.loader import load
from infra.config.spec import AlertRoute, MonitoringSpec, Receiver, StackSpec, TracingSpec, frozen_map
from infra.plan import charts
from infra.plan.monitoring import alertmanager, tracing, values
from infra.plan.monitoring.plan import (
    COLLECTOR_RELEASE,
    DCGM_RELEASE,
    JAEGER_RELEASE,
    KPS_RELEASE,
)
from infra.plan.stack import StackPlan, plan_stack
from tests.conftest import REPO, STACKS, versions_file


def _plan(stack: str, **monitoring: Any) -> StackPlan:
    """The stack's plan, planned again with `monitoring` replacing spec fields."""
    loaded = load(REPO, stack)
    if not monitoring:
        return plan_stack(loaded)
    mon = dataclasses.replace(loaded.stack.monitoring, **monitoring)
    return plan_stack(dataclasses.replace(loaded, stack=dataclasses.replace(loaded.stack, monitoring=mon)))


def _nones(value: Any, path: str = "") -> Iterator[str]:
    if value is None:
        yield path
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _nones(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _nones(v, f"{path}[{i}]")


# --- charts -----------------------------------------------------------------------------

def test_every_chart_the_platform_installs_is_pinned_exactly() -> None:
    pinned = charts.charts()
    for key in (charts.KUBE_PROMETHEUS_STACK, charts.DCGM_EXPORTER, charts.JAEGER, charts.OTEL_COLLECTOR):
        chart = pinned[key]
        assert chart.repository.startswith("https://")
        assert chart.version.count(".") == 2 and all(p.isdigit() for p in chart.version.split("."))
    # Jaeger v2 lives in chart 4.x (3.x and older deploy Jaeger v1 components).
    assert int(pinned[charts.JAEGER].version.split(".")[0]) >= 4


@pytest.mark.parametrize(("entry", "field", "message"), [
    ({"repository": "https://x", "chart": "c", "version": "^1.2.0"}, "charts.jaeger.version", "exact released version"),
    ({"repository": "https://x", "chart": "c"}, "charts.jaeger", "'version' is a required property"),
    ({"repository": "http://x", "chart": "c", "version": "1.2.3"}, "charts.jaeger.repository", "https://"),
    ("1.2.3", "charts.jaeger", "is not of type 'object'"),
])
def test_loose_or_incomplete_chart_pins_are_refused(tmp_path: Path, entry: Any, field: str, message: str) -> None:
    real = yaml.safe_load((REPO / "images" / "versions.yaml").read_text(encoding="utf-8"))["charts"]
    path = versions_file(tmp_path, charts={**real, "jaeger": entry})
    with pytest.raises(YamlFileError) as err:
        charts.chart("jaeger", path)
    assert err.value.field == field and message in err.value.render() and err.value.line is not None


def test_unknown_chart_names_the_pinned_ones(tmp_path: Path) -> None:
    with pytest.raises(charts.ChartPinError, match=r"have: .*jaeger"):
        charts.chart("no-such-chart", versions_file(tmp_path))


# --- kube-prometheus-stack ----------------------------------------------------------------

@pytest.mark.parametrize("stack", STACKS)
def test_stack_config_reaches_prometheus_and_alertmanager(stack: str) -> None:
    plan = _plan(stack)
    mon = plan.monitoring
    assert mon is not None
    kps = mon.release(KPS_RELEASE)
    assert kps is not None and kps.chart == charts.chart(charts.KUBE_PROMETHEUS_STACK)
    spec = plan.stack.monitoring
    prom = kps.values["prometheus"]["prometheusSpec"]
    assert prom["retention"] == spec.prometheus_retention
    assert prom["replicas"] == spec.prometheus_replicas
    assert prom["storageSpec"]["volumeClaimTemplate"]["spec"]["resources"]["requests"]["storage"] == \
        spec.prometheus_storage_size
    assert prom["podMonitorSelectorNilUsesHelmValues"] is False
    assert prom["ruleSelectorNilUsesHelmValues"] is False
    assert kps.values["alertmanager"]["alertmanagerSpec"]["replicas"] == spec.alertmanager_replicas
    grafana = kps.values["grafana"]
    assert grafana["admin"]["existingSecret"] == values.GRAFANA_ADMIN_SECRET
    assert "adminPassword" not in grafana
    for release in mon.releases:
        assert list(_nones(release.values)) == [], f"{release.name}: Pulumi drops None values silently"


def test_environment_sizes_prometheus_and_keeps_disk_headroom() -> None:
    dev = _plan("dev", prometheus_storage_size="50Gi").monitoring
    prod = _plan("prod", prometheus_storage_size="200Gi", prometheus_replicas=2,
                                 prometheus_retention="30d").monitoring
    assert dev is not None and prod is not None
    dev_prom = dev.release(KPS_RELEASE).values["prometheus"]["prometheusSpec"]  # type: ignore[union-attr]
    prod_prom = prod.release(KPS_RELEASE).values["prometheus"]["prometheusSpec"]  # type: ignore[union-attr]
    assert dev_prom["retentionSize"] == "42GB"  # 85% of 50Gi
    assert prod_prom["retentionSize"] == "170GB"
    assert prod_prom["replicas"] == 2 and prod_prom["retention"] == "30d"
    assert prod_prom["resources"]["limits"]["memory"] != dev_prom["resources"]["limits"]["memory"]
    assert values.retention_size("512Mi") == "435MB"


def test_every_component_has_requests_and_limits() -> None:
    for env, table in values.ENV_RESOURCES.items():
        for component, res in table.items():
            assert set(res) == {"requests", "limits"}, (env, component)
            assert set(res["requests"]) == set(res["limits"]) == {"cpu", "memory"}


# --- GPU metrics --------------------------------------------------------------------------

def test_dcgm_chart_on_gpu_stacks_with_cloud_specific_settings() -> None:
    gke = _plan("dev").monitoring
    eks = _plan("prod-aws").monitoring
    assert gke is not None and eks is not None
    for mon in (gke, eks):
        dcgm = mon.release(DCGM_RELEASE)
        assert dcgm is not None and dcgm.needs_monitoring_crds
        assert dcgm.values["serviceMonitor"] == {"enabled": True, "interval": "15s", "honorLabels": True}
        terms = dcgm.values["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        assert terms["nodeSelectorTerms"][0]["matchExpressions"][0]["values"] == ["nvidia-l4"]
        assert {"requests", "limits"} <= set(dcgm.values["resources"])
    assert "--kubernetes-gpu-id-type" in gke.release(DCGM_RELEASE).values["arguments"]  # type: ignore[union-attr]
    assert "arguments" not in eks.release(DCGM_RELEASE).values  # type: ignore[union-attr]


def test_gke_managed_gpu_metrics_install_no_chart_and_no_silent_alert() -> None:
    mon = _plan("dev", gpu_metrics="gke-managed").monitoring
    assert mon is not None
    assert mon.release(DCGM_RELEASE) is None
    assert not mon.gpu_metrics_in_cluster
    resnet = {r["alert"] for r in mon.rule_groups["resnet50"]["rules"]}
    assert "TFServingGPUSaturated" not in resnet


def test_tpu_plugin_is_scraped_only_where_tpu_models_run_on_gke() -> None:
    assert _plan("dev").monitoring.scrape_tpu_plugin  # type: ignore[union-attr]
    assert not _plan("prod-aws").monitoring.scrape_tpu_plugin  # type: ignore[union-attr]


# --- tracing ------------------------------------------------------------------------------

def test_memory_tracing_runs_jaeger_and_points_the_collector_at_it() -> None:
    mon = _plan("dev").monitoring
    assert mon is not None
    jaeger = mon.release(JAEGER_RELEASE)
    collector = mon.release(COLLECTOR_RELEASE)
    assert jaeger is not None and collector is not None
    store = jaeger.values["userconfig"]["extensions"]["jaeger_storage"]["backends"]["memstore"]
    assert store == {"memory": {"max_traces": tracing.JAEGER_MAX_TRACES}}
    config = collector.values["config"]
    assert config["exporters"] == {"otlp/jaeger": {"endpoint": "jaeger.monitoring.svc.cluster.local:4317",
                                                   "tls": {"insecure": True}}}
    assert config["processors"]["probabilistic_sampler"]["sampling_percentage"] == 10.0
    assert config["service"]["pipelines"]["traces"]["exporters"] == ["otlp/jaeger"]
    grafana = mon.release(KPS_RELEASE).values["grafana"]  # type: ignore[union-attr]
    assert grafana["additionalDataSources"][0]["url"] == "http://jaeger.monitoring.svc.cluster.local:16686"
    assert mon.collector_endpoint == "otel-collector.monitoring.svc.cluster.local:4317"


def test_external_tracing_exports_over_tls_without_in_cluster_jaeger() -> None:
    tr = TracingSpec(enabled=True, sampling_ratio=0.01, storage="external", external_endpoint="otlp.example.com:4317")
    mon = _plan("prod", tracing=tr).monitoring
    assert mon is not None
    assert mon.release(JAEGER_RELEASE) is None
    config = mon.release(COLLECTOR_RELEASE).values["config"]  # type: ignore[union-attr]
    assert config["exporters"] == {"otlp/backend": {"endpoint": "otlp.example.com:4317"}}  # TLS: exporter default
    assert config["processors"]["probabilistic_sampler"]["sampling_percentage"] == 1.0
    assert "additionalDataSources" not in mon.release(KPS_RELEASE).values["grafana"]  # type: ignore[union-attr]
    assert mon.release(COLLECTOR_RELEASE).values["replicaCount"] == 2  # type: ignore[union-attr]


def test_tracing_disabled_installs_neither_collector_nor_jaeger() -> None:
    tr = TracingSpec(enabled=False, sampling_ratio=0.1, storage="memory", external_endpoint=None)
    mon = _plan("dev", tracing=tr).monitoring
    assert mon is not None
    assert {r.name for r in mon.releases} == {KPS_RELEASE, DCGM_RELEASE}
    assert mon.collector_endpoint is None


def test_monitoring_disabled_plans_nothing() -> None:
    assert _plan("dev", enabled=False).monitoring is None


# --- Alertmanager -------------------------------------------------------------------------

def _spec_with_receivers(base: StackSpec) -> MonitoringSpec:
    receivers = {
        "oncall": Receiver(name="oncall", slack_webhook_url=None, slack_channel=None,
                           pagerduty_routing_key="PD-KEY-123", webhook_url=None),
        "vision": Receiver(name="vision", slack_webhook_url="https://hooks.slack.com/services/T/B/XYZ",
                           slack_channel="#vision-alerts", pagerduty_routing_key=None, webhook_url=None),
        "audit": Receiver(name="audit", slack_webhook_url=None, slack_channel=None, pagerduty_routing_key=None,
                          webhook_url="https://audit.example.com/hook?token=SECRET-TOKEN"),
    }
    routes = (AlertRoute(receiver="oncall", severity="page", team=None),
              AlertRoute(receiver="vision", severity="ticket", team="vision-team"),
              AlertRoute(receiver="audit", severity=None, team=None))
    return dataclasses.replace(base.monitoring, receivers=frozen_map(receivers), routes=routes)


def test_receivers_and_routes_from_config_with_secrets_as_files() -> None:
    spec = _spec_with_receivers(_plan("prod").stack)
    cfg = alertmanager.config(spec)
    text = yaml.safe_dump(cfg)
    assert "PD-KEY-123" not in text and "hooks.slack.com" not in text and "SECRET-TOKEN" not in text
    routes = cfg["route"]["routes"]
    assert routes[0] == {"receiver": "null", "matchers": ['alertname = "Watchdog"']}
    assert routes[1] == {"receiver": "oncall", "matchers": ['severity = "page"']}
    assert routes[2] == {"receiver": "vision", "matchers": ['severity = "ticket"', 'team = "vision-team"']}
    by_name = {r["name"]: r for r in cfg["receivers"]}
    assert by_name["oncall"]["pagerduty_configs"][0]["routing_key_file"] == \
        "/etc/alertmanager/secrets/tfplat-alertmanager-receivers/oncall-pagerduty-routing-key"
    assert by_name["vision"]["slack_configs"][0]["channel"] == "#vision-alerts"
    assert routes[3] == {"receiver": "audit"}  # no severity, no team: everything left
    assert by_name["audit"]["webhook_configs"][0]["url_file"].endswith("/audit-webhook-url")
    assert alertmanager.secret_values(spec) == {
        "audit-webhook-url": "https://audit.example.com/hook?token=SECRET-TOKEN",
        "oncall-pagerduty-routing-key": "PD-KEY-123",
        "vision-slack-webhook-url": "https://hooks.slack.com/services/T/B/XYZ"}
    assert alertmanager.mounted_secrets(spec) == [alertmanager.SECRET_NAME]
    assert alertmanager.mounted_secrets(_plan("dev").stack.monitoring) == []


def test_the_stack_plan_carries_the_secret_values_and_never_prints_them() -> None:
    # The component only wraps these in pulumi.Output.secret; the plan decided them.
    spec = _spec_with_receivers(_plan("prod").stack)
    plan = _plan("prod", receivers=spec.receivers, routes=spec.routes, grafana_admin_password="GRAFANA-PW")
    mon = plan.monitoring
    assert mon is not None
    assert mon.receiver_secrets == alertmanager.secret_values(spec)
    assert tuple(mon.receiver_secrets) == tuple(sorted(mon.receiver_secret_keys))
    assert mon.grafana_admin_password == "GRAFANA-PW"
    assert not any(secret in repr(mon) for secret in ("PD-KEY-123", "SECRET-TOKEN", "GRAFANA-PW"))

def _amtool_version() -> tuple[int, ...]:
    out = subprocess.run(["amtool", "--version"], capture_output=True, text=True, check=False)
    found = re.search(r"version (\d+)\.(\d+)", out.stdout + out.stderr)
    return tuple(int(x) for x in found.groups()) if found else (0, 0)


@pytest.mark.skipif(shutil.which("amtool") is None,
                    reason="amtool not installed (apt-get install prometheus-alertmanager)")
def test_alertmanager_config_passes_amtool(tmp_path: Path) -> None:
    spec = _spec_with_receivers(_plan("prod").stack)
    cfg = alertmanager.config(spec)
    if _amtool_version() < (0, 26):
        # webhook url_file exists since Alertmanager 0.26 (config/notifiers.go, WebhookConfig.URLFile);
        # the chart runs a newer Alertmanager, Debian 12's amtool is 0.25.
        cfg["receivers"] = [r for r in cfg["receivers"] if "webhook_configs" not in r]
        cfg["route"]["routes"] = [r for r in cfg["route"]["routes"] if r["receiver"] != "audit"]
    # Point the secret files at real files, as the mounted Secret provides them in the pod.
    text = yaml.safe_dump(cfg).replace(alertmanager.SECRET_MOUNT, str(tmp_path))
    for key, value in alertmanager.secret_values(spec).items():
        (tmp_path / key).write_text(value)
    path = tmp_path / "alertmanager.yaml"
    path.write_text(text)
    proc = subprocess.run(["amtool", "check-config", str(path)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
