"""Observability: Prometheus, Alertmanager, Grafana, GPU/TPU metrics and tracing for a stack."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi

from infra.components.kube import helm_release, register
from infra.plan.manifests import monitoring as m
from infra.plan.manifests import monitoring_access
from infra.plan.monitoring.plan import KPS_RELEASE, MonitoringPlan, ReleasePlan

HELM_TIMEOUT_S = 900  # kube-prometheus-stack waits for its operator, webhooks and PVCs


class Observability(pulumi.ComponentResource):
    """The monitoring namespace and everything in it, from the stack plan's `monitoring`.

    Children, all with parent=self (so a provider passed in `opts` reaches every one):
    the namespace; the Grafana admin Secret (password from tfplat:monitoring.grafana.
    admin_password, else a generated RandomPassword kept as a Pulumi secret); the
    Alertmanager receivers Secret when receivers are configured; the Helm releases
    (kube-prometheus-stack first, it installs the CRDs the others use); a PodMonitor and a
    PrometheusRule per model; dashboard ConfigMaps for Grafana's sidecar; the namespace's
    NetworkPolicies and the sidecar's Role (infra.plan.manifests.monitoring_access).
    """

    def __init__(self, mplan: MonitoringPlan, opts: pulumi.ResourceOptions | None = None, *,
                 depends_on: Sequence[pulumi.Resource] = ()) -> None:
        super().__init__("tfplat:monitoring:Observability", "observability", None, opts)
        self.plan = mplan
        base = pulumi.ResourceOptions(parent=self, depends_on=list(depends_on))
        ns = register(m.namespace(mplan), base)
        in_ns = pulumi.ResourceOptions.merge(base, pulumi.ResourceOptions(depends_on=[ns]))

        secrets = [register(m.grafana_admin_secret(mplan, self._grafana_password(mplan, base)), in_ns)]
        if mplan.receiver_secrets:
            data = {k: pulumi.Output.secret(v) for k, v in mplan.receiver_secrets.items()}
            secrets.append(register(m.receivers_secret(mplan, data), in_ns))

        # NetworkPolicies and the Grafana sidecars' Role exist before the charts' pods.
        access = [register(obj, in_ns) for obj in monitoring_access.access_objects(mplan)]
        after_secrets = pulumi.ResourceOptions.merge(in_ns, pulumi.ResourceOptions(depends_on=[*secrets, *access]))
        kps_plan = mplan.release(KPS_RELEASE)
        assert kps_plan is not None
        kps = self._release(mplan, kps_plan, after_secrets)
        after_crds = pulumi.ResourceOptions.merge(in_ns, pulumi.ResourceOptions(depends_on=[kps]))
        self.releases = {KPS_RELEASE: kps}
        for release in mplan.releases:
            if release.name != KPS_RELEASE:
                self.releases[release.name] = self._release(
                    mplan, release, after_crds if release.needs_monitoring_crds else in_ns)
        for obj in m.monitoring_objects(mplan):
            register(obj, after_crds)
        for obj in m.dashboard_objects(mplan):
            register(obj, in_ns)

        outputs: dict[str, Any] = {
            "namespace": mplan.namespace,
            "releases": {r.name: f"{r.chart.chart}-{r.chart.version}" for r in mplan.releases},
            "dashboards": sorted(mplan.dashboards),
            "otlpEndpoint": mplan.collector_endpoint,
        }
        self.outputs = outputs
        self.register_outputs(outputs)

    def _grafana_password(self, mplan: MonitoringPlan, base: pulumi.ResourceOptions) -> pulumi.Output[str]:
        given = mplan.grafana_admin_password
        if given:
            return pulumi.Output.secret(given)
        import pulumi_random

        generated = pulumi_random.RandomPassword("grafana-admin", length=32, special=False, opts=base)
        # result is already a secret output of the random provider; keep it explicit.
        return pulumi.Output.secret(generated.result)

    def _release(self, mplan: MonitoringPlan, release: ReleasePlan,
                 opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
        # fixed release name: object names derive from it
        return helm_release(release.name, release.chart, release_name=release.name, namespace=mplan.namespace,
                            values=release.values, timeout_s=HELM_TIMEOUT_S, opts=opts)
