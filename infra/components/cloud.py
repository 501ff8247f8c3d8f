"""The cloud layer of a stack and the Kubernetes provider built from its cluster."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from infra.plan.kubeconfig import eks_kubeconfig, gke_kubeconfig
from infra.plan.manifests.device_plugin import daemonset
from infra.plan.manifests.device_plugin import network_policy as device_plugin_network_policy
from infra.plan.stack import StackPlan


@dataclass
class CloudResult:
    provider: pulumi.ProviderResource
    cluster: pulumi.Resource
    exports: dict[str, Any]
    gateway_ready: list[pulumi.Resource]  # what a Gateway must wait for (CRDs, controller)


def _pool_exports(plan: StackPlan) -> dict[str, Any]:
    return {p.key: {"pool": p.pool, "machineType": p.machine_type, "accelerator": p.accelerator or "cpu",
                    "acceleratorsPerNode": p.gpus_per_node, "tpuTopology": p.tpu_topology,
                    "minNodes": p.min_nodes, "maxNodes": p.max_nodes, "spot": p.spot, "zones": list(p.zones)}
            for p in plan.cloud.pools.values()}


def build_cloud(plan: StackPlan) -> CloudResult:
    import pulumi_kubernetes as k8s

    cp, stack = plan.cloud, plan.stack
    if stack.cloud == "gcp":
        from infra.components.gcp import GcpNetwork, GcsModelStore, GkeCluster

        assert stack.gcp is not None
        net = GcpNetwork("network", cp, stack.gcp, pulumi.ResourceOptions())
        gke = GkeCluster("gke", cp, stack.gcp, net.refs, opts=pulumi.ResourceOptions(depends_on=[net]))
        store = GcsModelStore("models", cp, stack.gcp, cluster=gke.cluster, opts=pulumi.ResourceOptions())
        kubeconfig: pulumi.Output[str] = pulumi.Output.all(gke.endpoint, gke.ca_certificate).apply(
            lambda a: gke_kubeconfig(name=cp.cluster_name, endpoint=a[0], ca_b64=a[1]))
        cluster: pulumi.Resource = gke.cluster
        last_pools: list[pulumi.Resource] = list(gke.node_pools.values())
        endpoint, bucket, identity = gke.endpoint, store.bucket.name, store.identity
    else:
        from infra.components.aws import AwsNetwork, EksCluster, S3ModelStore

        assert stack.aws is not None
        anet = AwsNetwork("network", cp, stack.aws, opts=pulumi.ResourceOptions())
        eks = EksCluster("eks", cp, anet, opts=pulumi.ResourceOptions(depends_on=[anet]))
        s3 = S3ModelStore("models", cp, eks, opts=pulumi.ResourceOptions())
        kubeconfig = pulumi.Output.all(eks.endpoint, eks.ca_certificate).apply(
            lambda a: eks_kubeconfig(name=cp.cluster_name, endpoint=a[0], ca_b64=a[1], region=cp.region))
        cluster = eks.cluster
        last_pools = list(eks.node_groups.values())
        endpoint, bucket, identity = eks.endpoint, s3.bucket.bucket, s3.identity

    secret_kubeconfig: pulumi.Output[str] = pulumi.Output.secret(kubeconfig)
    provider = k8s.Provider("cluster", kubeconfig=secret_kubeconfig, enable_server_side_apply=True,
                            # Objects wait for nodes: nothing schedules before the pools exist.
                            opts=pulumi.ResourceOptions(depends_on=[cluster, *last_pools]))
    if cp.device_plugin_gpus:
        from infra.components.kube import register

        assert cp.device_plugin_image is not None
        register(daemonset(cp.device_plugin_image, cp.device_plugin_gpus),
                 pulumi.ResourceOptions(provider=provider))
        register(device_plugin_network_policy(), pulumi.ResourceOptions(provider=provider))
    if cp.cluster_autoscaler:
        from infra.components.aws_autoscaler import ClusterAutoscaler

        # EKS node groups only have bounds; the autoscaler moves them with pending pods
        # (GKE node pools autoscale on their own).
        ClusterAutoscaler("cluster-autoscaler", cp, eks, k8s_provider=provider,
                          opts=pulumi.ResourceOptions(depends_on=[eks]))
    gateway_ready: list[pulumi.Resource] = []
    if cp.load_balancer_controller:
        from infra.components.aws_lbc import AwsLoadBalancerController

        # EKS has no Gateway API implementation of its own: the AWS Load Balancer
        # Controller (with the Gateway API CRDs) turns the Gateway into an ALB.
        lbc = AwsLoadBalancerController("lb-controller", cp, eks, anet.vpc_id, k8s_provider=provider,
                                        opts=pulumi.ResourceOptions(depends_on=[eks]))
        gateway_ready = lbc.ready
    exports = {"cluster": {"name": cp.cluster_name, "endpoint": endpoint, "location": cp.location},
               "nodePools": _pool_exports(plan), "buckets": {"models": bucket},
               "servingIdentity": identity}
    return CloudResult(provider=provider, cluster=cluster, exports=exports, gateway_ready=gateway_ready)
