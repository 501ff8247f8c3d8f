"""The cloud layer's plan: cluster, node pools, network, buckets and serving identity.

Both clouds share every decision that is not an API detail: pool shapes come from the
accelerator catalog, taints and labels from the accelerator kind, TPU slices from the
topology, bucket and identity names from the stack. The GCP and AWS components only map
this plan onto their provider's resources.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
import ipaddress

from infra.config.spec import GpuSharing, NodePoolSpec, StackSpec, frozen_map
from infra.plan.cluster import model_bucket_name, name_prefix, serving_identity_name
from infra.plan.storage import StorageClassPlan, cmek_disks, gke_disk_key, plan_storage_class
from infra.rules import catalog, names
from infra.rules.cluster import default_zones
from infra.rules.images import Image, eks_addons, image

GPU_TAINT_KEY = "nvidia.com/gpu"
TPU_TAINT_KEY = "google.com/tpu"
#: GPU node pools can take 30+ minutes to create (driver install, stock-outs).
ACCELERATOR_POOL_TIMEOUT = "60m"
CPU_POOL_TIMEOUT = "30m"
NONCURRENT_VERSION_DAYS = 30
AWS_GPU_AMI = "AL2023_x86_64_NVIDIA"
AWS_CPU_AMI = "AL2023_x86_64_STANDARD"
#: Days the EKS control plane log group keeps its logs (CIS EKS 2.1.2: collected and managed).
CONTROL_PLANE_LOG_DAYS = {"prod": 365, "staging": 90, "dev": 30}
#: One hop: a pod's packets to the instance metadata service have two, so no pod (other than
#: host-network ones) gets the node role's credentials; pods use EKS Pod Identity instead.
NODE_METADATA_HOP_LIMIT = 1


@dataclass(frozen=True, kw_only=True)
class Taint:
    key: str
    value: str
    effect: str = "NoSchedule"


TRAINING_TAINT = Taint(key="tfplat.dev/training", value="present")


@dataclass(frozen=True, kw_only=True)
class PoolPlan:
    """One node pool (or, for a multi-host TPU pool, one slice of it)."""

    key: str  # logical name: the stack's pool name, plus -s<i> per extra TPU slice
    pool: str  # the stack's pool name
    role: str
    kind: str  # cpu | gpu | tpu
    machine_type: str
    accelerator: str | None
    gpus_per_node: int
    gpu_sharing: GpuSharing | None
    tpu_topology: str | None
    tpu_multi_host: bool
    tpu_placement: str  # topology | workload-policy (catalog.PLACEMENTS): how GKE places a slice
    min_nodes: int
    max_nodes: int
    spot: bool
    disk_size_gb: int
    zones: tuple[str, ...]
    labels: Mapping[str, str]
    taints: tuple[Taint, ...]
    ami_type: str  # AWS only
    create_timeout: str


@dataclass(frozen=True, kw_only=True)
class BucketPlan:
    name: str
    location: str
    kms_key: str | None
    noncurrent_version_days: int


@dataclass(frozen=True, kw_only=True)
class CloudPlan:
    cloud: str
    prefix: str  # tfplat-<stack>: names of cloud resources
    cluster_name: str
    region: str
    location: str  # GKE: region (regional) or first zone (zonal); EKS: region
    zones: tuple[str, ...]
    kubernetes_version: str
    release_channel: str
    endpoint_access: str  # private | dns (GKE) | public (docs/runbooks/cluster-access.md)
    authorized_cidrs: tuple[str, ...]
    deletion_protection: bool
    pools: Mapping[str, PoolPlan]
    model_bucket: BucketPlan
    serving_identity: str
    serving_namespace: str
    serving_service_accounts: tuple[str, ...]  # the KSAs bound to the serving identity
    # What each cloud's platform adds to its cluster (the components decide none of it):
    managed_dcgm: bool  # GKE: managed DCGM metrics (tfplat:monitoring.gpu_metrics gke-managed)
    ha_nat: bool  # AWS: a NAT gateway per zone (prod), else one for the VPC
    eks_addons: Mapping[str, str]  # AWS: pinned add-on versions of the cluster's minor; GCP: empty
    cluster_autoscaler: bool  # AWS: node groups only have bounds; GKE pools autoscale themselves
    load_balancer_controller: bool  # AWS with the gateway on: EKS has no Gateway API of its own
    device_plugin_gpus: tuple[str, ...]  # AWS: GPU types the NVIDIA device plugin serves; GKE has its own
    device_plugin_image: Image | None  # set when device_plugin_gpus is
    # Hardening (CIS GKE 1.9.0 / EKS 1.8.0; docs/policies.md maps each setting to its item):
    disk_cmek: bool  # node boot disks (and the StorageClass) use the stack's KMS key
    disk_key: str | None  # GKE: the disks key's resource name (AWS: the key is created, its ARN an output)
    storage_class: StorageClassPlan | None  # the stack's encrypted StorageClass, if it has one
    control_plane_log_days: int  # AWS: retention of the EKS control plane log group
    node_metadata_hop_limit: int  # AWS: IMDSv2 hop limit of the nodes (1: pods cannot reach it)

    @property
    def public_endpoint(self) -> bool:
        return self.endpoint_access == "public"

    @property
    def private_endpoint(self) -> bool:
        """No public IP endpoint (private, or GKE's DNS endpoint in front of a private one)."""
        return self.endpoint_access != "public"


def _labels(spec: NodePoolSpec, accelerator: str | None) -> dict[str, str]:
    labels = {names.LABEL_POOL: spec.name, names.LABEL_ROLE: spec.role}
    if spec.role == "serving":
        labels[names.LABEL_ACCELERATOR] = accelerator if accelerator else "cpu"
    labels.update(spec.labels)
    return labels


def _pool_plans(stack: StackSpec, spec: NodePoolSpec) -> list[PoolPlan]:
    """The loader has already checked every pool against the catalog."""
    acc = spec.accelerator
    zones = spec.zones or default_zones(stack)
    if stack.cloud == "gcp" and not stack.cluster.regional:
        zones = spec.zones or zones[:1]
    base = PoolPlan(
        key=spec.name, pool=spec.name, role=spec.role, kind="cpu", machine_type=spec.machine_type or "",
        accelerator=None, gpus_per_node=0, gpu_sharing=None, tpu_topology=None, tpu_multi_host=False,
        tpu_placement="topology",
        min_nodes=spec.min_nodes, max_nodes=spec.max_nodes, spot=spec.spot, disk_size_gb=spec.disk_size_gb,
        zones=tuple(zones), labels=frozen_map(_labels(spec, None)), taints=(), ami_type=AWS_CPU_AMI,
        create_timeout=CPU_POOL_TIMEOUT)
    if acc is None:
        return [base]
    labels = frozen_map(_labels(spec, acc.type))
    # Training pools carry one more taint: only admitted training jobs tolerate it, so
    # serving pods (which tolerate the accelerator taint) never land there.
    extra = (TRAINING_TAINT,) if spec.role == "training" else ()
    if catalog.accelerator_kind(acc.type) == "gpu":
        count = acc.count or 1
        shape = catalog.resolve_gpu_pool(cloud=stack.cloud, accelerator=acc.type, count=count,
                                         machine_type=spec.machine_type)
        return [replace(base, kind="gpu", machine_type=shape.machine_type, accelerator=acc.type,
                        gpus_per_node=count, gpu_sharing=acc.sharing, labels=labels,
                        taints=(Taint(key=GPU_TAINT_KEY, value="present"), *extra), ami_type=AWS_GPU_AMI,
                        create_timeout=ACCELERATOR_POOL_TIMEOUT)]
    assert acc.topology is not None
    topo = catalog.resolve_tpu_pool(accelerator=acc.type, topology=acc.topology, machine_type=spec.machine_type)
    tpu = replace(base, kind="tpu", machine_type=topo.machine_type, accelerator=acc.type, tpu_topology=acc.topology,
                  tpu_multi_host=topo.multi_host, tpu_placement=catalog.tpu_types()[acc.type].placement, labels=labels,
                  taints=(Taint(key=TPU_TAINT_KEY, value="present"), *extra),
                  create_timeout=ACCELERATOR_POOL_TIMEOUT)
    if not topo.multi_host:
        return [tpu]
    # GKE scales a multi-host slice all-or-nothing, one slice per node pool: bounds that
    # are k slices become k pools, the first min_nodes/nodes of them kept at full size.
    slices, keep = spec.max_nodes // topo.nodes, spec.min_nodes // topo.nodes
    return [replace(tpu, key=spec.name if i == 0 else f"{spec.name}-s{i}",
                    min_nodes=topo.nodes if i < keep else 0, max_nodes=topo.nodes) for i in range(slices)]


def plan_cloud(stack: StackSpec, serving_service_accounts: tuple[str, ...]) -> CloudPlan:
    zones = default_zones(stack)
    if stack.cloud == "gcp":
        assert stack.gcp is not None
        location = stack.region if stack.cluster.regional else zones[0]
        kms: str | None = stack.gcp.kms_key
    else:
        assert stack.aws is not None
        location = stack.region
        kms = stack.aws.kms_key_arn
    pools: dict[str, PoolPlan] = {}
    for spec in stack.node_pools.values():
        for p in _pool_plans(stack, spec):
            pools[p.key] = p
    prefix = name_prefix(stack)
    aws = stack.cloud == "aws"
    addons = eks_addons(stack.cluster.version) if aws else {}
    assert addons is not None, "the loader requires pinned add-ons for the stack's version"
    gpu_types = tuple(sorted({p.accelerator for p in pools.values() if p.kind == "gpu" and p.accelerator})) \
        if aws else ()
    return CloudPlan(
        cloud=stack.cloud, prefix=prefix, cluster_name=prefix, region=stack.region, location=location,
        zones=zones, kubernetes_version=stack.cluster.version, release_channel=stack.cluster.release_channel,
        endpoint_access=stack.cluster.endpoint.access or "private",
        authorized_cidrs=stack.cluster.endpoint.authorized_cidrs,
        deletion_protection=stack.cluster.deletion_protection, pools=frozen_map(pools),
        model_bucket=BucketPlan(name=model_bucket_name(stack), location=stack.region, kms_key=kms,
                                noncurrent_version_days=NONCURRENT_VERSION_DAYS),
        serving_identity=serving_identity_name(stack), serving_namespace=stack.serving.namespace,
        serving_service_accounts=serving_service_accounts,
        managed_dcgm=stack.cloud == "gcp" and stack.monitoring.gpu_metrics == "gke-managed",
        ha_nat=stack.environment == "prod", eks_addons=frozen_map(addons), cluster_autoscaler=aws,
        load_balancer_controller=aws and stack.serving.gateway.enabled,
        device_plugin_gpus=gpu_types, device_plugin_image=image("nvidia-device-plugin") if gpu_types else None,
        disk_cmek=cmek_disks(stack), disk_key=gke_disk_key(stack) if not aws and cmek_disks(stack) else None,
        storage_class=plan_storage_class(stack), control_plane_log_days=CONTROL_PLANE_LOG_DAYS[stack.environment],
        node_metadata_hop_limit=NODE_METADATA_HOP_LIMIT,
    )


@dataclass(frozen=True, kw_only=True)
class SubnetPlan:
    zone: str
    private_cidr: str  # nodes and pods (VPC CNI)
    public_cidr: str  # NAT gateways and internet-facing load balancers


def aws_subnets(vpc_cidr: str, zones: tuple[str, ...]) -> tuple[SubnetPlan, ...]:
    """Large private subnets (VPC CNI gives each pod a VPC address) and small public ones.

    The VPC is cut into eight equal blocks: the first len(zones) are private subnets, the
    last block is cut into /8-smaller public subnets. A /16 gives private /19s and
    public /24s.
    """
    net = ipaddress.IPv4Network(vpc_cidr)
    blocks = list(net.subnets(prefixlen_diff=3))
    publics = list(blocks[-1].subnets(prefixlen_diff=5))
    return tuple(SubnetPlan(zone=z, private_cidr=str(blocks[i]), public_cidr=str(publics[i]))
                 for i, z in enumerate(zones))
