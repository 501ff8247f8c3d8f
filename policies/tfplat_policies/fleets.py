"""Model fleets: a PodDisruptionBudget for each, enough replicas in production, and
accelerator fleets that scale on more than CPU.

A fleet is a Deployment labelled app.kubernetes.io/name=tensorflow-serving (one per model
and color). Its replica count belongs to the KEDA ScaledObject (or a plain
HorizontalPodAutoscaler) that targets it: the Deployment has no replicas field, so the
scaler's floor is what keeps it available. A ScaledObject that may scale to zero
(idleReplicaCount) has a floor of 0; one in "swap" version-change mode shares the model's
floor with the other color (tfplat.dev/version-change), so the model's colors count together.
"""

from __future__ import annotations

from collections import Counter
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
SCALED_OBJECT = ("kubernetes:keda.sh/v1alpha1:ScaledObject",)
VERSION_CHANGE = "tfplat.dev/version-change"
ACCELERATOR = "tfplat.dev/accelerator"
CPU_ONLY_TRIGGERS = frozenset({"cpu", "memory"})


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


class Budgets:
    """The PodDisruptionBudgets' selectors of one namespace, indexed so that a fleet is held
    against the few that can select it: a selector with matchLabels only against the pods
    carrying its rarest label (a stack of a thousand models has thousands of each, and
    every one of them carries app.kubernetes.io/name=tensorflow-serving). A selector selects
    only pods carrying every pair of its matchLabels, so whichever of its pairs indexes it,
    the pods it can select find it there."""

    def __init__(self) -> None:
        self.unknown = False  # a selector computed at deploy time: assumed to select the fleet
        self.labelled: list[tuple[Any, list[tuple[str, str]]]] = []  # (selector, its plain label pairs)
        self.others: list[Any] = []  # no plain label to index by: held against every fleet
        self._by_label: dict[tuple[str, str], list[Any]] | None = None

    def add(self, selector: Any) -> None:
        self._by_label = None
        if is_unknown(selector):
            self.unknown = True
        elif isinstance(selector, Mapping):  # anything else selects nothing
            match = as_map(selector.get("matchLabels"))
            pairs = [(k, v) for k, v in match.items() if isinstance(k, str) and isinstance(v, str)]
            if pairs:
                self.labelled.append((selector, pairs))
            else:
                self.others.append(selector)

    def _index(self) -> dict[tuple[str, str], list[Any]]:
        if self._by_label is None:
            counts = Counter(pair for _, pairs in self.labelled for pair in pairs)
            self._by_label = {}
            for selector, pairs in self.labelled:
                rarest = min(pairs, key=lambda pair: counts[pair])  # the first of the rarest: deterministic
                self._by_label.setdefault(rarest, []).append(selector)
        return self._by_label

    def select(self, pods: Mapping[str, Any]) -> bool:
        if self.unknown or any(selects(s, pods) for s in self.others):
            return True
        by_label = self._index()
        return any(selects(s, pods) for k, v in pods.items() if isinstance(v, str)
                   for s in by_label.get((k, v), ()))


def check_pdb(resources: Sequence[Resource], settings: Settings) -> list[Finding]:
    budgets: dict[str, Budgets] = {}  # by namespace: a fleet looks at its own namespace's only
    for r in resources:
        if r.type in PDB:
            budgets.setdefault(namespace(r.props), Budgets()).add(dig(r.props, "spec", "selector"))
    out = []
    for fleet in fleets(resources):
        pods, ns = pod_labels(fleet), namespace(fleet.props)
        if ns in budgets and budgets[ns].select(pods):
            continue
        out.append(Finding(
            f"fleet Deployment {ns}/{object_name(fleet.props)} has no PodDisruptionBudget selecting its pods, so a "
            "node drain can take every replica down at once",
            "tfplat renders one PodDisruptionBudget per model color (infra/plan/manifests/serving.py): keep its "
            "selector equal to the Deployment's selector labels", fleet))
    return out


class Scalers:
    """The scalers of a stack indexed by the (namespace, name) of the Deployment each targets,
    built in one pass: a fleet's scaler is a lookup (a stack of a thousand models has
    thousands of fleets, ScaledObjects and HPAs)."""

    def __init__(self, resources: Sequence[Resource]) -> None:
        self.scaled: dict[tuple[str, str], list[Resource]] = {}
        self.hpas: dict[tuple[str, str], list[Resource]] = {}
        self.colors: dict[tuple[str, str], list[Resource]] = {}  # fleets by (namespace, model)
        for r in resources:
            if r.type in SCALED_OBJECT or r.type in HPA:
                kind = dig(r.props, "spec", "scaleTargetRef", "kind")
                name = dig(r.props, "spec", "scaleTargetRef", "name")  # unknown or malformed: targets no fleet
                # KEDA defaults the target kind to Deployment; an HPA always names it.
                if isinstance(name, str) and (kind == "Deployment" or (kind is None and r.type in SCALED_OBJECT)):
                    index = self.scaled if r.type in SCALED_OBJECT else self.hpas
                    index.setdefault((namespace(r.props), name), []).append(r)
        for f in fleets(resources):
            model = model_of(f)
            if model:
                self.colors.setdefault((namespace(f.props), model), []).append(f)

    def scaled_object(self, fleet: Resource) -> Resource | None:
        found = self.scaled.get((namespace(fleet.props), object_name(fleet.props)))
        return found[0] if found else None

    def hpas_of(self, fleet: Resource) -> list[Resource]:
        return self.hpas.get((namespace(fleet.props), object_name(fleet.props)), [])


def _scaled_object_floor(scaler: Resource) -> Any:
    idle = dig(scaler.props, "spec", "idleReplicaCount")
    floor = dig(scaler.props, "spec", "minReplicaCount")
    if is_unknown(idle) or is_unknown(floor):
        return None
    return 0 if idle is not None else 0 if floor is None else floor  # KEDA's default minReplicaCount is 0


def _min_replicas(fleet: Resource, scalers: Scalers) -> tuple[Any, str]:
    """The replica floor of a fleet and where it comes from."""
    scaler = scalers.scaled_object(fleet)
    if scaler is not None:
        floor = _scaled_object_floor(scaler)
        model = model_of(fleet)
        if dig(scaler.props, "metadata", "annotations", VERSION_CHANGE) == "swap" and model:
            # Both colors share the floor while a version change swaps capacity between them.
            peers = scalers.colors.get((namespace(fleet.props), model), [])
            floors = [_scaled_object_floor(s) for s in (scalers.scaled_object(p) for p in peers) if s]
            known = [f for f in floors if isinstance(f, int)]
            return (sum(known) if len(known) == len(floors) else None), \
                "its colors' ScaledObjects together (version_change swap)"
        return floor, "its ScaledObject's floor (minReplicaCount; 0 with idleReplicaCount)"
    floors = [dig(h.props, "spec", "minReplicas") for h in scalers.hpas_of(fleet)]
    if floors:
        known = [1 if f is None else f for f in floors if not is_unknown(f)]
        return (min(known) if known else None), "its HorizontalPodAutoscaler's minReplicas"
    replicas = dig(fleet.props, "spec", "replicas")
    return (None if is_unknown(replicas) else 1 if replicas is None else replicas), "spec.replicas (no HPA)"


def check_scaling_signals(resources: Sequence[Resource], settings: Settings) -> list[Finding]:
    """A GPU or TPU fleet whose scaler reads only CPU (or memory) scales on a signal that idles
    while the accelerator saturates."""
    out = []
    scalers = Scalers(resources)
    for fleet in fleets(resources):
        containers = as_list(dig(fleet.props, "spec", "template", "spec", "containers"))
        accelerated = any(k in as_map(dig(c, "resources", "limits")) for c in containers
                          for k in ("nvidia.com/gpu", "google.com/tpu"))
        if not accelerated:
            continue
        scaler = scalers.scaled_object(fleet)
        if scaler is not None:
            triggers = as_list(dig(scaler.props, "spec", "triggers"))
            if any(is_unknown(t) for t in triggers):
                continue
            kinds = {dig(t, "type") for t in triggers} - {"cron"}  # a schedule holds replicas, it reads no load
            metrics_of = "its ScaledObject's triggers"
        else:
            hpas = scalers.hpas_of(fleet)
            if not hpas:
                continue
            kinds = {str(dig(mt, "resource", "name")) if dig(mt, "type") == "Resource" else str(dig(mt, "type"))
                     for h in hpas for mt in as_list(dig(h.props, "spec", "metrics"))}
            metrics_of = "its HorizontalPodAutoscaler's metrics"
        if kinds and not kinds <= CPU_ONLY_TRIGGERS:
            continue
        model = model_of(fleet) or "<model>"
        out.append(Finding(
            f"accelerator fleet Deployment {namespace(fleet.props)}/{object_name(fleet.props)} scales on "
            f"{', '.join(sorted(kinds)) or 'nothing'} alone ({metrics_of}): the host CPU idles while the "
            "accelerator saturates, so latency breaks before a replica is added",
            f"scale it on requests, latency, queue or accelerator: set serving.autoscaling.signals in "
            f"models/{model}.yaml (or drop it for the defaults), and keep tfplat:monitoring enabled", fleet))
    return out


def check_min_replicas(resources: Sequence[Resource], settings: Settings) -> list[Finding]:
    required = int(settings.get("minReplicas", 2))
    out = []
    scalers = Scalers(resources)
    for fleet in fleets(resources):
        floor, source = _min_replicas(fleet, scalers)
        if not isinstance(floor, int) or floor >= required:
            continue
        model = model_of(fleet) or "<model>"
        out.append(Finding(
            f"fleet Deployment {namespace(fleet.props)}/{object_name(fleet.props)} can run {floor} replica(s) "
            f"({source}); this tier needs at least {required}",
            f"set tfplat:models.{model}.autoscaling.min_replicas to {required} or more in the stack file (or "
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
        description="Every model fleet keeps at least minReplicas replicas (its ScaledObject's floor, or the "
                    "HPA's minReplicas); enforced in production.",
        remediation="Raise tfplat:models.<model>.autoscaling.min_replicas in the stack file.",
        config_schema={"minReplicas": {"type": "integer", "minimum": 1, "default": 2,
                                       "description": "Smallest allowed replica floor of a fleet."}}),
    StackPolicy(
        id="fleet-scaling-signals", severity="high", check=check_scaling_signals,
        description="A GPU or TPU model fleet scales on a serving signal (requests, latency, batching queue or "
                    "accelerator duty cycle), not on CPU alone; enforced in production.",
        remediation="Set serving.autoscaling.signals in the model file (or use the defaults) and keep monitoring on."),
)
