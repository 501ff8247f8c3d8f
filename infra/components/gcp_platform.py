"""The GCP platform of a stack: VPC, GKE cluster and node pools, model bucket, serving
identity, and the Kubernetes provider built from the cluster (infra.components.gcp holds
the pieces; infra.components.platform says what a platform is)."""

from __future__ import annotations

import pulumi

from infra.components.gcp import GcpNetwork, GcsModelStore, GkeCluster
from infra.components.kube import register
from infra.components.platform import Platform
from infra.config.spec import GcpSettings
from infra.plan.admission import AdmissionPlan
from infra.plan.cloud import CloudPlan
from infra.plan.kubeconfig import gke_kubeconfig
from infra.plan.storage import storage_class
from infra.plan.training.platform import TrainingPlan


class GcpPlatform(Platform):
    """Children (parent=self, each aliased to its place before platforms existed):
    `network` (tfplat:gcp:Network), `gke` (tfplat:gcp:Cluster, after the network),
    `models` (tfplat:gcp:ModelStore) and the Kubernetes provider `cluster`. GKE brings its
    own Gateway API, node autoscaling and GPU device plugin, so nothing else is installed."""

    def __init__(self, name: str, plan: CloudPlan, settings: GcpSettings, admission: AdmissionPlan,
                 opts: pulumi.ResourceOptions | None = None, *, training: TrainingPlan | None = None) -> None:
        super().__init__("tfplat:gcp:Platform", name, None, opts)
        net = GcpNetwork("network", plan, settings, self.moved())
        gke = GkeCluster("gke", plan, settings, net.refs, admission=admission, opts=self.moved(depends_on=[net]))
        store = GcsModelStore("models", plan, settings, cluster=gke.cluster, opts=self.moved())
        kubeconfig: pulumi.Output[str] = pulumi.Output.all(gke.api_host, gke.ca_certificate).apply(
            lambda a: gke_kubeconfig(name=plan.cluster_name, endpoint=a[0], ca_b64=a[1]))
        self.provider = self._kubernetes_provider(kubeconfig, [gke.cluster, *gke.node_pools.values()])
        if plan.storage_class is not None:
            # The key's resource name is known up front (infra.plan.storage.gke_disk_key).
            register(storage_class(plan.storage_class, plan.disk_key),
                     pulumi.ResourceOptions(parent=self, provider=self.provider))
        self._no_training()
        if training is not None:
            self._training(training, plan, settings, gke.cluster)
        self._finish(plan, endpoint=gke.endpoint, bucket=store.bucket.name, identity=store.identity)

    def _training(self, training: TrainingPlan, plan: CloudPlan, settings: GcpSettings,
                  cluster: pulumi.Resource) -> None:
        """`checkpoints` (tfplat:training:GcsCheckpointBucket) and `training-<model>`
        (tfplat:training:GcpIdentity) per trained model."""
        from infra.components.gcp_training import GcpTrainingIdentity, GcsCheckpointBucket

        ckpt = GcsCheckpointBucket("checkpoints", training.checkpoint_bucket, settings,
                                   protect=plan.deletion_protection, opts=pulumi.ResourceOptions(parent=self))
        for model, identity in training.identities.items():
            gsa = GcpTrainingIdentity(f"training-{model}", identity, settings, cluster=cluster, depends_on=[ckpt],
                                      opts=pulumi.ResourceOptions(parent=self))
            self.training_annotations[model] = {"iam.gke.io/gcp-service-account": gsa.email}
        self.checkpoint_bucket = ckpt.bucket.name
