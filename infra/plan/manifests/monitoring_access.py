"""Who may reach the monitoring namespace, and what Grafana's sidecars may read.

NetworkPolicies: every pod in the monitoring namespace accepts traffic only from pods of
that namespace (Prometheus scrapes, Grafana queries, Alertmanager notifications, the
collector's export to Jaeger all stay inside it), except the OpenTelemetry collector's OTLP
ports, which instrumented workloads in any namespace send to, and Prometheus' API, which
KEDA's operator queries for the serving fleets' scaling triggers. Egress stays open: Prometheus
scrapes every namespace and Alertmanager calls receivers outside the cluster. node-exporter
runs on the host network, where NetworkPolicies do not apply. Kubelet probes and
`kubectl port-forward` arrive from the node, which the cluster's policy engines admit.

The Role: Grafana's dashboard and datasource sidecars list and watch ConfigMaps in this
namespace and nothing else (the chart's own Role would also read every Secret here).
"""

from __future__ import annotations

from infra.plan.manifests.serving import Manifest, meta
from infra.plan.monitoring import tracing
from infra.plan.monitoring.plan import MonitoringPlan
from infra.plan.monitoring.values import GRAFANA_SIDECAR_ROLE, KPS_FULLNAME, PROMETHEUS_PORT
from infra.plan.scaling import keda
from infra.rules import names

# The pods of the Prometheus the operator runs for kube-prometheus-stack (fullname kps).
PROMETHEUS_POD_LABELS = {"app.kubernetes.io/name": "prometheus",
                         "operator.prometheus.io/name": f"{KPS_FULLNAME}-prometheus"}
NAMESPACE_NAME = "kubernetes.io/metadata.name"  # every namespace carries its name (Kubernetes >= 1.22)
COLLECTOR_POD_LABELS = {"app.kubernetes.io/name": "opentelemetry-collector",
                        "app.kubernetes.io/instance": tracing.COLLECTOR_FULLNAME}


def _labels(component: str, environment: str) -> dict[str, str]:
    return {names.LABEL_NAME: "tfplat-monitoring", names.LABEL_COMPONENT: component,
            names.LABEL_PART_OF: names.PART_OF, names.LABEL_MANAGED_BY: names.MANAGED_BY,
            names.LABEL_ENV: environment}


def network_policies(plan: MonitoringPlan) -> list[Manifest]:
    policies = [{
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": meta("tfplat-monitoring-same-namespace", plan.namespace,
                         _labels("network-policy", plan.environment)),
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{"from": [{"podSelector": {}}]}]},
    }]
    if plan.collector_endpoint is not None:
        policies.append({
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": meta("tfplat-otlp-from-cluster", plan.namespace, _labels("network-policy", plan.environment)),
            "spec": {"podSelector": {"matchLabels": dict(COLLECTOR_POD_LABELS)}, "policyTypes": ["Ingress"],
                     "ingress": [{"from": [{"namespaceSelector": {}}],
                                  "ports": [{"protocol": "TCP", "port": tracing.OTLP_GRPC_PORT},
                                            {"protocol": "TCP", "port": tracing.OTLP_HTTP_PORT}]}]},
        })
    if plan.scopes:  # fleets scale on KEDA triggers that query Prometheus
        policies.append({
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": meta("tfplat-prometheus-from-keda", plan.namespace,
                             _labels("network-policy", plan.environment)),
            "spec": {"podSelector": {"matchLabels": dict(PROMETHEUS_POD_LABELS)}, "policyTypes": ["Ingress"],
                     "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {NAMESPACE_NAME: keda.NAMESPACE}},
                                            "podSelector": {"matchLabels": {"app": keda.OPERATOR_NAME}}}],
                                  "ports": [{"protocol": "TCP", "port": PROMETHEUS_PORT}]}]},
        })
    return policies


def grafana_sidecar_role(plan: MonitoringPlan) -> Manifest:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": meta(GRAFANA_SIDECAR_ROLE, plan.namespace, _labels("grafana", plan.environment)),
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]}],
    }


def access_objects(plan: MonitoringPlan) -> list[Manifest]:
    """Built-in objects only; they need nothing but the namespace."""
    return [*network_policies(plan), grafana_sidecar_role(plan)]
