"""KEDA, the scaling engine, per stack: its pinned chart (images/versions.yaml) and values.

KEDA turns each ScaledObject into an HPA it owns and serves the HPA the triggers' values
through its metrics API server; the operator polls the triggers (Prometheus queries) and
scales a fleet between zero and one replica itself (activation). The chart ships its CRDs
as templates, so the offline plan validates every ScaledObject against the exact CRD (schema
and CEL rules) this release installs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from infra.plan.charts import KEDA, Chart, chart
from infra.plan.cloud import Taint
from infra.plan.manifests.fences import Manifest, api_server_ports, same_namespace
from infra.plan.scan_waivers import PULL_POLICY
from infra.rules import names

NAMESPACE = "keda"
RELEASE = "keda"
OPERATOR_NAME = "keda-operator"  # the chart's operator.name: pod label app=keda-operator
SYSTEM_ROLE = "system"
HELM_TIMEOUT_S = 600
# The images are distroless "nonroot" (UID and GID 65532); the chart leaves the UID to the
# image, which checkov's CKV_K8S_40 cannot see, so it is set here.
_NONROOT = {"runAsNonRoot": True, "runAsUser": 65532, "runAsGroup": 65532, "seccompProfile": {"type": "RuntimeDefault"}}
_COMPONENTS = ("operator", "metricServer", "webhooks")
OWNER = "tfplat-scaling"
#: Ports the API server calls: the metrics API server (the external.metrics.k8s.io
#: APIService's target, the chart's metricsServer.portHttpsTarget) and the admission webhooks
#: (the chart's default webhooks port).
CALLED_BY_API_SERVER = (6443, 9443)


@dataclass(frozen=True, kw_only=True)
class KedaPlan:
    chart: Chart
    namespace: str
    release: str
    environment: str
    values: dict[str, Any]


def _tolerations(taints: Sequence[Taint]) -> list[dict[str, str]]:
    return [{"key": t.key, "operator": "Equal", "value": t.value, "effect": t.effect}
            for t in sorted(set(taints), key=lambda t: (t.key, t.value, t.effect))]


def values(environment: str, system_taints: Sequence[Taint]) -> dict[str, Any]:
    """The chart's values: on the system pools, two replicas of each part in prod (KEDA's
    operator elects a leader; the metrics server and webhooks serve from both), images pulled
    on every start, nonroot UIDs stated (checkov's waivers: infra.plan.scan_waivers)."""
    replicas = 2 if environment == "prod" else 1
    placement = {"nodeSelector": {names.LABEL_ROLE: SYSTEM_ROLE}, "tolerations": _tolerations(system_taints)}
    return {
        "image": {"pullPolicy": PULL_POLICY},
        "operator": {"replicaCount": replicas, **placement},
        "metricsServer": {"replicaCount": replicas, **placement},
        "webhooks": {"replicaCount": replicas, **placement},
        "podSecurityContext": {c: _NONROOT for c in _COMPONENTS},
        "podDisruptionBudget": {c: ({"minAvailable": 1} if replicas > 1 else {}) for c in _COMPONENTS},
        "additionalLabels": {names.LABEL_PART_OF: names.PART_OF},
    }


def plan_keda(environment: str, system_taints: Sequence[Taint]) -> KedaPlan:
    return KedaPlan(chart=chart(KEDA), namespace=NAMESPACE, release=RELEASE, environment=environment,
                    values=values(environment, system_taints))


def network_policies(plan: KedaPlan) -> list[Manifest]:
    """The keda namespace's NetworkPolicies: the operator's gRPC (9666) and metrics only from
    KEDA's own pods; the metrics API server and webhooks from the API server."""
    return [same_namespace(f"{OWNER}-same-namespace", plan.namespace, plan.environment, OWNER),
            api_server_ports(f"{OWNER}-api-server-calls", plan.namespace, plan.environment, OWNER,
                             CALLED_BY_API_SERVER)]
