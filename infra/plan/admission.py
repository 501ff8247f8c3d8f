"""The image admission plan: where a stack's pods may pull images from, and which images
must be pinned by digest.

Two rules, enforced at admission by what Kubernetes and the clouds provide:

- allowed sources (CIS GKE 5.1.4 / EKS 5.1.4): every image in a namespace that is not the
  cloud's own comes from a repository tfplat deploys (images/versions.yaml, the stack's
  image overrides, the pinned charts' chart_images) or one the stack adds
  (tfplat:admission.allowed_registries). A ValidatingAdmissionPolicy on both clouds; on GKE
  Binary Authorization enforces the same list too (its Google system-image policy on).
- digests where tfplat picks every image (the serving namespace, and the training teams'
  namespaces, whose recipe images the model schema already requires by digest): each image
  runs as name@sha256:..., unless tfplat:admission.tag_only waives it with a reason.

Both deny in prod and warn and audit elsewhere. Chart workloads are pinned by chart version
and tag (their digests are not in any file tfplat reads), so the digest rule does not
cover the monitoring namespace; the allowed-source rule does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from infra.config.spec import ModelSpec, StackSpec, frozen_map
from infra.plan import charts
from infra.plan.cloud import CloudPlan
from infra.plan.fleet import FleetPlan
from infra.plan.monitoring.plan import MonitoringPlan
from infra.plan.scaling.keda import KedaPlan
from infra.plan.training.platform import TrainingPlan
from infra.rules import admission

#: The charts EKS platforms install (the monitoring plan lists its own releases).
AWS_CHARTS = {"load_balancer_controller": "aws-load-balancer-controller",
              "cluster_autoscaler": charts.CLUSTER_AUTOSCALER}


@dataclass(frozen=True, kw_only=True)
class AdmissionPlan:
    cloud: str
    environment: str
    enforce: bool  # Deny (prod); otherwise Warn + Audit
    allowed: tuple[str, ...]  # sorted: repositories, and prefixes ending in "/"
    digest_namespaces: tuple[str, ...]  # where every image must be pinned by digest
    tag_only: Mapping[str, str]  # image ref -> reason: allowed by tag in digest_namespaces
    system_namespaces: tuple[str, ...]
    system_prefixes: tuple[str, ...]

    @property
    def binauthz_patterns(self) -> tuple[str, ...]:
        return tuple(admission.binauthz_pattern(a) for a in self.allowed)


def _chart_keys(cloud: CloudPlan, monitoring: MonitoringPlan | None, training: TrainingPlan | None,
                keda: KedaPlan | None) -> list[str]:
    keys = [r.chart.key for r in monitoring.releases] if monitoring is not None else []
    keys += [keda.chart.key] if keda is not None else []
    keys += [chart for flag, chart in AWS_CHARTS.items() if getattr(cloud, flag)]
    keys += [training.kueue.key, training.jobset.key] if training is not None else []
    return keys


def training_images(training: TrainingPlan | None, models: Mapping[str, ModelSpec]) -> tuple[str, ...]:
    """The recipe images of the models the stack trains (digest-pinned by the model schema)."""
    if training is None:
        return ()
    recipes = [models[m].training for m in sorted(training.identities)]
    return tuple(r.image for r in recipes if r is not None)


def allowed_sources(stack: StackSpec, fleets: Sequence[FleetPlan], cloud: CloudPlan,
                    monitoring: MonitoringPlan | None, *, training: TrainingPlan | None,
                    models: Mapping[str, ModelSpec], keda: KedaPlan | None = None) -> tuple[str, ...]:
    refs: list[str] = [f.image.ref for f in fleets] + [f.sync_image.ref for f in fleets if f.sync_image]
    if cloud.device_plugin_image is not None:
        refs.append(cloud.device_plugin_image.ref)
    refs += training_images(training, models)
    found: set[str] = {admission.repository(r) for r in refs}
    found |= {admission.repository(r) for key in _chart_keys(cloud, monitoring, training, keda)
              for r in charts.chart_images(key)}
    found |= set(stack.admission.allowed_registries)
    return tuple(sorted(found))


def plan_admission(stack: StackSpec, fleets: Sequence[FleetPlan], cloud: CloudPlan,
                   monitoring: MonitoringPlan | None, *, training: TrainingPlan | None,
                   models: Mapping[str, ModelSpec], keda: KedaPlan | None = None) -> AdmissionPlan:
    """`models`: the loaded models (their training recipes name the training images);
    `keda`: the scaling engine's release, whose chart images join the list."""
    teams = tuple(sorted(set(training.namespaces.values()))) if training is not None else ()
    return AdmissionPlan(
        cloud=stack.cloud, environment=stack.environment, enforce=stack.environment == "prod",
        allowed=allowed_sources(stack, fleets, cloud, monitoring, training=training, models=models, keda=keda),
        digest_namespaces=(stack.serving.namespace, *teams),
        tag_only=frozen_map(dict(stack.admission.tag_only)), system_namespaces=admission.SYSTEM_NAMESPACES,
        system_prefixes=admission.SYSTEM_PREFIXES[stack.cloud])

