"""The training platform of a stack: cloud side (checkpoint bucket, training identities) and
cluster side (Kueue and JobSet from their pinned charts, team namespaces with their
LocalQueues, the ClusterQueue and a ResourceFlavor per training pool, each trained model's
service account). Jobs themselves are submissions (`tfplat train`), not resources here."""

from __future__ import annotations

from typing import Any

import pulumi

from infra.components.platform import Platform
from infra.components.kube import helm_release, register
from infra.plan.stack import StackPlan
from infra.plan.training import kueue
from infra.plan.training.platform import JOBSET_NAMESPACE, KUEUE_NAMESPACE, TrainingPlan

HELM_TIMEOUT_S = 600


def _system_namespace(name: str, environment: str) -> dict[str, Any]:
    from infra.plan.manifests.serving import namespace

    return namespace(name, environment)


class TrainingPlatform(pulumi.ComponentResource):
    """Children (parent=self): the kueue-system and jobset-system namespaces and the two Helm
    releases; the team namespaces; one service account per trained model, annotated by
    `identity_annotations` (GKE Workload Identity; EKS binds by association instead); after
    the Kueue release (its CRDs), the ResourceFlavors, the ClusterQueue and the LocalQueues."""

    def __init__(self, plan: TrainingPlan, *, identity_annotations: dict[str, dict[str, Any]],
                 depends_on: list[pulumi.Resource], opts: pulumi.ResourceOptions) -> None:
        super().__init__("tfplat:training:Platform", "training", None, opts)
        base = pulumi.ResourceOptions(parent=self, depends_on=depends_on)
        releases = {}
        for ns, chart, values in ((KUEUE_NAMESPACE, plan.kueue, kueue.kueue_values(plan)),
                                  (JOBSET_NAMESPACE, plan.jobset, kueue.jobset_values(plan))):
            namespace = register(_system_namespace(ns, plan.environment), base)
            releases[chart.chart] = helm_release(
                chart.chart, chart, release_name=chart.chart, namespace=ns, values=values, timeout_s=HELM_TIMEOUT_S,
                opts=pulumi.ResourceOptions.merge(base, pulumi.ResourceOptions(depends_on=[namespace])))
        teams = {team: register(kueue.team_namespace(plan, team), base) for team in sorted(plan.namespaces)}
        by_namespace = {plan.namespaces[t]: ns for t, ns in teams.items()}
        for model, identity in plan.identities.items():
            register(kueue.service_account(identity, identity_annotations.get(model, {})),
                     pulumi.ResourceOptions.merge(base, pulumi.ResourceOptions(
                         depends_on=[by_namespace[identity.namespace]])))
        after_kueue = pulumi.ResourceOptions.merge(base, pulumi.ResourceOptions(
            depends_on=[releases[plan.kueue.chart], releases[plan.jobset.chart], *teams.values()]))
        for obj in kueue.platform_objects(plan):
            register(obj, after_kueue)
        outputs = {"clusterQueue": plan.cluster_queue, "localQueue": plan.local_queue,
                   "namespaces": dict(plan.namespaces), "flavors": [f.name for f in plan.flavors],
                   "releases": {c.chart: c.version for c in (plan.kueue, plan.jobset)}}
        self.outputs = outputs
        self.register_outputs(outputs)


def build_training(plan: StackPlan, platform: Platform, k8s: pulumi.ResourceOptions) -> TrainingPlatform:
    """The cloud pieces (checkpoint bucket, one identity per trained model), then the cluster's."""
    tp, stack = plan.training, plan.stack
    assert tp is not None
    annotations: dict[str, dict[str, Any]] = {}
    ready: list[pulumi.Resource] = []
    if stack.cloud == "gcp":
        from infra.components.gcp_training import GcpTrainingIdentity, GcsCheckpointBucket

        assert stack.gcp is not None
        ckpt = GcsCheckpointBucket("checkpoints", tp.checkpoint_bucket, stack.gcp,
                                   protect=plan.cloud.deletion_protection, opts=pulumi.ResourceOptions())
        for model, identity in tp.identities.items():
            gsa = GcpTrainingIdentity(f"training-{model}", identity, stack.gcp, cluster=platform.cluster,
                                      depends_on=[ckpt], opts=pulumi.ResourceOptions())
            annotations[model] = {"iam.gke.io/gcp-service-account": gsa.email}
        bucket: Any = ckpt.bucket.name
    else:
        from infra.components.aws_training import AwsTrainingIdentity, S3CheckpointBucket

        s3 = S3CheckpointBucket("checkpoints", tp.checkpoint_bucket, plan.cloud, opts=pulumi.ResourceOptions())
        for model, identity in tp.identities.items():
            role = AwsTrainingIdentity(f"training-{model}", identity, plan.cloud, platform.eks,
                                       kms_key=tp.checkpoint_bucket.kms_key,
                                       opts=pulumi.ResourceOptions(depends_on=[s3]))
            ready += role.ready  # pods get credentials only once the association exists
        bucket = s3.bucket.bucket
    platform = TrainingPlatform(tp, identity_annotations=annotations, depends_on=ready, opts=k8s)
    pulumi.export("training", {**platform.outputs, "checkpointBucket": bucket})
    return platform
