"""The AWS Load Balancer Controller on EKS, so Gateway API objects become ALBs.

Everything decided here comes from infra.plan.aws_lbc; this module only creates resources,
in the order the controller needs them:

    IAM role, inline policy, Pod Identity association --+
    Gateway API CRDs, LBC Gateway CRDs -----------------+--> Helm release (the controller)
    Gateway API CRDs, LBC Gateway CRDs --> GatewayClass

The controller decides once, at start-up, whether its Gateway controllers run, so both CRD
bundles exist before the release; and EKS Pod Identity injects credentials only into pods
created after the association exists, so the release waits for that too.
"""

from __future__ import annotations

import pulumi

from infra.components.aws import EksCluster, pod_identity_role
from infra.components.kube import helm_release, register
from infra.plan import aws_lbc as lbc
from infra.plan.aws_controllers import ClusterScope, policy_json
from infra.plan.cloud import CloudPlan

HELM_TIMEOUT_S = 600  # two small pods and their webhook; minutes only if nodes are short


class AwsLoadBalancerController(pulumi.ComponentResource):
    """The AWS Load Balancer Controller, its AWS identity, the CRDs it serves and the
    GatewayClass AWS stacks' Gateways name.

    Children, all with parent=self: an IAM role trusted by EKS Pod Identity for the
    controller's service account only, its inline policy (infra.plan.aws_lbc.
    controller_policy), the Pod Identity association (after the cluster's pod identity
    agent add-on), the pinned Gateway API and LBC Gateway CRD bundles (ConfigFiles from
    release URLs in images/versions.yaml), the pinned chart as a Helm release in
    kube-system, and the GatewayClass.

    `gateway_class_name` is what Gateways must use; `ready` is what a Gateway must depend
    on (CRDs, controller, GatewayClass): that order also makes `pulumi destroy` delete
    Gateways, and the controller its ALBs, before the controller goes away.
    """

    def __init__(self, name: str, plan: CloudPlan, cluster: EksCluster, vpc_id: pulumi.Input[str], *,
                 k8s_provider: pulumi.ProviderResource, opts: pulumi.ResourceOptions) -> None:
        super().__init__("tfplat:aws:LoadBalancerController", name, None, opts)
        import pulumi_kubernetes as k8s

        pins = lbc.controller_pins()
        in_cluster = pulumi.ResourceOptions(parent=self, provider=k8s_provider)

        role, identity = pod_identity_role(
            name, plan=plan, cluster=cluster, role_name=lbc.role_name(plan.prefix),
            description=f"AWS Load Balancer Controller of {plan.cluster_name}",
            trust=lbc.pod_identity_trust(plan.cluster_name), namespace=lbc.NAMESPACE,
            service_account=lbc.SERVICE_ACCOUNT, parent=self,
            policy=lambda arn: policy_json(lbc.controller_policy(ClusterScope.from_cluster_arn(arn))))

        self.crds: list[pulumi.Resource] = [
            k8s.yaml.v2.ConfigFile(f"{name}-{pin.key}", file=pin.url, opts=in_cluster) for pin in pins.crds]
        c = pins.chart
        self.release = helm_release(
            name, c, release_name=lbc.RELEASE_NAME, namespace=lbc.NAMESPACE, values=lbc.helm_values(plan, vpc_id),
            timeout_s=HELM_TIMEOUT_S,
            # The chart's own crds/ (TargetGroupBinding, IngressClassParams, ...) install
            # with it; Helm skips any that exist, so the bundles above stay ours.
            skip_crds=False,
            opts=pulumi.ResourceOptions(parent=self, provider=k8s_provider, depends_on=[*self.crds, *identity]))
        self.gateway_class = register(lbc.gateway_class(), pulumi.ResourceOptions(
            parent=self, provider=k8s_provider, depends_on=self.crds))

        self.gateway_class_name: str = lbc.GATEWAY_CLASS_NAME
        self.ready: list[pulumi.Resource] = [*self.crds, self.release, self.gateway_class]
        self.role_arn = role.arn
        self.register_outputs({"gatewayClass": self.gateway_class_name, "role": role.arn,
                               "chart": f"{c.chart}-{c.version}"})
