"""Model fleets: a PodDisruptionBudget for each, and enough replicas in production.

A fleet is a Deployment labelled app.kubernetes.io/name=tensorflow-serving (one per model
and color). Its replica count belongs to the HorizontalPodAutoscaler that targets it: the
Deployment has no replicas field, so the HPA's minReplicas is what keeps it available.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .model import (
    Finding,
    Resource,
    Settings,
    StackPolicy,
    as_list,
    as_map,
    dig,
    is_unknown,
    labels,
    namespace,
    object_name,
)

DEPLOYMENT = ("kubernetes:apps/v1:Deployment",)
PDB = ("kubernetes:policy/v1:PodDisruptionBudget", "kubernetes:policy/v1beta1:PodDisruptionBudget")
HPA = ("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "kubernetes:autoscaling/v1:HorizontalPodAutoscaler",
       "kubernetes:autoscaling/v2beta2:HorizontalPodAutoscaler")
APP_LABEL, FLEET_APP = "app.kubernetes.io/name", "tensorflow-serving"
MODEL_LABEL = "tfplat.dev/model"


def fleets(resources: Sequence[Resource]) -> list[Resource]:
    return [r for r in resources if r.type in DEPLOYMENT and labels(r.props).get(APP_LABEL) == FLEET_APP]


def model_of(fleet: Resource) -> str | None:
    model = labels(fleet.props).get(MODEL_LABEL)
    return model if isinstance(model, str) and model else None


def pod_labels(deployment: Resource) -> Mapping[str, Any]:
    return as_map(dig(deployment.props, "spec", "template", "metadata", "labels"))


def _expression_matches(expr: Any, pod: Mapping[str, Any]) -> bool:
    key, op, values = dig(expr, "key"), dig(expr, "operator"), as_list(dig(expr, "values"))
    if op == "In":
        return key in pod and pod[key] in values
    if op == "NotIn":
        return key not in pod or pod[key] not in values
    if op == "Exists":
        return key in pod
    if op == "DoesNotExist":
        return key not in pod
    return False


def selects(selector: Any, pod: Mapping[str, Any]) -> bool:
    """A policy/v1 label selector against pod labels; an empty selector selects every pod."""
    if not isinstance(selector, Mapping):
        return False
    match = as_map(selector.get("matchLabels"))
    expressions = as_list(selector.get("matchExpressions"))
    return all(pod.get(k) == v for k, v in match.items()) and all(_expression_matches(e, pod) for e in expressions)


def check_pdb(resources: Sequence[Resource], settings: Settings) -> list[Finding]:
    budgets = [r for r in resources if r.type in PDB]
    out = []
    for fleet in fleets(resources):
        pods, ns = pod_labels(fleet), namespace(fleet.props)
        if any(namespace(b.props) == ns and (is_unknown(dig(b.props, "spec", "selector"))
                                              or selects(dig(b.props, "spec", "selector"), pods))
               for b in budgets):
            continue
        out.append(Finding(
            f"fleet Deployment {ns}/{object_name(fleet.props)} has no PodDisruptionBudget selecting its pods, so a "
            "node drain can take every replica down at once",
            "tfplat renders one PodDisruptionBudget per model color (infra/plan/manifests/serving.py): keep its "
            "selector equal to the Deployment's selector labels", fleet))
    return out


def _min_replicas(fleet: Resource, resources: Sequence[Resource]) -> tuple[Any, str]:
    """The replica floor of a fleet and where it comes from."""
    ns, name = namespace(fleet.props), object_name(fleet.props)
    floors = [dig(h.props, "spec", "minReplicas") for h in resources
              if h.type in HPA and namespace(h.props) == ns
              and dig(h.props, "spec", "scaleTargetRef", "kind") == "Deployment"
              and dig(h.props, "spec", "scaleTargetRef", "name") == name]
    if floors:
        known = [1 if f is None else f for f in floors if not is_unknown(f)]
        return (min(known) if known else None), "its HorizontalPodAutoscaler's minReplicas"
    replicas = dig(fleet.props, "spec", "replicas")
    return (None if is_unknown(replicas) else 1 if replicas is None else replicas), "spec.replicas (no HPA)"


def check_min_replicas(resources: Sequence[Resource], settings: Settings) -> list[Finding]:
    required = int(settings.get("minReplicas", 2))
    out = []
    for fleet in fleets(resources):
        floor, source = _min_replicas(fleet, resources)
        if not isinstance(floor, int) or floor >= required:
            continue
        model = model_of(fleet) or "<model>"
        out.append(Finding(
            f"fleet Deployment {namespace(fleet.props)}/{object_name(fleet.props)} can run {floor} replica(s) "
            f"({source}); this tier needs at least {required}",
            f"set tfplat:models.{model}.replicas.min to {required} or more in the stack file (or "
            f"serving.autoscaling.min_replicas in models/{model}.yaml for every stack)", fleet))
    return out


POLICIES = (
    StackPolicy(
        id="fleet-pdb", severity="high", check=check_pdb,
        description="Every model fleet (Deployment app.kubernetes.io/name=tensorflow-serving) has a "
                    "PodDisruptionBudget selecting its pods.",
        remediation="Keep the fleet's PodDisruptionBudget selector equal to the Deployment's selector."),
    StackPolicy(
        id="fleet-min-replicas", severity="high", check=check_min_replicas,
        description="Every model fleet keeps at least minReplicas replicas (the HPA's minReplicas); "
                    "enforced in production.",
        remediation="Raise tfplat:models.<model>.replicas.min in the stack file.",
        config_schema={"minReplicas": {"type": "integer", "minimum": 1, "default": 2,
                                       "description": "Smallest allowed replica floor of a fleet."}}),
)
