"""ServingFleet: the Kubernetes objects of one model (both colors and its traffic)."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi

from infra.components.kube import register
from infra.plan.fleet import FleetPlan
from infra.plan.manifests import scaling as sc
from infra.plan.manifests import serving as m
from infra.plan.manifests import traffic as tr


class ServingFleet(pulumi.ComponentResource):
    """TensorFlow Serving for one model: per color a Deployment with its config, Service,
    PDB and KEDA ScaledObject (after the scaling engine: its CRDs come with it); a live
    Service; a NetworkPolicy; the serving ServiceAccount.

    Traffic objects depend on the Deployments they send traffic to, and pulumi-kubernetes
    waits for a Deployment to be Ready before it counts as created or updated, so traffic
    never moves to a color that is not Ready.
    """

    def __init__(self, fleet: FleetPlan, *, identity_annotations: dict[str, str], prometheus_url: str,
                 traffic: tr.TrafficPlan | None = None, gateway: pulumi.Resource | None = None,
                 scaling_engine: Sequence[pulumi.Resource] = (), depends_on: Sequence[pulumi.Resource] = (),
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("tfplat:serving:Fleet", fleet.name, None, opts)
        base = pulumi.ResourceOptions(parent=self, depends_on=list(depends_on))
        sa = register(m.service_account(fleet, identity_annotations), base)
        register(m.network_policy(fleet), base)
        deployments: dict[str, pulumi.Resource] = {}
        for color in fleet.colors:
            cm = register(m.config_map(fleet, color), base)
            dep = register(m.deployment(fleet, color), pulumi.ResourceOptions.merge(
                base, pulumi.ResourceOptions(depends_on=[cm, sa])))
            deployments[color.color] = dep
            after_dep = pulumi.ResourceOptions.merge(base, pulumi.ResourceOptions(depends_on=[dep]))
            register(m.color_service(fleet, color), after_dep)
            register(m.pod_disruption_budget(fleet, color), after_dep)
            register(sc.scaled_object(fleet, color, prometheus_url), pulumi.ResourceOptions.merge(
                base, pulumi.ResourceOptions(depends_on=[dep, *scaling_engine])))
        live = register(m.live_service(fleet), pulumi.ResourceOptions.merge(
            base, pulumi.ResourceOptions(depends_on=[deployments[fleet.rollout.live]])))
        if traffic is not None and traffic.enabled:
            # The routes carry the canary weights: they wait for every color they send
            # traffic to, and the load balancer checks each color's own version.
            for color in fleet.colors:
                register(tr.health_check(fleet, color, traffic), pulumi.ResourceOptions.merge(
                    base, pulumi.ResourceOptions(depends_on=[deployments[color.color]])))
            targets = [deployments[c.color] for c in tr.serving_colors(fleet)]
            after = [*targets, *([gateway] if gateway is not None else [])]
            for route in tr.routes(fleet, traffic):
                register(route, pulumi.ResourceOptions.merge(base, pulumi.ResourceOptions(depends_on=after)))
        self.deployments = deployments
        self.live_service = live
        self.register_outputs(fleet.rollout_state())
