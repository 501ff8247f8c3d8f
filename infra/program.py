"""The Pulumi program: config -> plan -> components. `pulumi up` runs this via infra/__main__.py.

Config comes from the Pulumi engine (so `pulumi config set`, secrets and ESC all work) and
goes through the same loader as the offline plan. On a config mistake every issue is
logged and the program stops before registering a single resource.
"""

from __future__ import annotations

import pulumi

from infra.config.errors import ConfigError
from infra.config.loader import LoadedConfig, load, project_root, stack_file
from infra.config.schema import load_schema
from infra.config.yamlio import read_yaml
from infra.plan.stack import StackPlan, plan_stack


def _engine_config(stack: str) -> tuple[dict[str, str], frozenset[str]]:
    """Every config key this program knows or the stack file names, as the engine has it."""
    root = project_root()
    keys = set(load_schema("stack")["properties"]["config"]["properties"])
    doc, _ = read_yaml(stack_file(root, stack), "")
    if doc is not None and isinstance(doc.data.get("config"), dict):
        keys |= set(doc.data["config"])
    values: dict[str, str] = {}
    secret: set[str] = set()
    for key in sorted(keys):
        value = pulumi.runtime.get_config(key)
        if value is None:
            continue
        values[key] = value
        if pulumi.runtime.is_config_secret(key):
            secret.add(key)
    return values, frozenset(secret)


def load_config() -> LoadedConfig:
    stack = pulumi.get_stack()
    values, secret = _engine_config(stack)
    try:
        loaded = load(project_root(), stack, engine_config=values, engine_secret_keys=secret)
    except ConfigError as err:
        for issue in err.issues:
            pulumi.log.error(issue.render())
        raise pulumi.RunError(f"{len(err.issues)} configuration error(s); nothing was changed") from None
    for notice in loaded.notices:
        pulumi.log.warn(notice)
    return loaded


def build(plan: StackPlan) -> None:
    """Register every resource of the plan."""
    from infra.components.kube import register
    from infra.components.platform import build_platform
    from infra.components.serving import ServingFleet
    from infra.plan.manifests.admission import admission_objects
    from infra.plan.manifests.serving import namespace
    from infra.plan.manifests.traffic import gateway as gateway_manifest
    from infra.plan.manifests.traffic import https_redirect, load_balancer_configuration

    platform = build_platform(plan)
    # Every Kubernetes object goes through the provider built from this stack's cluster.
    k8s = pulumi.ResourceOptions(provider=platform.provider)
    # The image admission policies exist before the serving pods (bindings after their
    # policies): the serving namespace, which every fleet waits for, comes after them. The
    # charts' controllers may start first; the API server judges their pods when they are
    # next created (a rollout, a node replacement).
    objects = admission_objects(plan.admission)
    policies = [register(o, k8s) for o in objects if o["kind"] == "ValidatingAdmissionPolicy"]
    after_policies = pulumi.ResourceOptions.merge(k8s, pulumi.ResourceOptions(depends_on=policies))
    admission = [*policies, *(register(o, after_policies) for o in objects if o["kind"] != "ValidatingAdmissionPolicy")]
    ns = register(namespace(plan.stack.serving.namespace, plan.stack.environment),
                  pulumi.ResourceOptions.merge(k8s, pulumi.ResourceOptions(depends_on=admission)))
    annotations = plan.identity_annotations()
    traffic = plan.traffic
    gateway = None
    if traffic.enabled:
        before_gateway = [ns, *platform.gateway_ready]
        if traffic.cloud == "aws":
            # The controller reads the ALB's settings (scheme, HTTPS certificate) when it
            # first reconciles the Gateway: they exist before it does.
            before_gateway.append(register(load_balancer_configuration(traffic), pulumi.ResourceOptions.merge(
                k8s, pulumi.ResourceOptions(depends_on=[ns, *platform.gateway_ready]))))
        gateway = register(gateway_manifest(traffic), pulumi.ResourceOptions.merge(
            k8s, pulumi.ResourceOptions(depends_on=before_gateway)))
        if traffic.tls:
            register(https_redirect(traffic),
                     pulumi.ResourceOptions.merge(k8s, pulumi.ResourceOptions(depends_on=[gateway])))
    engine: list[pulumi.Resource] = []
    if plan.keda is not None:
        from infra.components.scaling import ScalingEngine

        engine.append(ScalingEngine(plan.keda, k8s).release)
    for fleet in plan.fleets:
        ServingFleet(fleet, identity_annotations=annotations, prometheus_url=plan.prometheus_url, traffic=traffic,
                     gateway=gateway, scaling_engine=engine, depends_on=[ns], opts=k8s)
    if plan.training is not None:
        from infra.components.training import TrainingPlatform

        TrainingPlatform(plan.training, platform, k8s)
    if plan.monitoring is not None:
        from infra.components.monitoring import Observability

        Observability(plan.monitoring, k8s)
    for key, value in platform.exports.items():
        pulumi.export(key, value)
    if plan.edge is not None:
        from infra.components.edge import EdgeDistribution

        dist = EdgeDistribution("edge", plan.edge, project=plan.stack.gcp.project if plan.stack.gcp else None)
        pulumi.export("edge", dist.exports)
    pulumi.export("models", {f.name: f.rollout_state() for f in plan.fleets})


def main() -> StackPlan:
    """The program `pulumi up` runs; returns the plan it built (the offline plan reports it)."""
    plan = plan_stack(load_config())
    build(plan)
    return plan
