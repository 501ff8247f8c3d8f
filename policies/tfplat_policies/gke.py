"""GKE clusters and node pools against CIS GKE Benchmark v1.9.0, section 5 (as kube-bench numbers it).

Each check reads one setting of a cluster or node pool as the plan registers it. Where the
provider's default is the compliant value and tfplat may leave the field out (legacy ABAC,
client certificates, alpha features, auto-repair, auto-upgrade, COS) an absent field
passes; where GKE's default is not compliant, or differs by version (secure boot, intranode
visibility, security posture, the metadata server, Binary Authorization, logging
components), the field must be set. docs/policies.md lists each policy with its item.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from .model import Finding, Props, ResourcePolicy, Settings, as_list, as_map, dig, is_unknown

GKE_CLUSTER = "gcp:container/cluster:Cluster"
GKE_POOL = "gcp:container/nodePool:NodePool"
_GKE = "infra/components/gcp.py"
POSTURE_MODES = frozenset({"BASIC", "ENTERPRISE"})
ENFORCING_BINAUTHZ = frozenset({"PROJECT_SINGLETON_POLICY_ENFORCE",
                                "POLICY_BINDINGS_AND_PROJECT_SINGLETON_POLICY_ENFORCE"})
OPEN_CIDRS = frozenset({"0.0.0.0/0", "::/0"})


def node_configs(resource_type: str, props: Props) -> list[tuple[str, Props]]:
    """Where node settings live: a pool's nodeConfig, a cluster's own (its default pool, or
    the pool it creates for a moment before removing it)."""
    if resource_type not in (GKE_CLUSTER, GKE_POOL):
        return []
    config = props.get("nodeConfig")
    if resource_type == GKE_CLUSTER and not config and props.get("removeDefaultNodePool") is True:
        return []
    return [("nodeConfig", as_map(config))] if not is_unknown(config) else []


def _pool_checks(problem: Callable[[Props], tuple[str, str] | None], fix: str,
                 cis: tuple[str, ...] = ()) -> Callable[[str, Props, Settings], list[Finding]]:
    def check(resource_type: str, props: Props, settings: Settings) -> list[Finding]:
        out = []
        for where, config in node_configs(resource_type, props):
            found = problem(config)
            if found:
                field, why = found
                out.append(Finding(f"{where}.{field} {why}", fix, cis=cis))
        return out
    return check


def _shielded(resource_type: str, props: Props, settings: Settings) -> list[Finding]:
    out = []
    if resource_type == GKE_CLUSTER and props.get("enableShieldedNodes") is False:
        out.append(Finding("enableShieldedNodes is false: nodes boot without verified firmware and kernel",
                           f"restore enable_shielded_nodes=True in {_GKE}", cis=("GKE 5.5.5",)))
    for where, config in node_configs(resource_type, props):
        shielded = config.get("shieldedInstanceConfig")
        if is_unknown(shielded):
            continue
        if dig(shielded, "enableSecureBoot") is not True:
            out.append(Finding(f"{where}.shieldedInstanceConfig.enableSecureBoot is not true: unsigned kernel "
                               "modules and boot components can load", f"restore enable_secure_boot=True in {_GKE}",
                               cis=("GKE 5.5.7",)))
        if dig(shielded, "enableIntegrityMonitoring") is False:
            out.append(Finding(f"{where}.shieldedInstanceConfig.enableIntegrityMonitoring is false: a changed boot "
                               "sequence goes unnoticed", f"restore enable_integrity_monitoring=True in {_GKE}",
                               cis=("GKE 5.5.6",)))
    return out


def _cos(config: Props) -> tuple[str, str] | None:
    image = config.get("imageType")
    if image is None or is_unknown(image) or str(image).upper() == "COS_CONTAINERD":
        return None
    return "imageType", f"is {image!r}, not Container-Optimized OS (COS_CONTAINERD)"


def _boot_disk_key(config: Props) -> tuple[str, str] | None:
    key = config.get("bootDiskKmsKey")
    if is_unknown(key) or key:
        return None
    return "bootDiskKmsKey", "is not set: boot disks are encrypted with a Google-managed key"


def _management(resource_type: str, props: Props, settings: Settings) -> list[Finding]:
    if resource_type != GKE_POOL:
        return []
    out = []
    for field, cis, why in (("autoRepair", "GKE 5.5.2", "unhealthy nodes are never repaired"),
                            ("autoUpgrade", "GKE 5.5.3", "nodes fall behind the control plane's patches")):
        if dig(props, "management", field) is False:
            out.append(Finding(f"management.{field} is false: {why}",
                               "keep auto-repair and auto-upgrade on: use a release channel (tfplat:cluster."
                               "release_channel REGULAR or STABLE), not UNSPECIFIED with a pinned version",
                               cis=(cis,)))
    return out


def _cluster_check(problem: Callable[[Props], str | None], fix: str) -> Callable[[str, Props, Settings], list[Finding]]:
    def check(resource_type: str, props: Props, settings: Settings) -> list[Finding]:
        if resource_type != GKE_CLUSTER:
            return []
        message = problem(props)
        return [Finding(message, fix)] if message else []
    return check


def _setting(field: str, want: object, why: str) -> Callable[[Props], str | None]:
    """Fails when the field is not `want` (absent included)."""
    def problem(props: Props) -> str | None:
        value = dig(props, *field.split("."))
        return None if is_unknown(value) or value == want else f"{field} is {value!r}: {why}"
    return problem


def _not_true(field: str, why: str) -> Callable[[Props], str | None]:
    """Fails only on true (absent is the provider's default, false)."""
    def problem(props: Props) -> str | None:
        return f"{field} is true: {why}" if dig(props, *field.split(".")) is True else None
    return problem


def _vpc_native(props: Props) -> str | None:
    mode, policy = props.get("networkingMode"), props.get("ipAllocationPolicy")
    if is_unknown(policy) or mode == "VPC_NATIVE" or (policy and mode != "ROUTES"):
        return None
    return f"the cluster is not VPC-native (networkingMode {mode!r}, no ipAllocationPolicy): pod IPs are not alias IPs"


def _authorized_networks(props: Props) -> str | None:
    config = props.get("masterAuthorizedNetworksConfig")
    if is_unknown(config):
        return None
    if not isinstance(config, dict):
        return "masterAuthorizedNetworksConfig is not set: any address may reach the control plane's endpoints"
    if config.get("gcpPublicCidrsAccessEnabled") is True:
        return "masterAuthorizedNetworksConfig.gcpPublicCidrsAccessEnabled is true: every Google Cloud VM may connect"
    wide = [dig(b, "cidrBlock") for b in as_list(config.get("cidrBlocks")) if dig(b, "cidrBlock") in OPEN_CIDRS]
    return f"masterAuthorizedNetworksConfig authorizes {wide[0]}: that is everyone" if wide else None


def _logging(props: Props) -> str | None:
    logs = dig(props, "loggingConfig", "enableComponents")
    metrics = dig(props, "monitoringConfig", "enableComponents")
    if is_unknown(logs) or is_unknown(metrics):
        return None
    missing = [f"loggingConfig {c}" for c in ("SYSTEM_COMPONENTS", "WORKLOADS") if c not in as_list(logs)]
    missing += ["monitoringConfig SYSTEM_COMPONENTS"] if "SYSTEM_COMPONENTS" not in as_list(metrics) else []
    return f"Cloud Logging / Monitoring components missing: {', '.join(missing)}" if missing else None


def _binauthz(props: Props) -> str | None:
    mode = dig(props, "binaryAuthorization", "evaluationMode")
    if is_unknown(mode) or mode in ENFORCING_BINAUTHZ or dig(props, "binaryAuthorization", "enabled") is True:
        return None
    return f"binaryAuthorization.evaluationMode is {mode!r}: pods run images no admission rule has checked"


Check = Callable[[str, Props, Settings], list[Finding]]
Severity = Literal["low", "medium", "high", "critical"]


def _policy(id_: str, cis: tuple[str, ...], check: Check, description: str, remediation: str, *,
            severity: Severity = "high") -> ResourcePolicy:
    return ResourcePolicy(id=id_, cis=cis, check=check, description=description, remediation=remediation,
                          severity=severity)


POLICIES = (
    _policy("gke-shielded-nodes", ("GKE 5.5.5", "GKE 5.5.6", "GKE 5.5.7"), _shielded,
            "GKE nodes are Shielded VMs with secure boot and integrity monitoring.",
            "Keep enable_shielded_nodes and shielded_instance_config in the GKE component."),
    _policy("gke-node-image-cos", ("GKE 5.5.1",), _pool_checks(_cos, f"use image_type COS_CONTAINERD in {_GKE}"),
            "GKE nodes run Container-Optimized OS with containerd.", "Use COS_CONTAINERD node images.",
            severity="medium"),
    _policy("gke-node-auto-repair-upgrade", ("GKE 5.5.2", "GKE 5.5.3"), _management,
            "GKE node pools repair and upgrade themselves.",
            "Use a REGULAR or STABLE release channel; never UNSPECIFIED with a pinned version in production."),
    _policy("gke-intranode-visibility", ("GKE 5.6.1",),
            _cluster_check(_setting("enableIntranodeVisibility", True,
                                    "pod-to-pod traffic on one node never reaches the VPC flow logs"),
                           f"set enable_intranode_visibility=True in {_GKE}"),
            "GKE clusters make intranode traffic visible to VPC flow logs.",
            "Keep enable_intranode_visibility in the GKE component.", severity="medium"),
    _policy("gke-vpc-native", ("GKE 5.6.2",), _cluster_check(_vpc_native, f"keep ip_allocation_policy in {_GKE}"),
            "GKE clusters are VPC-native (alias IPs).", "Keep networking_mode VPC_NATIVE.", severity="medium"),
    _policy("gke-authorized-networks", ("GKE 5.6.3",),
            _cluster_check(_authorized_networks, "list only your VPN and CI ranges in "
                                                 "tfplat:cluster.endpoint.authorized_cidrs"),
            "GKE control planes accept only authorized networks.",
            "Keep master_authorized_networks_config with explicit CIDRs."),
    _policy("gke-logging-monitoring", ("GKE 5.7.1",),
            _cluster_check(_logging, f"keep logging_config SYSTEM_COMPONENTS and WORKLOADS and monitoring_config "
                                     f"SYSTEM_COMPONENTS in {_GKE}"),
            "GKE clusters send system and workload logs to Cloud Logging and system metrics to Cloud Monitoring.",
            "Keep the logging and monitoring components in the GKE component.", severity="medium"),
    _policy("gke-no-client-certificates", ("GKE 5.8.1",),
            _cluster_check(_not_true("masterAuth.clientCertificateConfig.issueClientCertificate",
                                     "a long-lived client certificate with cluster-admin rights is issued"),
                           f"set issue_client_certificate=False in {_GKE}"),
            "GKE clusters issue no client certificates.", "Keep issue_client_certificate off."),
    _policy("gke-no-legacy-abac", ("GKE 5.8.3",),
            _cluster_check(_not_true("enableLegacyAbac", "attribute-based access bypasses RBAC"),
                           f"set enable_legacy_abac=False in {_GKE}"),
            "GKE clusters authorize with RBAC only (no legacy ABAC).", "Keep legacy ABAC off."),
    _policy("gke-no-alpha-features", ("GKE 5.10.2",),
            _cluster_check(_not_true("enableKubernetesAlpha", "alpha clusters get no upgrades or support"),
                           f"set enable_kubernetes_alpha=False in {_GKE}"),
            "GKE clusters run no Kubernetes alpha features.", "Keep alpha features off.", severity="medium"),
    _policy("gke-security-posture", ("GKE 5.10.4",),
            _cluster_check(lambda p: None if dig(p, "securityPostureConfig", "mode") in POSTURE_MODES
                           or is_unknown(dig(p, "securityPostureConfig", "mode"))
                           else f"securityPostureConfig.mode is {dig(p, 'securityPostureConfig', 'mode')!r}: "
                                "workload misconfigurations are not reported",
                           f"set security_posture_config mode BASIC in {_GKE}"),
            "GKE clusters run Security Posture (BASIC or ENTERPRISE).", "Keep security_posture_config.",
            severity="medium"),
    _policy("gke-binary-authorization", ("GKE 5.1.4",),
            _cluster_check(_binauthz, f"set binary_authorization evaluation_mode PROJECT_SINGLETON_POLICY_ENFORCE in "
                                      f"{_GKE}"),
            "GKE clusters enforce the project's Binary Authorization policy.",
            "Keep Binary Authorization on; tfplat manages the project's policy from its allowed image sources."),
    _policy("gke-boot-disk-cmek", ("GKE 5.9.2",),
            _pool_checks(_boot_disk_key, "set tfplat:cluster.disk_encryption: cmek (the default in prod)"),
            "GKE node boot disks are encrypted with the stack's Cloud KMS key.",
            "Set tfplat:cluster.disk_encryption: cmek."),
)
