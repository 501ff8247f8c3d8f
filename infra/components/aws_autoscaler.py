"""The Kubernetes Cluster Autoscaler on EKS, so pending pods get nodes and idle nodes go.

Everything decided here comes from infra.plan.aws_autoscaler; this module only creates
resources, in the order the autoscaler needs them:

    IAM role, inline policy, Pod Identity association --> Helm release (the autoscaler)

EKS Pod Identity injects credentials only into pods created after the association exists,
so the release waits for it (and for the policy, or the first pods would start without
permissions and back off).
"""

from __future__ import annotations

import pulumi

from infra.components.aws import EksCluster, pod_identity_role
from infra.components.kube import helm_release
from infra.plan import aws_autoscaler as ca
from infra.plan.aws_controllers import ClusterScope, policy_json
from infra.plan.cloud import CloudPlan

HELM_TIMEOUT_S = 600  # two small pods on the system pool


class ClusterAutoscaler(pulumi.ComponentResource):
    """The Kubernetes Cluster Autoscaler and its AWS identity.

    Children, all with parent=self: an IAM role trusted by EKS Pod Identity for the
    autoscaler's service account only, its inline policy (infra.plan.aws_autoscaler.
    autoscaler_policy, scoped by the cluster's ARN), the Pod Identity association (after
    the cluster's pod identity agent add-on), and the pinned chart as a Helm release in
    kube-system running the image of the cluster's Kubernetes minor.
    """

    def __init__(self, name: str, plan: CloudPlan, cluster: EksCluster, *,
                 k8s_provider: pulumi.ProviderResource, opts: pulumi.ResourceOptions) -> None:
        super().__init__("tfplat:aws:ClusterAutoscaler", name, None, opts)
        pins = ca.autoscaler_pins(plan.kubernetes_version)
        role, identity = pod_identity_role(
            name, plan=plan, cluster=cluster, role_name=ca.role_name(plan.prefix),
            description=f"Cluster autoscaler of {plan.cluster_name}", trust=ca.pod_identity_trust(plan.cluster_name),
            namespace=ca.NAMESPACE, service_account=ca.SERVICE_ACCOUNT, parent=self,
            policy=lambda arn: policy_json(ca.autoscaler_policy(ClusterScope.from_cluster_arn(arn))))

        c = pins.chart
        self.release = helm_release(
            name, c, release_name=ca.RELEASE_NAME, namespace=ca.NAMESPACE, values=ca.helm_values(plan, pins.image),
            timeout_s=HELM_TIMEOUT_S,
            opts=pulumi.ResourceOptions(parent=self, provider=k8s_provider, depends_on=identity))
        self.role_arn = role.arn
        self.register_outputs({"role": role.arn, "chart": f"{c.chart}-{c.version}", "image": pins.image.tag})
