"""The cluster side of a stack's training: Kueue and JobSet from their pinned charts, team
namespaces with their LocalQueues, the ClusterQueue and a ResourceFlavor per training pool,
each trained model's service account. The cloud side (checkpoint bucket, training identities)
belongs to the cloud's platform component. Jobs themselves are submissions (`tfplat train`),
not resources here."""

from __future__ import annotations

from typing import Any

import pulumi

from infra.components.kube import helm_release, register
from infra.components.platform import Platform
from infra.plan.training import kueue
from infra.plan.training.network import network_policies
from infra.plan.training.platform import JOBSET_NAMESPACE, KUEUE_NAMESPACE, TrainingPlan

HELM_TIMEOUT_S = 600


def _system_namespace(name: str, environment: str) -> dict[str, Any]:
    from infra.plan.manifests.serving import namespace

    return namespace(name, environment)


class TrainingPlatform(pulumi.ComponentResource):
    """The cluster side of training; the cloud side (checkpoint bucket, identities) is the
    platform's. Children (parent=self): the kueue-system and jobset-system namespaces, their
    NetworkPolicies and the two Helm releases; the team namespaces and their NetworkPolicies;
    one service account per trained model, annotated
    as the platform says (GKE Workload Identity; EKS binds by association instead, and these
    objects wait for the associations); after the Kueue release (its CRDs), the
    ResourceFlavors, the ClusterQueue and the LocalQueues."""

    def __init__(self, plan: TrainingPlan, platform: Platform, opts: pulumi.ResourceOptions) -> None:
        super().__init__("tfplat:training:Platform", "training", None, opts)
        identity_annotations = platform.training_annotations
        base = pulumi.ResourceOptions(parent=self, depends_on=platform.training_ready)
        releases = {}
        fences = network_policies(plan)

        def fenced(namespace: str, created: pulumi.Resource) -> list[pulumi.Resource]:
            """The namespace and its NetworkPolicies, which exist before any pod in it."""
            after = pulumi.ResourceOptions.merge(base, pulumi.ResourceOptions(depends_on=[created]))
            return [created, *(register(f, after) for f in fences if f["metadata"]["namespace"] == namespace)]

        for ns, chart, values in ((KUEUE_NAMESPACE, plan.kueue, kueue.kueue_values(plan)),
                                  (JOBSET_NAMESPACE, plan.jobset, kueue.jobset_values(plan))):
            ready = fenced(ns, register(_system_namespace(ns, plan.environment), base))
            releases[chart.chart] = helm_release(
                chart.chart, chart, release_name=chart.chart, namespace=ns, values=values, timeout_s=HELM_TIMEOUT_S,
                opts=pulumi.ResourceOptions.merge(base, pulumi.ResourceOptions(depends_on=ready)))
        teams = {team: register(kueue.team_namespace(plan, team), base) for team in sorted(plan.namespaces)}
        for team, created in teams.items():
            fenced(plan.namespaces[team], created)
        by_namespace = {plan.namespaces[t]: ns for t, ns in teams.items()}
        for model, identity in plan.identities.items():
            register(kueue.service_account(identity, identity_annotations.get(model, {})),
                     pulumi.ResourceOptions.merge(base, pulumi.ResourceOptions(
                         depends_on=[by_namespace[identity.namespace]])))
        after_kueue = pulumi.ResourceOptions.merge(base, pulumi.ResourceOptions(
            depends_on=[releases[plan.kueue.chart], releases[plan.jobset.chart], *teams.values()]))
        for obj in kueue.platform_objects(plan):
            register(obj, after_kueue)
        outputs: dict[str, Any] = {
                   "clusterQueue": plan.cluster_queue, "localQueue": plan.local_queue,
                   "namespaces": dict(plan.namespaces), "flavors": [f.name for f in plan.flavors],
                   "releases": {c.chart: c.version for c in (plan.kueue, plan.jobset)},
                   "checkpointBucket": platform.checkpoint_bucket}
        self.outputs = outputs
        self.register_outputs(outputs)
        pulumi.export("training", outputs)
