"""KEDA ScaledObjects of the serving fleets, as plain dicts built from the plan.

One ScaledObject per model color replaces the color's CPU-only HorizontalPodAutoscaler:
KEDA creates and owns an HPA of the same name (advanced.horizontalPodAutoscalerConfig.name)
and takes over the existing one on upgrade (the transfer-hpa-ownership annotation;
docs/upgrading.md).
"""

from __future__ import annotations

from typing import Any

from infra.plan import tfserving
from infra.plan.fleet import ColorPlan, FleetPlan
from infra.plan.manifests.serving import Manifest, meta, model_labels
from infra.plan.scaling.fleet import ColorScaling, Trigger
from infra.rules import scaling

API_VERSION = "keda.sh/v1alpha1"
#: KEDA adopts an HPA it did not create only when told to (the HPA of the same name that
#: tfplat managed before KEDA: docs/upgrading.md).
TRANSFER_HPA = "scaledobject.keda.sh/transfer-hpa-ownership"
#: What the plan says about the ScaledObject, for the policy pack and `tfplat status`.
ANNOTATION_SIGNALS = "tfplat.dev/scaling-signals"
ANNOTATION_ACCELERATOR = "tfplat.dev/accelerator"
ANNOTATION_VERSION_CHANGE = "tfplat.dev/version-change"


def _number(value: float) -> str:
    return f"{value:g}"


def trigger(t: Trigger, server: str) -> dict[str, Any]:
    if t.type == "prometheus":
        assert t.query is not None and t.metric_type is not None
        metadata = {"serverAddress": server, "query": t.query, "threshold": _number(t.target)}
        if t.activation is not None:
            metadata["activationThreshold"] = _number(t.activation)
        return {"type": "prometheus", "name": t.name, "metricType": t.metric_type, "metadata": metadata}
    if t.type == "cpu":
        return {"type": "cpu", "name": t.name, "metricType": "Utilization",
                "metadata": {"value": _number(t.target), "containerName": tfserving.SERVER_CONTAINER}}
    assert t.type == "cron" and t.cron is not None
    timezone, start, end = t.cron
    return {"type": "cron", "name": t.name,
            "metadata": {"timezone": timezone, "start": start, "end": end, "desiredReplicas": str(int(t.target))}}


def _behavior(b: scaling.Behavior) -> dict[str, Any]:
    def policies(ps: tuple[scaling.Policy, ...]) -> list[dict[str, Any]]:
        return [{"type": p.type, "value": p.value, "periodSeconds": p.period_s} for p in ps]
    return {"scaleUp": {"stabilizationWindowSeconds": b.scale_up_stabilization_s, "selectPolicy": "Max",
                        "policies": policies(b.scale_up)},
            "scaleDown": {"stabilizationWindowSeconds": b.scale_down_stabilization_s, "selectPolicy": "Min",
                          "policies": policies(b.scale_down)}}


def scaled_object(f: FleetPlan, c: ColorPlan, server: str) -> Manifest:
    s = f.scaling
    assert s is not None, "plan_stack plans every fleet's scaling"
    cs: ColorScaling | None = s.color(c.color)
    assert cs is not None
    annotations = {TRANSFER_HPA: "true", ANNOTATION_SIGNALS: ",".join(s.signals),
                   ANNOTATION_ACCELERATOR: f.model.serving.accelerator.kind,
                   ANNOTATION_VERSION_CHANGE: s.version_change}
    spec: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": c.deployment},
        "pollingInterval": scaling.POLLING_INTERVAL_S,
        "minReplicaCount": cs.min_replicas,
        "maxReplicaCount": cs.max_replicas,
        "advanced": {"restoreToOriginalReplicaCount": False,
                     "horizontalPodAutoscalerConfig": {"name": c.deployment, "behavior": _behavior(s.behavior)}},
        "triggers": [trigger(t, server) for t in cs.triggers],
    }
    if cs.idle_replicas is not None:
        # Scale to zero: idle (every trigger at or below its activation) for cooldownPeriod;
        # a new ScaledObject waits a whole cold start before its first scale to zero, so a
        # replica still waiting for its node is never given up.
        spec |= {"idleReplicaCount": cs.idle_replicas, "cooldownPeriod": s.cooldown_s,
                 "initialCooldownPeriod": s.cold_start_budget_s}
    return {"apiVersion": API_VERSION, "kind": "ScaledObject",
            "metadata": meta(c.deployment, f.namespace, model_labels(f, "server", c), annotations),
            "spec": spec}
