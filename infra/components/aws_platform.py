"""The AWS platform of a stack: VPC, EKS cluster and node groups, model bucket, serving
identity, the Kubernetes provider built from the cluster, and what EKS needs in it: the
cluster autoscaler, the load balancer controller (Gateways) and the NVIDIA device plugin
(infra.components.aws* hold the pieces; infra.components.platform says what a platform is)."""

from __future__ import annotations

import pulumi

from infra.components.aws import AwsNetwork, EksCluster, S3ModelStore
from infra.components.kube import register
from infra.components.platform import Platform
from infra.config.spec import AwsSettings
from infra.plan.cloud import CloudPlan
from infra.plan.kubeconfig import eks_kubeconfig
from infra.plan.manifests.device_plugin import daemonset
from infra.plan.manifests.device_plugin import network_policy as device_plugin_network_policy
from infra.plan.manifests.device_plugin import service_account as device_plugin_service_account
from infra.plan.storage import storage_class
from infra.plan.training.platform import TrainingPlan


class AwsPlatform(Platform):
    """Children (parent=self, each aliased to its place before platforms existed):
    `network` (tfplat:aws:Network), `eks` (tfplat:aws:Cluster, after the network), `models`
    (tfplat:aws:ModelStore), the Kubernetes provider `cluster`, and as the plan says: the
    NVIDIA device plugin DaemonSet and its NetworkPolicy, `cluster-autoscaler`
    (tfplat:aws:ClusterAutoscaler) and `lb-controller` (tfplat:aws:LoadBalancerController)."""

    def __init__(self, name: str, plan: CloudPlan, settings: AwsSettings,
                 opts: pulumi.ResourceOptions | None = None, *, training: TrainingPlan | None = None) -> None:
        super().__init__("tfplat:aws:Platform", name, None, opts)
        net = AwsNetwork("network", plan, settings, opts=self.moved())
        eks = EksCluster("eks", plan, net, account=settings.account_id, opts=self.moved(depends_on=[net]))
        store = S3ModelStore("models", plan, eks, opts=self.moved())
        kubeconfig: pulumi.Output[str] = pulumi.Output.all(eks.endpoint, eks.ca_certificate).apply(
            lambda a: eks_kubeconfig(name=plan.cluster_name, endpoint=a[0], ca_b64=a[1], region=plan.region))
        provider = self._kubernetes_provider(kubeconfig, [eks.cluster, *eks.node_groups.values()])
        self.provider = provider
        if plan.storage_class is not None:
            # EKS has no default StorageClass: the stack's volumes (Prometheus, Alertmanager) use this one.
            key = eks.disk_key.arn if eks.disk_key is not None else None
            register(storage_class(plan.storage_class, key), pulumi.ResourceOptions(parent=self, provider=provider))
        self._no_training()
        if training is not None:
            self._training(training, plan, eks)
        if plan.device_plugin_gpus:
            assert plan.device_plugin_image is not None
            account = register(device_plugin_service_account(), pulumi.ResourceOptions(parent=self, provider=provider))
            register(daemonset(plan.device_plugin_image, plan.device_plugin_gpus),
                     pulumi.ResourceOptions.merge(self.moved(provider=provider),
                                                  pulumi.ResourceOptions(depends_on=[account])))
            register(device_plugin_network_policy(), self.moved(provider=provider))
        if plan.cluster_autoscaler:
            from infra.components.aws_autoscaler import ClusterAutoscaler

            # EKS node groups only have bounds; the autoscaler moves them with pending pods.
            ClusterAutoscaler("cluster-autoscaler", plan, eks, k8s_provider=provider,
                              opts=self.moved(depends_on=[eks]))
        gateway_ready: list[pulumi.Resource] = []
        if plan.load_balancer_controller:
            from infra.components.aws_lbc import AwsLoadBalancerController

            # EKS has no Gateway API implementation of its own: the AWS Load Balancer
            # Controller (with the Gateway API CRDs) turns the Gateway into an ALB.
            lbc = AwsLoadBalancerController("lb-controller", plan, eks, net.vpc_id, k8s_provider=provider,
                                            opts=self.moved(depends_on=[eks]))
            gateway_ready = lbc.ready
        self._finish(plan, endpoint=eks.endpoint, bucket=store.bucket.bucket, identity=store.identity,
                     gateway_ready=gateway_ready)

    def _training(self, training: TrainingPlan, plan: CloudPlan, eks: EksCluster) -> None:
        """`checkpoints` (tfplat:training:S3CheckpointBucket) and `training-<model>`
        (tfplat:training:AwsIdentity) per trained model."""
        from infra.components.aws_training import AwsTrainingIdentity, S3CheckpointBucket

        s3 = S3CheckpointBucket("checkpoints", training.checkpoint_bucket, plan,
                                opts=pulumi.ResourceOptions(parent=self))
        for model, identity in training.identities.items():
            role = AwsTrainingIdentity(f"training-{model}", identity, plan, eks,
                                       kms_key=training.checkpoint_bucket.kms_key,
                                       opts=pulumi.ResourceOptions(parent=self, depends_on=[s3]))
            self.training_ready += role.ready  # pods get credentials only once the association exists
        self.checkpoint_bucket = s3.bucket.bucket
