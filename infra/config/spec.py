"""Typed, frozen views of validated config: what models/*.yaml and a stack file say.

Built only from data that passed the JSON Schema and had its defaults filled in
(`infra.config.schema`), so constructors index keys directly: a KeyError here is a bug in
the schema, not a user mistake.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, TypeVar

from infra.config.release_spec import (
    MetricsSourceSpec,
    ReleaseMarker,
    ReleaseSettings,
    metrics_source,
    release_marker,
    release_settings,
)

Color = Literal["blue", "green"]
COLORS: tuple[Color, Color] = ("blue", "green")
Cloud = Literal["gcp", "aws"]

V = TypeVar("V")


def frozen_map(items: Mapping[str, V]) -> Mapping[str, V]:
    """Read-only mapping, keys sorted so iteration order never depends on file order."""
    return MappingProxyType({k: items[k] for k in sorted(items)})


# --------------------------------------------------------------------------- models


@dataclass(frozen=True, kw_only=True)
class TensorSpec:
    dtype: str
    shape: tuple[int, ...]


@dataclass(frozen=True, kw_only=True)
class Signature:
    name: str
    method: str
    inputs: Mapping[str, TensorSpec]
    outputs: Mapping[str, TensorSpec]


@dataclass(frozen=True, kw_only=True)
class ModelAccelerator:
    """kind cpu: type/topology None, count 0. gpu: count GPUs per pod. tpu: topology."""

    kind: Literal["cpu", "gpu", "tpu"]
    type: str | None
    count: int
    topology: str | None


@dataclass(frozen=True, kw_only=True)
class Resources:
    cpu: str
    memory: str
    memory_headroom_percent: int
    ephemeral_storage: str


@dataclass(frozen=True, kw_only=True)
class Batching:
    enabled: bool
    max_batch_size: int
    batch_timeout_micros: int
    max_enqueued_batches: int | None  # None: derived (infra.rules.scaling, the queue rule)
    num_batch_threads: int
    allowed_batch_sizes: tuple[int, ...]
    pad_variable_length_inputs: bool
    batch_execution_ms: float | None = None  # None: a quarter of the latency objective
    enable_large_batch_splitting: bool | None = None  # None: on for GPU and TPU
    max_execution_batch_size: int | None = None  # None: last allowed size, else max_batch_size


@dataclass(frozen=True, kw_only=True)
class Autoscaling:
    min_replicas: int
    max_replicas: int
    target_cpu_utilization_percent: int
    target_requests_per_replica: float | None = None  # None: derived from batching
    signals: tuple[str, ...] | None = None  # None: the accelerator kind's defaults
    scale_to_zero: bool = True  # where the stack allows it
    cold_start_budget_s: int | None = None  # None: a start on the model's accelerator


@dataclass(frozen=True, kw_only=True)
class ServingSettings:
    accelerator: ModelAccelerator
    resources: Resources
    batching: Batching
    autoscaling: Autoscaling
    latency_objective_ms: int
    model_warmup: bool
    grpc_max_connection_age_s: int
    load_timeout_s: int


@dataclass(frozen=True, kw_only=True)
class AlertRule:
    severity: str
    for_: str


@dataclass(frozen=True, kw_only=True)
class Alerts:
    error_ratio_threshold: float
    latency: AlertRule
    errors: AlertRule
    no_ready_replicas: AlertRule
    load_failure: AlertRule
    accelerator_saturation: AlertRule


@dataclass(frozen=True, kw_only=True)
class EdgeGate:
    max_abs_error: float
    min_top1_agreement: float


@dataclass(frozen=True, kw_only=True)
class EdgeSettings:
    variants: tuple[str, ...]
    samples: str | None
    num_samples: int
    gates: Mapping[str, EdgeGate]


@dataclass(frozen=True, kw_only=True)
class Artifact:
    bucket: str | None
    prefix: str
    shared_with: tuple[str, ...]  # models that share the prefix on purpose


Strategy = Literal["mirrored", "multi-worker-mirrored", "tpu"]


@dataclass(frozen=True, kw_only=True)
class TrainingSettings:
    """models/<name>.yaml `training:`: the recipe `tfplat train` submits."""

    image: str  # pinned by digest
    command: tuple[str, ...]
    args: tuple[str, ...]
    env: Mapping[str, str]
    strategy: Strategy
    workers: int | None  # None: 1, or a TPU slice's hosts
    accelerator: ModelAccelerator  # per worker
    cpu: str
    memory: str
    data: tuple[str, ...]
    checkpoint_every_steps: int
    max_restarts: int
    spot: bool
    ttl_after_finished_s: int


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    name: str
    file: str
    description: str
    owner: str
    task: str
    artifact: Artifact
    signature: Signature
    serving: ServingSettings
    alerts: Alerts
    edge: EdgeSettings
    release: ReleaseSettings  # as the model file writes it (infra.plan.release.policy fills the rest)
    training: TrainingSettings | None = None


def _tensors(data: Mapping[str, Any]) -> Mapping[str, TensorSpec]:
    return frozen_map({k: TensorSpec(dtype=v["dtype"], shape=tuple(v["shape"])) for k, v in data.items()})


def _rule(data: Mapping[str, Any]) -> AlertRule:
    return AlertRule(severity=data["severity"], for_=data["for"])


def _accelerator(acc: Mapping[str, Any]) -> ModelAccelerator:
    kind = acc["kind"]
    return ModelAccelerator(kind=kind, type=acc.get("type"), count=acc.get("count", 1) if kind == "gpu" else 0,
                            topology=acc.get("topology"))


def _autoscaling(a: Mapping[str, Any]) -> Autoscaling:
    signals = a.get("signals")
    return Autoscaling(**{**a, "signals": None if signals is None else tuple(signals)})


def _training(t: Mapping[str, Any] | None) -> TrainingSettings | None:
    if t is None:
        return None
    return TrainingSettings(
        image=t["image"], command=tuple(t["command"]), args=tuple(t["args"]), env=frozen_map(t["env"]),
        strategy=t["strategy"], workers=t.get("workers"), accelerator=_accelerator(t["accelerator"]),
        cpu=str(t["resources"]["cpu"]), memory=t["resources"]["memory"], data=tuple(t["data"]),
        checkpoint_every_steps=t["checkpoint_every_steps"], max_restarts=t["max_restarts"], spot=t["spot"],
        ttl_after_finished_s=t["ttl_after_finished_s"])


def model_from_dict(data: Mapping[str, Any], file: str) -> ModelSpec:
    s = data["serving"]
    alerts = data["alerts"]
    edge = data["edge"]
    return ModelSpec(
        name=data["name"],
        file=file,
        description=data["description"],
        owner=data["owner"],
        task=data["task"],
        artifact=Artifact(bucket=data["artifact"]["bucket"], prefix=data["artifact"]["prefix"],
                          shared_with=tuple(data["artifact"]["shared_with"])),
        signature=Signature(
            name=data["signature"]["name"],
            method=data["signature"]["method"],
            inputs=_tensors(data["signature"]["inputs"]),
            outputs=_tensors(data["signature"]["outputs"]),
        ),
        serving=ServingSettings(
            accelerator=_accelerator(s["accelerator"]),
            resources=Resources(cpu=str(s["resources"]["cpu"]), memory=s["resources"]["memory"],
                                memory_headroom_percent=s["resources"]["memory_headroom_percent"],
                                ephemeral_storage=s["resources"]["ephemeral_storage"]),
            batching=Batching(**{**s["batching"], "allowed_batch_sizes": tuple(s["batching"]["allowed_batch_sizes"])}),
            autoscaling=_autoscaling(s["autoscaling"]),
            latency_objective_ms=s["latency_objective_ms"],
            model_warmup=s["model_warmup"],
            grpc_max_connection_age_s=s["grpc_max_connection_age_s"],
            load_timeout_s=s["load_timeout_s"],
        ),
        alerts=Alerts(
            error_ratio_threshold=float(alerts["error_ratio_threshold"]),
            latency=_rule(alerts["latency"]),
            errors=_rule(alerts["errors"]),
            no_ready_replicas=_rule(alerts["no_ready_replicas"]),
            load_failure=_rule(alerts["load_failure"]),
            accelerator_saturation=_rule(alerts["accelerator_saturation"]),
        ),
        edge=EdgeSettings(
            variants=tuple(edge["variants"]),
            samples=edge["samples"],
            num_samples=edge["num_samples"],
            gates=frozen_map({k: EdgeGate(max_abs_error=float(v["max_abs_error"]),
                                          min_top1_agreement=float(v["min_top1_agreement"]))
                              for k, v in edge["gates"].items()}),
        ),
        release=release_settings(data.get("release")),
        training=_training(data["training"]),
    )


# --------------------------------------------------------------------------- stacks


@dataclass(frozen=True, kw_only=True)
class GcpExistingNetwork:
    network: str
    subnetwork: str
    pods_range_name: str
    services_range_name: str


@dataclass(frozen=True, kw_only=True)
class GcpNetwork:
    existing: GcpExistingNetwork | None
    subnet_cidr: str
    pods_cidr: str
    services_cidr: str
    master_cidr: str
    proxy_only_cidr: str


@dataclass(frozen=True, kw_only=True)
class GcpSettings:
    project: str
    zones: tuple[str, ...]
    network: GcpNetwork
    kms_key: str | None


@dataclass(frozen=True, kw_only=True)
class AwsExistingNetwork:
    vpc_id: str
    private_subnet_ids: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class AwsSettings:
    account_id: str
    availability_zones: tuple[str, ...]
    existing_network: AwsExistingNetwork | None
    vpc_cidr: str
    kms_key_arn: str | None


EndpointAccess = Literal["private", "dns", "public"]


@dataclass(frozen=True, kw_only=True)
class Endpoint:
    """How the API server is reached. `access` is what the file says (or the deprecated
    `public` says), None when it says nothing: the loader applies the tier's default."""

    access: EndpointAccess | None
    authorized_cidrs: tuple[str, ...]
    public_waiver: str | None
    legacy_public: bool | None  # the deprecated endpoint.public, kept to report a conflict

    @property
    def public(self) -> bool:
        return self.access == "public"


@dataclass(frozen=True, kw_only=True)
class ClusterSpec:
    version: str
    release_channel: str
    regional: bool
    endpoint: Endpoint
    deletion_protection: bool
    disk_encryption: Literal["cmek", "provider"] | None  # None: the tier's default (cmek in prod)


@dataclass(frozen=True, kw_only=True)
class GpuSharing:
    strategy: str
    max_shared_clients: int | None
    partition_size: str | None


@dataclass(frozen=True, kw_only=True)
class PoolAccelerator:
    type: str
    count: int | None
    topology: str | None
    sharing: GpuSharing | None


@dataclass(frozen=True, kw_only=True)
class NodePoolSpec:
    name: str
    role: Literal["system", "serving", "training"]
    machine_type: str | None
    accelerator: PoolAccelerator | None
    min_nodes: int
    max_nodes: int
    spot: bool
    disk_size_gb: int
    zones: tuple[str, ...]
    labels: Mapping[str, str]


@dataclass(frozen=True, kw_only=True)
class GatewaySpec:
    enabled: bool
    class_name: str | None
    hostname: str | None
    tls_secret: str | None  # GCP: the HTTPS listener's certificate, a Kubernetes Secret
    certificate_arn: str | None  # AWS: the HTTPS listener's certificate, in ACM


@dataclass(frozen=True, kw_only=True)
class AdmissionSpec:
    """tfplat:admission: extra image sources and the tag-only waivers (image ref -> reason)."""

    allowed_registries: tuple[str, ...]
    tag_only: Mapping[str, str]


@dataclass(frozen=True, kw_only=True)
class AwakeHours:
    timezone: str
    days: str  # cron day-of-week field
    start: str  # HH:MM
    end: str  # HH:MM


@dataclass(frozen=True, kw_only=True)
class ScaleToZero:
    """tfplat:serving.scale_to_zero (enabled None: the environment decides, dev only)."""

    enabled: bool | None = None
    activation_requests_per_second: float = 0
    awake: AwakeHours | None = None


@dataclass(frozen=True, kw_only=True)
class ServingSpec:
    namespace: str
    gateway: GatewaySpec
    images: Mapping[str, str]
    scale_to_zero: ScaleToZero = ScaleToZero()


@dataclass(frozen=True, kw_only=True)
class ModelRollout:
    """What a stack says about one model: the version of each color and who is live."""

    model: str
    blue: int | None
    green: int | None
    live: Color
    canary_percent: int
    min_replicas: int | None
    max_replicas: int | None
    version_change: Literal["auto", "parallel", "swap"] = "auto"
    release: ReleaseSettings = field(default_factory=ReleaseSettings)  # this stack's policy for this model
    release_in_progress: ReleaseMarker | None = None  # written by tfplat release

    def version(self, color: Color) -> int | None:
        return self.blue if color == "blue" else self.green


@dataclass(frozen=True, kw_only=True)
class RolloutSettings:
    """tfplat:rollout: guards of the rollout commands (None: the tier's default)."""

    max_canary_step_percent: int | None


@dataclass(frozen=True, kw_only=True)
class Receiver:
    name: str
    slack_webhook_url: str | None
    slack_channel: str | None
    pagerduty_routing_key: str | None
    webhook_url: str | None


@dataclass(frozen=True, kw_only=True)
class AlertRoute:
    receiver: str
    severity: str | None
    team: str | None


@dataclass(frozen=True, kw_only=True)
class TracingSpec:
    enabled: bool
    sampling_ratio: float
    storage: Literal["memory", "external"]
    external_endpoint: str | None


@dataclass(frozen=True, kw_only=True)
class MonitoringSpec:
    """tfplat:monitoring. Secret fields hold the engine's decrypted value, or "[secret]" offline."""

    enabled: bool
    namespace: str
    prometheus_retention: str
    prometheus_storage_size: str
    prometheus_replicas: int
    alertmanager_replicas: int
    receivers: Mapping[str, Receiver]
    routes: tuple[AlertRoute, ...]
    grafana_admin_password: str | None  # None: generated
    gpu_metrics: Literal["dcgm-exporter", "gke-managed"]
    tracing: TracingSpec


@dataclass(frozen=True, kw_only=True)
class EdgeChannel:
    model: str
    stable: int
    canary: int | None
    canary_percent: int


@dataclass(frozen=True, kw_only=True)
class EdgeKey:
    """One online TUF role key: its public key, and where the private half is (one of the two)."""

    public_key: str | None  # base64 DER SubjectPublicKeyInfo
    private_key: str | None  # secret (PEM)
    kms_key: str | None  # AWS KMS key ARN or Cloud KMS key version


@dataclass(frozen=True, kw_only=True)
class EdgeRoot:
    threshold: int
    expiry_days: int
    keys: Mapping[str, str]  # name -> base64 DER SubjectPublicKeyInfo (offline keys)


@dataclass(frozen=True, kw_only=True)
class EdgeLegacy:
    """The pinned-key scheme from before TUF: only signs the bootstrap root for migrating devices."""

    key_id: str
    public_keys: Mapping[str, str]
    private_key: str | None  # secret
    kms_key: str | None


@dataclass(frozen=True, kw_only=True)
class EdgeSpec:
    enabled: bool
    cdn_enabled: bool
    signed_urls: bool
    cdn_hostname: str | None
    root: EdgeRoot
    targets: EdgeKey
    targets_expiry_days: int
    online: EdgeKey  # timestamp and snapshot
    timestamp_expiry_hours: int
    snapshot_expiry_days: int
    legacy: EdgeLegacy | None
    channels: Mapping[str, EdgeChannel]


@dataclass(frozen=True, kw_only=True)
class TrainingSpec:
    """tfplat:training: whether this stack trains, which models, and where teams' jobs run."""

    enabled: bool
    teams: Mapping[str, str]  # team (a model's owner) -> namespace
    models: tuple[str, ...]
    checkpoint_retention_days: int
    pods_ready_timeout_s: int


@dataclass(frozen=True, kw_only=True)
class StackSpec:
    name: str
    file: str
    environment: Literal["dev", "staging", "prod"]
    cloud: Cloud
    region: str
    gcp: GcpSettings | None
    aws: AwsSettings | None
    cluster: ClusterSpec
    node_pools: Mapping[str, NodePoolSpec]
    serving: ServingSpec
    admission: AdmissionSpec
    models: Mapping[str, ModelRollout]
    rollout: RolloutSettings
    release: ReleaseSettings  # tfplat:release: this stack's policy for every model
    metrics_source: MetricsSourceSpec  # tfplat:release.metrics_source
    monitoring: MonitoringSpec
    edge: EdgeSpec
    secret_keys: frozenset[str]
    training: TrainingSpec = TrainingSpec(enabled=False, teams=frozen_map({}), models=(),
                                          checkpoint_retention_days=30, pods_ready_timeout_s=900)


@dataclass(frozen=True, kw_only=True)
class LoadedConfig:
    """A stack and the models it may run, loaded and checked (infra.config.loader.load);
    what the planner takes (infra.plan.stack.plan_stack)."""

    stack: StackSpec
    models: Mapping[str, ModelSpec]  # every valid model in models/, by name
    notices: tuple[str, ...] = ()  # rendered warnings (deprecated keys) that do not stop a plan

    def deployed(self) -> list[tuple[ModelSpec, Any]]:
        """(model, rollout) for each model the stack runs, sorted by name."""
        return [(self.models[name], self.stack.models[name]) for name in sorted(self.stack.models)]


def _pool(name: str, p: Mapping[str, Any]) -> NodePoolSpec:
    acc = p["accelerator"]
    accel = None
    if acc is not None:
        sh = acc.get("sharing")
        accel = PoolAccelerator(
            type=acc["type"], count=acc.get("count"), topology=acc.get("topology"),
            sharing=None if sh is None else GpuSharing(strategy=sh["strategy"],
                                                        max_shared_clients=sh.get("max_shared_clients"),
                                                        partition_size=sh.get("partition_size")),
        )
    return NodePoolSpec(
        name=name, role=p["role"], machine_type=p["machine_type"], accelerator=accel,
        min_nodes=p["min_nodes"], max_nodes=p["max_nodes"], spot=p["spot"],
        disk_size_gb=p["disk_size_gb"], zones=tuple(p["zones"]), labels=frozen_map(p["labels"]),
    )


def _gcp(g: Mapping[str, Any] | None) -> GcpSettings | None:
    if g is None:
        return None
    n = g["network"]
    ex = n["existing"]
    return GcpSettings(
        project=g["project"], zones=tuple(g["zones"]), kms_key=g["kms_key"],
        network=GcpNetwork(
            existing=None if ex is None else GcpExistingNetwork(**ex),
            subnet_cidr=n["subnet_cidr"], pods_cidr=n["pods_cidr"],
            services_cidr=n["services_cidr"], master_cidr=n["master_cidr"], proxy_only_cidr=n["proxy_only_cidr"],
        ),
    )


def _aws(a: Mapping[str, Any] | None) -> AwsSettings | None:
    if a is None:
        return None
    ex = a["network"]["existing"]
    return AwsSettings(
        account_id=a["account_id"],
        availability_zones=tuple(a["availability_zones"]),
        existing_network=None if ex is None else AwsExistingNetwork(
            vpc_id=ex["vpc_id"], private_subnet_ids=tuple(ex["private_subnet_ids"])),
        vpc_cidr=a["network"]["vpc_cidr"],
        kms_key_arn=a["kms_key_arn"],
    )


def _monitoring(m: Mapping[str, Any]) -> MonitoringSpec:
    am = m["alertmanager"]
    tr = m["tracing"]
    return MonitoringSpec(
        enabled=m["enabled"], namespace=m["namespace"],
        prometheus_retention=m["prometheus"]["retention"],
        prometheus_storage_size=m["prometheus"]["storage_size"],
        prometheus_replicas=m["prometheus"]["replicas"],
        alertmanager_replicas=am["replicas"],
        receivers=frozen_map({k: Receiver(name=k, slack_webhook_url=v.get("slack_webhook_url"),
                                          slack_channel=v.get("slack_channel"),
                                          pagerduty_routing_key=v.get("pagerduty_routing_key"),
                                          webhook_url=v.get("webhook_url"))
                              for k, v in am["receivers"].items()}),
        routes=tuple(AlertRoute(receiver=r["receiver"], severity=r.get("severity"), team=r.get("team"))
                     for r in am["routes"]),
        grafana_admin_password=m["grafana"].get("admin_password"),
        gpu_metrics=m["gpu_metrics"],
        tracing=TracingSpec(enabled=tr["enabled"], sampling_ratio=float(tr["sampling_ratio"]),
                            storage=tr["storage"], external_endpoint=tr["external_endpoint"]),
    )


def _edge_key(k: Mapping[str, Any]) -> EdgeKey:
    return EdgeKey(public_key=k.get("public_key"), private_key=k.get("private_key"), kms_key=k["kms_key"])


def _edge(e: Mapping[str, Any]) -> EdgeSpec:
    sg = e["signing"]
    lg = sg["legacy"]
    return EdgeSpec(
        enabled=e["enabled"], cdn_enabled=e["cdn"]["enabled"], signed_urls=e["cdn"]["signed_urls"],
        cdn_hostname=e["cdn"]["hostname"],
        root=EdgeRoot(threshold=sg["root"]["threshold"], expiry_days=sg["root"]["expiry_days"],
                      keys=frozen_map(sg["root"]["keys"])),
        targets=_edge_key(sg["targets"]), targets_expiry_days=sg["targets"]["expiry_days"],
        online=_edge_key(sg["online"]), timestamp_expiry_hours=sg["online"]["timestamp_expiry_hours"],
        snapshot_expiry_days=sg["online"]["snapshot_expiry_days"],
        legacy=None if lg is None else EdgeLegacy(key_id=lg["key_id"], public_keys=frozen_map(lg["public_keys"]),
                                                  private_key=lg.get("private_key"), kms_key=lg["kms_key"]),
        channels=frozen_map({k: EdgeChannel(model=k, stable=v["stable"], canary=v["canary"],
                                            canary_percent=v["canary_percent"])
                             for k, v in e["channels"].items()}),
    )


def _endpoint(e: Mapping[str, Any], environment: str) -> Endpoint:
    legacy = e["public"]
    access = e["access"]
    if access is None and legacy is not None:
        access = "public" if legacy else "private"
    if access is None and environment != "prod":
        access = "public"  # dev and staging keep the old default; prod must choose
    return Endpoint(access=access, authorized_cidrs=tuple(e["authorized_cidrs"]),
                    public_waiver=e["public_waiver"], legacy_public=legacy)


def _bound(rollout: Mapping[str, Any], key: str, legacy: str) -> int | None:
    """autoscaling.<key>, else the deprecated replicas.<legacy> (both at once is a config error:
    infra.config.checks.check_rollouts)."""
    value: int | None = (rollout.get("autoscaling") or {}).get(key)
    return value if value is not None else (rollout.get("replicas") or {}).get(legacy)


def stack_from_config(name: str, file: str, config: Mapping[str, Any],
                      secret_keys: frozenset[str]) -> StackSpec:
    """`config` is the default-filled `config:` mapping of a stack file."""
    c = config["tfplat:cluster"]
    sv = config["tfplat:serving"]
    cloud = config["tfplat:cloud"]
    return StackSpec(
        name=name,
        file=file,
        environment=config["tfplat:environment"],
        cloud=cloud,
        region=config["tfplat:region"],
        gcp=_gcp(config.get("tfplat:gcp")) if cloud == "gcp" else None,
        aws=_aws(config.get("tfplat:aws")) if cloud == "aws" else None,
        cluster=ClusterSpec(
            version=c["version"], release_channel=c["release_channel"], regional=c["regional"],
            endpoint=_endpoint(c["endpoint"], config["tfplat:environment"]),
            deletion_protection=c["deletion_protection"], disk_encryption=c["disk_encryption"],
        ),
        node_pools=frozen_map({k: _pool(k, v) for k, v in config["tfplat:node_pools"].items()}),
        serving=ServingSpec(
            namespace=sv["namespace"],
            gateway=GatewaySpec(**sv["gateway"]),
            images=frozen_map(sv["images"]),
            scale_to_zero=_scale_to_zero(sv["scale_to_zero"]),
        ),
        admission=AdmissionSpec(allowed_registries=tuple(config["tfplat:admission"]["allowed_registries"]),
                                tag_only=frozen_map(config["tfplat:admission"]["tag_only"])),
        models=frozen_map({
            k: ModelRollout(model=k, blue=v["blue"], green=v["green"], live=v["live"],
                            canary_percent=v["canary_percent"],
                            min_replicas=_bound(v, "min_replicas", "min"),
                            max_replicas=_bound(v, "max_replicas", "max"),
                             version_change=v["version_change"],
                            release=release_settings(v.get("release")),
                            release_in_progress=release_marker(v.get("release_in_progress")))
            for k, v in config["tfplat:models"].items()
        }),
        rollout=RolloutSettings(max_canary_step_percent=config["tfplat:rollout"]["max_canary_step_percent"]),
        release=release_settings(config["tfplat:release"]),
        metrics_source=metrics_source(config["tfplat:release"]["metrics_source"]),
        monitoring=_monitoring(config["tfplat:monitoring"]),
        edge=_edge(config["tfplat:edge"]),
        secret_keys=secret_keys,
        training=_training_spec(config["tfplat:training"]),
    )


def _scale_to_zero(z: Mapping[str, Any]) -> ScaleToZero:
    aw = z["awake"]
    return ScaleToZero(enabled=z["enabled"], activation_requests_per_second=float(z["activation_requests_per_second"]),
                       awake=None if aw is None else AwakeHours(timezone=aw["timezone"], days=aw["days"],
                                                                start=aw["from"], end=aw["to"]))


def _training_spec(t: Mapping[str, Any]) -> TrainingSpec:
    return TrainingSpec(enabled=t["enabled"], teams=frozen_map({k: v["namespace"] for k, v in t["teams"].items()}),
                        models=tuple(sorted(t["models"])), checkpoint_retention_days=t["checkpoint_retention_days"],
                        pods_ready_timeout_s=t["pods_ready_timeout_s"])
