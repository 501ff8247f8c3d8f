"""GCP: VPC with Cloud NAT, a private GKE Standard cluster, node pools from the plan, the
model bucket, and the serving identity (a Google service account bound to the serving
Kubernetes service accounts through Workload Identity)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_gcp as gcp

from infra.config.spec import GcpSettings
from infra.plan.admission import AdmissionPlan
from infra.plan.cloud import CloudPlan, PoolPlan
from infra.plan.storage import DISK_KEY

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
# Least privilege for nodes: logs, metrics, image pulls. Never the default compute SA.
NODE_ROLES = ("roles/logging.logWriter", "roles/monitoring.metricWriter", "roles/monitoring.viewer",
              "roles/stackdriver.resourceMetadata.writer", "roles/autoscaling.metricsWriter",
              "roles/artifactregistry.reader")
PODS_RANGE, SERVICES_RANGE = "pods", "services"
KEY_USER = "roles/cloudkms.cryptoKeyEncrypterDecrypter"


@dataclass(frozen=True)
class NetworkRefs:
    network: pulumi.Input[str]
    subnetwork: pulumi.Input[str]
    pods_range: str
    services_range: str


class GcpNetwork(pulumi.ComponentResource):
    """A VPC and subnet with secondary ranges for pods and services, plus Cloud NAT so
    private nodes reach registries and storage. Or the existing network named in config."""

    def __init__(self, name: str, plan: CloudPlan, settings: GcpSettings,
                 opts: pulumi.ResourceOptions) -> None:
        super().__init__("tfplat:gcp:Network", name, None, opts)
        net = settings.network
        if net.existing is not None:
            ex = net.existing
            self.refs = NetworkRefs(
                network=f"projects/{settings.project}/global/networks/{ex.network}",
                subnetwork=f"projects/{settings.project}/regions/{plan.region}/subnetworks/{ex.subnetwork}",
                pods_range=ex.pods_range_name, services_range=ex.services_range_name)
            self.register_outputs({})
            return
        child = pulumi.ResourceOptions(parent=self)
        vpc = gcp.compute.Network(f"{name}-vpc", name=plan.prefix, project=settings.project,
                                  auto_create_subnetworks=False, routing_mode="REGIONAL", opts=child)
        subnet = gcp.compute.Subnetwork(
            f"{name}-subnet", name=f"{plan.prefix}-nodes", project=settings.project, region=plan.region,
            network=vpc.id, ip_cidr_range=net.subnet_cidr, private_ip_google_access=True,
            secondary_ip_ranges=[{"range_name": PODS_RANGE, "ip_cidr_range": net.pods_cidr},
                                 {"range_name": SERVICES_RANGE, "ip_cidr_range": net.services_cidr}],
            log_config={"aggregation_interval": "INTERVAL_5_MIN", "flow_sampling": 0.5,
                        "metadata": "INCLUDE_ALL_METADATA"},
            opts=child)
        # GKE's internal gateway class runs Envoy proxies in this subnet.
        gcp.compute.Subnetwork(
            f"{name}-proxy-only", name=f"{plan.prefix}-proxy-only", project=settings.project, region=plan.region,
            network=vpc.id, ip_cidr_range=net.proxy_only_cidr, purpose="REGIONAL_MANAGED_PROXY", role="ACTIVE",
            opts=child)
        router = gcp.compute.Router(f"{name}-router", name=f"{plan.prefix}-router", project=settings.project,
                                    region=plan.region, network=vpc.id, opts=child)
        gcp.compute.RouterNat(f"{name}-nat", name=f"{plan.prefix}-nat", project=settings.project,
                              region=plan.region, router=router.name, nat_ip_allocate_option="AUTO_ONLY",
                              source_subnetwork_ip_ranges_to_nat="ALL_SUBNETWORKS_ALL_IP_RANGES",
                              log_config={"enable": True, "filter": "ERRORS_ONLY"}, opts=child)
        self.refs = NetworkRefs(network=vpc.id, subnetwork=subnet.id, pods_range=PODS_RANGE,
                                services_range=SERVICES_RANGE)
        self.register_outputs({"network": vpc.id, "subnetwork": subnet.id})


def _node_config(p: PoolPlan, node_sa: pulumi.Output[str], disk_key: pulumi.Input[str] | None) -> Any:
    config: dict[str, Any] = {
        "machine_type": p.machine_type, "disk_size_gb": p.disk_size_gb, "disk_type": "pd-balanced",
        "image_type": "COS_CONTAINERD", "spot": p.spot, "service_account": node_sa,
        "oauth_scopes": [CLOUD_PLATFORM], "labels": dict(p.labels),
        "taints": [{"key": t.key, "value": t.value, "effect": "NO_SCHEDULE"} for t in p.taints],
        "workload_metadata_config": {"mode": "GKE_METADATA"},
        "shielded_instance_config": {"enable_secure_boot": True, "enable_integrity_monitoring": True},
        "metadata": {"disable-legacy-endpoints": "true"},
        "resource_labels": {"tfplat-pool": p.pool},
        # The kubelet's unauthenticated read-only port (10255) stays closed.
        "kubelet_config": {"insecure_kubelet_readonly_port_enabled": "FALSE"},
    }
    if disk_key is not None:
        config["boot_disk_kms_key"] = disk_key
    if p.kind == "gpu":
        acc: dict[str, Any] = {"type": p.accelerator, "count": p.gpus_per_node,
                               # GKE installs and upgrades the driver with the node image.
                               "gpu_driver_installation_config": {"gpu_driver_version": "LATEST"}}
        sharing = p.gpu_sharing
        if sharing is not None and sharing.partition_size:
            acc["gpu_partition_size"] = sharing.partition_size
        if sharing is not None and sharing.strategy == "time-sharing":
            acc["gpu_sharing_config"] = {"gpu_sharing_strategy": "TIME_SHARING",
                                         "max_shared_clients_per_gpu": sharing.max_shared_clients}
        config["guest_accelerators"] = [acc]
    return config


def _placement(p: PoolPlan, workload_policy: pulumi.Input[str] | None) -> Any:
    """Multi-host TPU slices need their VMs placed together; nothing else asks for it. Most
    generations take the topology on the placement policy; Ironwood (tpu7x) takes a workload
    policy carrying the topology instead (the provider requires `type`, whose only value is
    COMPACT)."""
    if not p.tpu_multi_host:
        return None
    if p.tpu_placement == "workload-policy":
        return {"type": "COMPACT", "policy_name": workload_policy}
    return {"type": "COMPACT", "tpu_topology": p.tpu_topology}


def _workload_policy(name: str, plan: CloudPlan, p: PoolPlan, project: str,
                     parent: pulumi.Resource) -> pulumi.Input[str] | None:
    """The HIGH_THROUGHPUT workload policy of an Ironwood multi-host slice (same region)."""
    if not (p.tpu_multi_host and p.tpu_placement == "workload-policy"):
        return None
    policy = gcp.compute.ResourcePolicy(
        f"{name}-{p.key}-placement", name=f"{plan.prefix}-{p.key}", project=project, region=plan.region,
        workload_policy={"type": "HIGH_THROUGHPUT", "accelerator_topology": p.tpu_topology},
        opts=pulumi.ResourceOptions(parent=parent))
    return policy.name


class GkeCluster(pulumi.ComponentResource):
    """Private GKE Standard cluster: release channel, Workload Identity, Dataplane V2,
    shielded nodes, secrets encrypted with a rotating KMS key, Gateway API, default pool
    removed; the control plane reached as the plan says (private, DNS or public endpoint);
    Binary Authorization enforcing the project's policy (tfplat's allowlist, block in prod,
    dry run elsewhere); with cmek, boot disks encrypted with the `disks` key of the key ring;
    then one node pool per pool plan. The settings CIS GKE 1.9.0 checks are spelled out even
    where GKE's default agrees, so a policy reading the plan sees them (docs/policies.md)."""

    def __init__(self, name: str, plan: CloudPlan, settings: GcpSettings, network: NetworkRefs, *,
                 admission: AdmissionPlan, opts: pulumi.ResourceOptions) -> None:
        super().__init__("tfplat:gcp:Cluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        project = settings.project
        node_sa = gcp.serviceaccount.Account(f"{name}-nodes", account_id=f"{plan.prefix}-nodes", project=project,
                                             display_name=f"GKE nodes of {plan.cluster_name}", opts=child)
        for role in NODE_ROLES:
            gcp.projects.IAMMember(f"{name}-nodes-{role.split('/')[1]}", project=project, role=role,
                                   member=node_sa.email.apply(lambda e: f"serviceAccount:{e}"), opts=child)

        ring = gcp.kms.KeyRing(f"{name}-keyring", name=f"{plan.prefix}-gke", location=plan.region,
                               project=project, opts=child)
        key = gcp.kms.CryptoKey(f"{name}-secrets-key", name="secrets", key_ring=ring.id,
                                rotation_period="7776000s", purpose="ENCRYPT_DECRYPT",
                                opts=pulumi.ResourceOptions(parent=self, protect=plan.deletion_protection))
        project_number = gcp.organizations.get_project_output(project_id=project).number
        agent = gcp.kms.CryptoKeyIAMMember(
            f"{name}-secrets-key-gke", crypto_key_id=key.id, role=KEY_USER,
            member=project_number.apply(
                lambda n: f"serviceAccount:service-{n}@container-engine-robot.iam.gserviceaccount.com"),
            opts=child)
        disk_key, disks_ready = self._disk_key(name, plan, project, ring, project_number)
        binauthz = self._binary_authorization(name, plan, project, admission)

        pinned = plan.release_channel == "UNSPECIFIED"
        components = ["SYSTEM_COMPONENTS", *(["DCGM"] if plan.managed_dcgm else [])]
        cluster = gcp.container.Cluster(
            name, name=plan.cluster_name, project=project, location=plan.location,
            remove_default_node_pool=True, initial_node_count=1,
            # The default pool exists for a moment during creation: even it gets the
            # least-privilege service account and shielded, metadata-concealed nodes.
            node_config={"service_account": node_sa.email, "oauth_scopes": [CLOUD_PLATFORM],
                         "image_type": "COS_CONTAINERD",
                         "shielded_instance_config": {"enable_secure_boot": True,
                                                      "enable_integrity_monitoring": True},
                         "workload_metadata_config": {"mode": "GKE_METADATA"},
                         **({"boot_disk_kms_key": disk_key} if disk_key is not None else {})},
            network=network.network, subnetwork=network.subnetwork, networking_mode="VPC_NATIVE",
            ip_allocation_policy={"cluster_secondary_range_name": network.pods_range,
                                  "services_secondary_range_name": network.services_range},
            private_cluster_config={"enable_private_nodes": True,
                                    "enable_private_endpoint": plan.private_endpoint,
                                    "master_ipv4_cidr_block": settings.network.master_cidr},
            # dns: the control plane's DNS name takes requests from anywhere, each authorized
            # by IAM (container.clusters.connect); the IP endpoints stay private.
            control_plane_endpoints_config={"dns_endpoint_config": {
                "allow_external_traffic": plan.endpoint_access == "dns"}},
            master_authorized_networks_config={"cidr_blocks": [
                {"cidr_block": c, "display_name": f"authorized-{i}"} for i, c in enumerate(plan.authorized_cidrs)]},
            release_channel={"channel": plan.release_channel},
            min_master_version=plan.kubernetes_version,
            workload_identity_config={"workload_pool": f"{project}.svc.id.goog"},
            datapath_provider="ADVANCED_DATAPATH",  # Dataplane V2: NetworkPolicies are enforced
            enable_intranode_visibility=True,  # pod-to-pod traffic on one node reaches the flow logs
            enable_shielded_nodes=True,
            enable_legacy_abac=False,
            enable_kubernetes_alpha=False,
            master_auth={"client_certificate_config": {"issue_client_certificate": False}},
            binary_authorization={"evaluation_mode": "PROJECT_SINGLETON_POLICY_ENFORCE"},
            security_posture_config={"mode": "BASIC"},
            database_encryption={"state": "ENCRYPTED", "key_name": key.id},
            gateway_api_config={"channel": "CHANNEL_STANDARD"},
            monitoring_config={"enable_components": components, "managed_prometheus": {"enabled": plan.managed_dcgm}},
            logging_config={"enable_components": ["SYSTEM_COMPONENTS", "WORKLOADS"]},
            deletion_protection=plan.deletion_protection,
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[agent, *disks_ready, *binauthz],
                ignore_changes=["nodeConfig", "initialNodeCount"],  # the removed default pool
                custom_timeouts=pulumi.CustomTimeouts(create="45m", update="60m", delete="45m")))

        self.node_pools: dict[str, gcp.container.NodePool] = {}
        for p in plan.pools.values():
            self.node_pools[p.key] = gcp.container.NodePool(
                f"{name}-{p.key}",
                # A prefix, not a fixed name: a change that forces replacement creates the new
                # pool (new random suffix) before Pulumi deletes the old one.
                name_prefix=f"{p.key}-", cluster=cluster.id, location=plan.location, project=project,
                node_locations=list(p.zones),
                autoscaling={"total_min_node_count": p.min_nodes, "total_max_node_count": p.max_nodes,
                             "location_policy": "ANY" if p.spot else "BALANCED"},
                management={"auto_repair": True, "auto_upgrade": not pinned},
                upgrade_settings={"strategy": "SURGE", "max_surge": 1, "max_unavailable": 0},
                node_config=_node_config(p, node_sa.email, disk_key),
                placement_policy=_placement(p, _workload_policy(name, plan, p, project, self)),
                version=plan.kubernetes_version if pinned else None,
                opts=pulumi.ResourceOptions(
                    parent=self, depends_on=disks_ready, custom_timeouts=pulumi.CustomTimeouts(
                        create=p.create_timeout, update=p.create_timeout, delete=p.create_timeout)))
        self.cluster = cluster
        self.endpoint = cluster.endpoint
        self.ca_certificate = cluster.master_auth.apply(lambda a: a.cluster_ca_certificate or "")
        # What the Kubernetes provider talks to: the DNS name with access dns, else the IP
        # endpoint (the private one when access is private: CI runs inside the network).
        self.api_host: pulumi.Output[str] = cluster.control_plane_endpoints_config.apply(
            lambda c: (c.dns_endpoint_config.endpoint if c and c.dns_endpoint_config else None) or "") \
            if plan.endpoint_access == "dns" else cluster.endpoint
        self.register_outputs({"name": cluster.name, "endpoint": cluster.endpoint})

    def _disk_key(self, name: str, plan: CloudPlan, project: str, ring: gcp.kms.KeyRing,
                  project_number: pulumi.Output[str]) -> tuple[pulumi.Output[str] | None, list[pulumi.Resource]]:
        """The `disks` key (boot disks, and the StorageClass's volumes) and its grant to the
        Compute Engine service agent, which encrypts them; None without cmek."""
        if not plan.disk_cmek:
            return None, []
        key = gcp.kms.CryptoKey(f"{name}-disks-key", name=DISK_KEY, key_ring=ring.id, rotation_period="7776000s",
                                purpose="ENCRYPT_DECRYPT",
                                opts=pulumi.ResourceOptions(parent=self, protect=plan.deletion_protection))
        grant = gcp.kms.CryptoKeyIAMMember(
            f"{name}-disks-key-compute", crypto_key_id=key.id, role=KEY_USER,
            member=project_number.apply(
                lambda n: f"serviceAccount:service-{n}@compute-system.iam.gserviceaccount.com"),
            opts=pulumi.ResourceOptions(parent=self))
        return key.id, [grant]

    def _binary_authorization(self, name: str, plan: CloudPlan, project: str,
                              admission: AdmissionPlan) -> list[pulumi.Resource]:
        """The project's Binary Authorization policy: images from tfplat's allowed sources
        (the same list as the tfplat-image-registries admission policy) and Google's system
        images; anything else blocked in prod, logged only elsewhere (so staging's audit log
        shows a missing source before prod enforces it)."""
        policy = gcp.binaryauthorization.Policy(
            f"{name}-binauthz", project=project, global_policy_evaluation_mode="ENABLE",
            admission_whitelist_patterns=[{"name_pattern": p} for p in admission.binauthz_patterns],
            default_admission_rule={
                "evaluation_mode": "ALWAYS_DENY",
                "enforcement_mode": "ENFORCED_BLOCK_AND_AUDIT_LOG" if admission.enforce else "DRYRUN_AUDIT_LOG_ONLY"},
            opts=pulumi.ResourceOptions(parent=self))
        return [policy]


def private_gcs_bucket(name: str, bucket_name: str, *, project: str, location: str, kms_key: str | None,
                       noncurrent_days: int, protect: bool, parent: pulumi.Resource) -> gcp.storage.Bucket:
    """Bucket `<name>-bucket`: uniform access, public access prevention enforced, versioned,
    noncurrent versions expire, optional CMEK (the twin of aws.private_s3_bucket)."""
    return gcp.storage.Bucket(
        f"{name}-bucket", name=bucket_name, project=project, location=location.upper(),
        uniform_bucket_level_access=True, public_access_prevention="enforced",
        versioning={"enabled": True}, force_destroy=False,
        lifecycle_rules=[{"action": {"type": "Delete"}, "condition": {"days_since_noncurrent_time": noncurrent_days}}],
        encryption={"default_kms_key_name": kms_key} if kms_key else None,
        opts=pulumi.ResourceOptions(parent=parent, protect=protect))


class GcsModelStore(pulumi.ComponentResource):
    """The model bucket (private, versioned, old versions expire, optional CMEK) and the
    serving identity: read-only on it, usable by the serving KSAs via Workload Identity."""

    def __init__(self, name: str, plan: CloudPlan, settings: GcpSettings, *, cluster: pulumi.Resource,
                 opts: pulumi.ResourceOptions) -> None:
        super().__init__("tfplat:gcp:ModelStore", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        b = plan.model_bucket
        bucket = private_gcs_bucket(name, b.name, project=settings.project, location=b.location, kms_key=b.kms_key,
                                    noncurrent_days=b.noncurrent_version_days, protect=plan.deletion_protection,
                                    parent=self)
        gsa = gcp.serviceaccount.Account(f"{name}-serving", account_id=plan.serving_identity,
                                         project=settings.project,
                                         display_name=f"TF Serving pods of {plan.cluster_name}", opts=child)
        member = gsa.email.apply(lambda e: f"serviceAccount:{e}")
        gcp.storage.BucketIAMMember(f"{name}-serving-read", bucket=bucket.name, role="roles/storage.objectViewer",
                                    member=member, opts=child)
        for ksa in plan.serving_service_accounts:
            gcp.serviceaccount.IAMMember(
                f"{name}-wi-{ksa}", service_account_id=gsa.name, role="roles/iam.workloadIdentityUser",
                member=f"serviceAccount:{settings.project}.svc.id.goog[{plan.serving_namespace}/{ksa}]",
                # The identity pool <project>.svc.id.goog exists once the cluster does.
                opts=pulumi.ResourceOptions(parent=self, depends_on=[cluster]))
        self.bucket = bucket
        self.identity = gsa.email
        self.register_outputs({"bucket": bucket.name, "identity": gsa.email})
