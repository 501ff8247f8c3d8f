"""ScalingEngine: KEDA from its pinned chart, in its own namespace (once per stack)."""

from __future__ import annotations

import pulumi

from infra.components.kube import helm_release, register
from infra.plan.manifests.serving import namespace
from infra.plan.scaling.keda import HELM_TIMEOUT_S, KedaPlan, network_policies


class ScalingEngine(pulumi.ComponentResource):
    """KEDA's operator, metrics API server and admission webhooks (Helm release `keda`, CRDs
    included) in the `keda` namespace. The serving fleets' ScaledObjects wait for it."""

    def __init__(self, plan: KedaPlan, opts: pulumi.ResourceOptions) -> None:
        super().__init__("tfplat:scaling:Engine", "scaling", None, opts)
        base = pulumi.ResourceOptions(parent=self)
        ns = register(namespace(plan.namespace, plan.environment), base)
        after_ns = pulumi.ResourceOptions.merge(base, pulumi.ResourceOptions(depends_on=[ns]))
        # The namespace's NetworkPolicies exist before any KEDA pod does.
        fences = [register(f, after_ns) for f in network_policies(plan)]
        self.release = helm_release(plan.release, plan.chart, release_name=plan.release, namespace=plan.namespace,
                                    values=plan.values, timeout_s=HELM_TIMEOUT_S,
                                    opts=pulumi.ResourceOptions.merge(
                                        base, pulumi.ResourceOptions(depends_on=[ns, *fences])))
        self.register_outputs({"release": plan.release, "chart": f"{plan.chart.chart} {plan.chart.version}"})
