"""The plan of one stack: every decision the Pulumi program needs, computed up front."""

from __future__ import annotations

from dataclasses import dataclass, replace

from infra.config.spec import LoadedConfig, StackSpec
from infra.plan.admission import AdmissionPlan, plan_admission
from infra.plan.cloud import CloudPlan, plan_cloud
from infra.plan.cluster import gcp_serving_email, model_bucket_name, serving_identity_name
from infra.plan.edge import EdgePlan, plan_edge
from infra.plan.fleet import FleetPlan, plan_fleet
from infra.plan.manifests.traffic import TrafficPlan, plan_traffic
from infra.plan.monitoring.plan import MonitoringPlan, plan_monitoring
from infra.plan.monitoring.values import prometheus_url
from infra.plan.scaling.fleet import plan_scaling
from infra.plan.scaling.keda import KedaPlan, plan_keda
from infra.plan.training.platform import TrainingPlan, plan_training
from infra.rules.placement import matching_pools


@dataclass(frozen=True, kw_only=True)
class StackPlan:
    stack: StackSpec
    fleets: tuple[FleetPlan, ...]  # sorted by model name
    model_bucket: str
    serving_identity: str
    cloud: CloudPlan
    traffic: TrafficPlan
    edge: EdgePlan | None  # None: no edge distribution in this stack
    monitoring: MonitoringPlan | None  # None: tfplat:monitoring.enabled is false
    admission: AdmissionPlan  # the image admission policies (allowed sources, digests)
    training: TrainingPlan | None = None  # None: this stack does not train
    keda: KedaPlan | None = None  # the scaling engine (every stack with fleets)

    @property
    def prometheus_url(self) -> str:
        """Where KEDA's triggers read (the monitoring layer's Prometheus)."""
        return prometheus_url(self.stack.monitoring.namespace)

    def identity_annotations(self) -> dict[str, str]:
        """Annotations binding a serving KSA to the cloud identity.

        GKE Workload Identity needs the GSA on the KSA. EKS Pod Identity binds through
        an association resource instead, so the KSA carries nothing.
        """
        if self.stack.cloud == "gcp":
            return {"iam.gke.io/gcp-service-account": gcp_serving_email(self.stack)}
        return {}


def plan_stack(loaded: LoadedConfig) -> StackPlan:
    stack = loaded.stack
    fleets = tuple(
        plan_fleet(stack, model, rollout, matching_pools(stack.node_pools.values(), model.serving.accelerator))
        for model, rollout in loaded.deployed()
    )
    cloud = plan_cloud(stack, tuple(f.service_account for f in fleets))
    pools = tuple(cloud.pools.values())
    fleets = tuple(replace(f, scaling=plan_scaling(stack, f, pools)) for f in fleets)
    system_taints = tuple(t for p in cloud.pools.values() if p.role == "system" for t in p.taints)
    monitoring = plan_monitoring(stack, fleets)
    training = plan_training(stack, loaded.models, cloud, system_taints)
    keda = plan_keda(stack.environment, system_taints) if fleets else None
    admission = plan_admission(stack, fleets, cloud, monitoring, training=training, models=loaded.models, keda=keda)
    return StackPlan(stack=stack, fleets=fleets, model_bucket=model_bucket_name(stack),
                     serving_identity=serving_identity_name(stack), cloud=cloud,
                     traffic=plan_traffic(stack), edge=plan_edge(stack), monitoring=monitoring,
                     admission=admission, training=training, keda=keda)
