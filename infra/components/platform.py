"""One component per cloud platform, behind the one interface the program calls.

A platform owns everything of its cloud under a stack: the network, the cluster and its
node pools, the model bucket and serving identity, what the cloud needs in the cluster
(on EKS: the cluster autoscaler, the load balancer controller, the NVIDIA device plugin),
and the Kubernetes provider built from the cluster, through which every Kubernetes object
of the stack goes. Everything it builds is decided in the plan (infra.plan.cloud).

Resource names are a contract. These components became the parents of resources that sat
at the top of the stack before; each direct child keeps its name and carries an alias to
its old place, and the engine carries that alias down to the child's own children, so
`pulumi up` replaces nothing (docs/upgrading.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi

from infra.plan.cloud import CloudPlan
from infra.plan.stack import StackPlan

#: Where the platform's direct children were registered before the platforms existed.
WAS_AT_THE_TOP = pulumi.Alias(parent=pulumi.ROOT_STACK_RESOURCE)


class Platform(pulumi.ComponentResource):
    """What the program uses of a cloud platform (GcpPlatform, AwsPlatform).

    provider: the Kubernetes provider of the stack's cluster; it depends on the cluster and
    every node pool, so nothing is scheduled before there are nodes.
    gateway_ready: what a Gateway must be created after (EKS: CRDs, controller, class).
    exports: the stack outputs of the cloud (cluster, nodePools, buckets, servingIdentity).
    """

    provider: pulumi.ProviderResource
    gateway_ready: list[pulumi.Resource]
    exports: dict[str, Any]
    # Training (a stack with tfplat:training): each trained model's service-account
    # annotations (GKE Workload Identity; EKS binds by association), what training pods must
    # wait for (EKS: the associations), and the checkpoint bucket's name.
    training_annotations: dict[str, dict[str, Any]]
    training_ready: list[pulumi.Resource]
    checkpoint_bucket: pulumi.Input[str] | None

    def moved(self, *, depends_on: Sequence[pulumi.Resource] = (),
              provider: pulumi.ProviderResource | None = None) -> pulumi.ResourceOptions:
        """Options of a direct child that was registered at the top of the stack before."""
        return pulumi.ResourceOptions(parent=self, aliases=[WAS_AT_THE_TOP], depends_on=list(depends_on),
                                      provider=provider)

    def _kubernetes_provider(self, kubeconfig: pulumi.Output[str],
                             depends_on: Sequence[pulumi.Resource]) -> pulumi.ProviderResource:
        import pulumi_kubernetes as k8s

        secret_kubeconfig: pulumi.Output[str] = pulumi.Output.secret(kubeconfig)
        # Objects wait for nodes: nothing schedules before the pools exist.
        return k8s.Provider("cluster", kubeconfig=secret_kubeconfig, enable_server_side_apply=True,
                            opts=self.moved(depends_on=depends_on))

    def _no_training(self) -> None:
        self.training_annotations, self.training_ready, self.checkpoint_bucket = {}, [], None

    def _finish(self, plan: CloudPlan, *, endpoint: pulumi.Input[str], bucket: pulumi.Input[str],
                identity: pulumi.Input[str], gateway_ready: Sequence[pulumi.Resource] = ()) -> None:
        self.gateway_ready = list(gateway_ready)
        self.exports = {"cluster": {"name": plan.cluster_name, "endpoint": endpoint, "location": plan.location},
                        "nodePools": _pool_exports(plan), "buckets": {"models": bucket},
                        "servingIdentity": identity}
        self.register_outputs(self.exports)


def _pool_exports(plan: CloudPlan) -> dict[str, Any]:
    return {p.key: {"pool": p.pool, "machineType": p.machine_type, "accelerator": p.accelerator or "cpu",
                    "acceleratorsPerNode": p.gpus_per_node, "tpuTopology": p.tpu_topology,
                    "minNodes": p.min_nodes, "maxNodes": p.max_nodes, "spot": p.spot, "zones": list(p.zones)}
            for p in plan.pools.values()}


def build_platform(plan: StackPlan) -> Platform:
    """The stack's cloud platform (each cloud's SDK is imported only when its stack runs)."""
    stack = plan.stack
    if stack.cloud == "gcp":
        from infra.components.gcp_platform import GcpPlatform

        assert stack.gcp is not None
        return GcpPlatform("platform", plan.cloud, stack.gcp, plan.admission, training=plan.training)
    from infra.components.aws_platform import AwsPlatform

    assert stack.aws is not None
    return AwsPlatform("platform", plan.cloud, stack.aws, training=plan.training)
