"""Kubernetes objects of the monitoring layer, as plain dicts built from the monitoring plan.

Charts (infra.plan.monitoring.values/tracing) install Prometheus, Alertmanager, Grafana,
exporters and the collector; the objects here are what ties them to the fleets: a
PodMonitor and a PrometheusRule per model, dashboard ConfigMaps, the TPU plugin's
PodMonitor, and the Secrets whose values the component fills with Pulumi secrets.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infra import jsontext
from infra.plan import tfserving
from infra.plan.manifests.serving import Manifest, meta
from infra.plan.monitoring import alertmanager, values
from infra.plan.monitoring import metrics as m
from infra.plan.monitoring.alerts import dashboard_uid
from infra.plan.monitoring.plan import MonitoringPlan
from infra.plan.monitoring.scope import FleetScope
from infra.rules import names

SCRAPE_INTERVAL = "30s"
DASHBOARD_LABEL = "grafana_dashboard"  # what kube-prometheus-stack's Grafana sidecar watches
TPU_PLUGIN_NAMESPACE = "kube-system"
TPU_PLUGIN_SELECTOR = {"k8s-app": "tpu-device-plugin"}
TPU_PLUGIN_METRICS_PORT = 2112


def _labels(component: str, environment: str, model: str | None = None, team: str | None = None) -> dict[str, str]:
    labels = {names.LABEL_NAME: "tfplat-monitoring", names.LABEL_COMPONENT: component,
              names.LABEL_PART_OF: names.PART_OF, names.LABEL_MANAGED_BY: names.MANAGED_BY,
              names.LABEL_ENV: environment}
    if model is not None:
        labels[names.LABEL_MODEL] = model
    if team is not None:
        labels[names.LABEL_TEAM] = team
    return labels


def namespace(plan: MonitoringPlan) -> Manifest:
    labels = {
        names.LABEL_PART_OF: names.PART_OF, names.LABEL_MANAGED_BY: names.MANAGED_BY,
        names.LABEL_ENV: plan.environment,
        # node-exporter needs hostNetwork/hostPID/hostPath and the DCGM exporter runs as
        # root with SYS_ADMIN: only "privileged" admits them. Warn/audit still report
        # anything that would fail "restricted", so new workloads show up in review.
        "pod-security.kubernetes.io/enforce": "privileged",
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/audit": "restricted",
    }
    # The same reason, as a waiver of the Pod Security policy (CIS GKE 4.2.1), listed in every plan.
    waiver = {"tfplat.dev/policy-exemptions": "namespace-pod-security",
              "tfplat.dev/policy-exemption-reason": "node-exporter needs the node's network, process table and "
                                                    "file system; the DCGM exporter runs as root with SYS_ADMIN"}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta(plan.namespace, None, labels, waiver)}


def _pod_label(label: str) -> str:
    """Prometheus' name of a pod label in service discovery meta labels."""
    sanitized = "".join(c if c.isalnum() else "_" for c in label)
    return f"__meta_kubernetes_pod_label_{sanitized}"


def pod_monitor(plan: MonitoringPlan, scope: FleetScope) -> Manifest:
    """Scrapes TF Serving's Prometheus endpoint on the REST port of both colors."""
    relabel = [
        {"action": "replace", "sourceLabels": [_pod_label(names.LABEL_MODEL)], "targetLabel": m.TARGET_LABEL_MODEL},
        {"action": "replace", "sourceLabels": [_pod_label(names.LABEL_COLOR)], "targetLabel": m.TARGET_LABEL_COLOR},
        {"action": "replace", "sourceLabels": [_pod_label(names.LABEL_VERSION)],
         "targetLabel": m.TARGET_LABEL_VERSION},
    ]
    return {
        "apiVersion": "monitoring.coreos.com/v1", "kind": "PodMonitor",
        "metadata": meta(f"tfplat-{scope.model}", plan.namespace,
                         _labels("scrape", plan.environment, scope.model, scope.team)),
        "spec": {
            "namespaceSelector": {"matchNames": [scope.namespace]},
            "selector": {"matchLabels": names.selector(scope.model)},
            "podMetricsEndpoints": [{
                "port": "http",  # the REST port's name in the Deployment (8501)
                "path": tfserving.METRICS_PATH,
                "interval": SCRAPE_INTERVAL,
                "relabelings": relabel,
            }],
        },
    }


def prometheus_rule(plan: MonitoringPlan, scope: FleetScope) -> Manifest:
    return {
        "apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
        "metadata": meta(f"tfplat-{scope.model}", plan.namespace,
                         _labels("alerts", plan.environment, scope.model, scope.team)),
        "spec": {"groups": [dict(plan.rule_groups[scope.model])]},
    }


def dashboard_config_map(plan: MonitoringPlan, uid: str, board: Mapping[str, Any],
                         model: str | None = None) -> Manifest:
    labels = _labels("dashboard", plan.environment)
    labels[DASHBOARD_LABEL] = "1"
    if model is not None:
        labels["tfplat.dev/model"] = model  # what the model-dashboard policy looks for
    return {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": meta(f"{uid}-dashboard", plan.namespace, labels),
        "data": {f"{uid}.json": jsontext.dumps(board) + "\n"},
    }


def tpu_plugin_pod_monitor(plan: MonitoringPlan) -> Manifest:
    """GKE's TPU device plugin serves TPU duty cycle and HBM use per container on :2112."""
    return {
        "apiVersion": "monitoring.coreos.com/v1", "kind": "PodMonitor",
        "metadata": meta("tfplat-gke-tpu-device-plugin", plan.namespace, _labels("scrape", plan.environment)),
        "spec": {
            "namespaceSelector": {"matchNames": [TPU_PLUGIN_NAMESPACE]},
            "selector": {"matchLabels": dict(TPU_PLUGIN_SELECTOR)},
            "podMetricsEndpoints": [{
                "portNumber": TPU_PLUGIN_METRICS_PORT, "path": "/metrics", "interval": SCRAPE_INTERVAL,
                # Keep the plugin's pod/namespace labels: they name the TPU's consumer.
                "honorLabels": True,
            }],
        },
    }


def grafana_admin_secret(plan: MonitoringPlan, password: Any) -> Manifest:
    """`password` is a pulumi Output (secret) in the component; the planner never sees it."""
    return {
        "apiVersion": "v1", "kind": "Secret",
        "metadata": meta(values.GRAFANA_ADMIN_SECRET, plan.namespace, _labels("grafana", plan.environment)),
        "type": "Opaque",
        "stringData": {values.GRAFANA_USER_KEY: values.GRAFANA_ADMIN_USER, values.GRAFANA_PASSWORD_KEY: password},
    }


def receivers_secret(plan: MonitoringPlan, data: Mapping[str, Any]) -> Manifest:
    """Alertmanager receiver URLs/keys, mounted as files the configuration points to."""
    return {
        "apiVersion": "v1", "kind": "Secret",
        "metadata": meta(alertmanager.SECRET_NAME, plan.namespace, _labels("alertmanager", plan.environment)),
        "type": "Opaque",
        "stringData": dict(sorted(data.items())),
    }


def monitoring_objects(plan: MonitoringPlan) -> list[Manifest]:
    """Objects that need the Prometheus operator's CRDs (and nothing secret), in apply order."""
    objs: list[Manifest] = []
    for scope in plan.scopes:
        objs += [pod_monitor(plan, scope), prometheus_rule(plan, scope)]
    if plan.scrape_tpu_plugin:
        objs.append(tpu_plugin_pod_monitor(plan))
    return objs


def dashboard_objects(plan: MonitoringPlan) -> list[Manifest]:
    models = {dashboard_uid(scope.model): scope.model for scope in plan.scopes}
    return [dashboard_config_map(plan, uid, board, models.get(uid)) for uid, board in plan.dashboards.items()]
