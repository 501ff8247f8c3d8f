"""The CIS GKE Benchmark v1.9.0 and CIS Amazon EKS Benchmark v1.8.0 items, as kube-bench
encodes them (cfg/gke-1.9.0, cfg/eks-1.8.0), and how tfplat answers each.

An item is decided by the policies that name it (Policy.cis), or cannot be decided from a
plan, and says why: `live` (only a running cluster or account shows it: node files,
enabled APIs, IAM and firewall rules outside the stack), `manual` (a design choice the
benchmark leaves to judgement), `gap` (visible in a plan, but tfplat does not offer it yet).
`report` judges a plan's resources item by item, every policy as in production.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from .enforcement import STACK_ENVIRONMENT
from .model import Resource, exemption
from .records import findings
from .registry import POLICIES

Status = Literal["compliant", "not compliant", "waived", "live", "manual", "gap"]


@dataclass(frozen=True)
class Item:
    id: str  # "GKE 5.5.5"
    title: str
    reason: str = ""  # why no policy decides it (live / manual / gap)
    kind: Literal["policy", "live", "manual", "gap"] = "policy"

    @property
    def cloud(self) -> str:
        return "gcp" if self.id.startswith("GKE") else "aws"


def _p(id_: str, title: str) -> Item:
    return Item(id_, title)


def _live(id_: str, title: str, reason: str) -> Item:
    return Item(id_, title, reason, "live")


def _manual(id_: str, title: str, reason: str) -> Item:
    return Item(id_, title, reason, "manual")


NODE_FILE = "a file on the node (the managed node image's); kube-bench on a node checks it"
KUBELET = "the kubelet configuration of the EKS AMI (tfplat sets no user data that changes it); kube-bench on a node"

ITEMS: tuple[Item, ...] = (
    # ---------------------------------------------------------------- GKE 1.9.0
    _live("GKE 3.1.1", "kubeconfig file permissions 644 or more restrictive", NODE_FILE),
    _live("GKE 3.1.2", "kubelet kubeconfig owned by root:root", NODE_FILE),
    _live("GKE 3.1.3", "kubelet config file permissions 644 or more restrictive", NODE_FILE),
    _live("GKE 3.1.4", "kubelet config file owned by root:root", NODE_FILE),
    _p("GKE 4.1.1", "cluster-admin role only used where required"),
    _p("GKE 4.1.2", "Minimize access to secrets"),
    _p("GKE 4.1.3", "Minimize wildcard use in Roles and ClusterRoles"),
    _p("GKE 4.1.4", "Default service accounts are not actively used"),
    _p("GKE 4.1.5", "Service account tokens only mounted where necessary"),
    _live("GKE 4.1.6", "Avoid use of system:masters group",
          "certificate signing requests and credentials of the running cluster"),
    _p("GKE 4.1.7", "Limit use of the Bind, Impersonate and Escalate permissions"),
    _p("GKE 4.1.8", "Avoid bindings to system:anonymous"),
    _p("GKE 4.1.9", "Avoid non-default bindings to system:unauthenticated"),
    _p("GKE 4.1.10", "Avoid non-default bindings to system:authenticated"),
    _p("GKE 4.2.1", "Enforce Pod Security Standard Baseline (or stricter) in every namespace"),
    _p("GKE 4.3.1", "The CNI in use supports Network Policies"),
    _p("GKE 4.3.2", "All namespaces have Network Policies defined"),
    _p("GKE 4.4.1", "Prefer Secrets as files over Secrets as environment variables"),
    _manual("GKE 4.4.2", "Consider external secret storage",
            "tfplat keeps its few Secrets (Grafana, Alertmanager receivers) as Pulumi secrets; an external store "
            "is the platform team's choice"),
    _p("GKE 4.5.1", "Configure image provenance (ImagePolicyWebhook)"),
    _manual("GKE 4.6.1", "Create administrative boundaries between resources using namespaces",
            "a design choice: tfplat separates serving and monitoring into their own namespaces"),
    _p("GKE 4.6.2", "seccomp profile RuntimeDefault in pod definitions"),
    _p("GKE 4.6.3", "Apply Security Context to Pods and Containers"),
    _p("GKE 4.6.4", "The default namespace should not be used"),
    _live("GKE 5.1.1", "Image Vulnerability Scanning is enabled",
          "whether containerscanning.googleapis.com is enabled in the project (tfplat enables no APIs)"),
    _live("GKE 5.1.2", "Minimize user access to container image repositories",
          "the registry's IAM policy, outside the stack"),
    _p("GKE 5.1.3", "Cluster access to container image repositories is read-only"),
    _p("GKE 5.1.4", "Only trusted container images are used"),
    _p("GKE 5.2.1", "GKE clusters are not running using the Compute Engine default service account"),
    _p("GKE 5.2.2", "Dedicated GCP Service Accounts and Workload Identity"),
    _p("GKE 5.3.1", "Kubernetes Secrets are encrypted using keys managed in Cloud KMS"),
    _p("GKE 5.4.1", "The GKE Metadata Server is enabled"),
    _p("GKE 5.5.1", "Container-Optimized OS (cos_containerd) is used for node images"),
    _p("GKE 5.5.2", "Node Auto-Repair is enabled"),
    _p("GKE 5.5.3", "Node Auto-Upgrade is enabled"),
    _p("GKE 5.5.4", "Release Channels are used for version management"),
    _p("GKE 5.5.5", "Shielded GKE Nodes are enabled"),
    _p("GKE 5.5.6", "Integrity Monitoring for Shielded GKE Nodes is enabled"),
    _p("GKE 5.5.7", "Secure Boot for Shielded GKE Nodes is enabled"),
    _p("GKE 5.6.1", "VPC Flow Logs and Intranode Visibility are enabled"),
    _p("GKE 5.6.2", "Cluster is VPC-native (alias IPs)"),
    _p("GKE 5.6.3", "Control Plane Authorized Networks is enabled"),
    _p("GKE 5.6.4", "Cluster is created with Private Endpoint enabled and Public Access disabled"),
    _p("GKE 5.6.5", "Cluster is created with Private Nodes"),
    _live("GKE 5.6.6", "Consider firewalling GKE worker nodes",
          "the VPC's firewall rules (GKE creates its own; an existing network's owner manages the rest)"),
    Item("GKE 5.6.7", "Use of Google-managed SSL Certificates",
         "tfplat's gateways terminate TLS with the stack's certificate Secret; Google-managed (Certificate "
         "Manager) certificates are not offered yet", "gap"),
    _p("GKE 5.7.1", "Logging and Cloud Monitoring is enabled"),
    Item("GKE 5.7.2", "Enable Linux auditd logging",
         "tfplat does not deploy the COS auditd logging DaemonSet (k8s-node-tools); GKE's control plane audit logs "
         "are on", "gap"),
    _p("GKE 5.8.1", "Authentication using client certificates is disabled"),
    _manual("GKE 5.8.2", "Manage Kubernetes RBAC users with Google Groups for GKE",
            "needs the organization's Google Workspace group (gke-security-groups@<domain>); RBAC of people is the "
            "platform team's"),
    _p("GKE 5.8.3", "Legacy Authorization (ABAC) is disabled"),
    _p("GKE 5.9.1", "CMEK for GKE persistent disks"),
    _p("GKE 5.9.2", "CMEK for boot disks"),
    _manual("GKE 5.10.1", "Kubernetes Web UI is disabled",
            "the dashboard add-on no longer exists in GKE (nor in the provider's schema): nothing to disable"),
    _p("GKE 5.10.2", "Alpha clusters are not used for production workloads"),
    _manual("GKE 5.10.3", "Consider GKE Sandbox for running untrusted workloads",
            "tfplat serves the platform team's own models on GPU and TPU pools, which GKE Sandbox does not support"),
    _p("GKE 5.10.4", "Enable Security Posture"),
    # ---------------------------------------------------------------- EKS 1.8.0
    _p("EKS 2.1.1", "Enable audit logs"),
    _p("EKS 2.1.2", "Audit logs are collected and managed"),
    _live("EKS 3.1.1", "kubeconfig file permissions 644 or more restrictive", NODE_FILE),
    _live("EKS 3.1.2", "kubelet kubeconfig owned by root:root", NODE_FILE),
    _live("EKS 3.1.3", "kubelet config file permissions 644 or more restrictive", NODE_FILE),
    _live("EKS 3.1.4", "kubelet config file owned by root:root", NODE_FILE),
    _live("EKS 3.2.1", "Anonymous auth is not enabled", KUBELET),
    _live("EKS 3.2.2", "--authorization-mode is not AlwaysAllow", KUBELET),
    _live("EKS 3.2.3", "A client CA file is configured", KUBELET),
    _live("EKS 3.2.4", "--read-only-port is disabled", KUBELET),
    _live("EKS 3.2.5", "--streaming-connection-idle-timeout is not 0", KUBELET),
    _live("EKS 3.2.6", "--make-iptables-util-chains is true", KUBELET),
    _live("EKS 3.2.7", "--eventRecordQPS is 0 or an appropriate level", KUBELET),
    _live("EKS 3.2.8", "--rotate-certificates is not present or true", KUBELET),
    _live("EKS 3.2.9", "RotateKubeletServerCertificate is true", KUBELET),
    _p("EKS 4.1.1", "cluster-admin role only used where required"),
    _p("EKS 4.1.2", "Minimize access to secrets"),
    _p("EKS 4.1.3", "Minimize wildcard use in Roles and ClusterRoles"),
    _p("EKS 4.1.4", "Minimize access to create pods"),
    _p("EKS 4.1.5", "Default service accounts are not actively used"),
    _p("EKS 4.1.6", "Service account tokens only mounted where necessary"),
    _p("EKS 4.1.7", "Cluster Access Manager API to streamline and secure access"),
    _p("EKS 4.1.8", "Limit use of the Bind, Impersonate and Escalate permissions"),
    _p("EKS 4.1.9", "Minimize access to create PersistentVolumes"),
    _p("EKS 4.1.10", "Minimize access to the proxy sub-resource of nodes"),
    _p("EKS 4.1.11", "Minimize access to webhook configuration objects"),
    _p("EKS 4.1.12", "Minimize access to the service account token creation"),
    _p("EKS 4.2.1", "Minimize the admission of privileged containers"),
    _p("EKS 4.2.2", "Minimize the admission of containers sharing the host process ID namespace"),
    _p("EKS 4.2.3", "Minimize the admission of containers sharing the host IPC namespace"),
    _p("EKS 4.2.4", "Minimize the admission of containers sharing the host network namespace"),
    _p("EKS 4.2.5", "Minimize the admission of containers with allowPrivilegeEscalation"),
    _p("EKS 4.3.1", "The CNI plugin supports Network Policies"),
    _p("EKS 4.3.2", "All namespaces have Network Policies defined"),
    _p("EKS 4.4.1", "Prefer Secrets as files over Secrets as environment variables"),
    _manual("EKS 4.4.2", "Consider external secret storage",
            "tfplat keeps its few Secrets as Pulumi secrets; an external store is the platform team's choice"),
    _manual("EKS 4.5.1", "Create administrative boundaries between resources using namespaces",
            "a design choice: tfplat separates serving and monitoring into their own namespaces"),
    _p("EKS 4.5.2", "The default namespace should not be used"),
    _live("EKS 5.1.1", "Image vulnerability scanning with Amazon ECR or a third party",
          "scanning is configured on the registry (tfplat creates no ECR repository)"),
    _live("EKS 5.1.2", "Minimize user access to Amazon ECR", "the registry's IAM policies, outside the stack"),
    _p("EKS 5.1.3", "Minimize cluster access to read-only for Amazon ECR"),
    _p("EKS 5.1.4", "Minimize container registries to only those approved"),
    _p("EKS 5.2.1", "Prefer using dedicated EKS service accounts"),
    _p("EKS 5.3.1", "Kubernetes Secrets are encrypted using Customer Master Keys in AWS KMS"),
    _p("EKS 5.4.1", "Restrict access to the control plane endpoint"),
    _p("EKS 5.4.2", "Clusters are created with Private Endpoint enabled and Public Access disabled"),
    _p("EKS 5.4.3", "Clusters are created with Private Nodes"),
    _p("EKS 5.4.4", "Network Policy is enabled and set as appropriate"),
    _p("EKS 5.4.5", "Encrypt traffic to HTTPS load balancers with TLS certificates"),
    _p("EKS 5.5.1", "Manage Kubernetes RBAC users with AWS IAM Authenticator (access entries)"),
)
BY_ID: Mapping[str, Item] = {i.id: i for i in ITEMS}


def policies_of(item_id: str) -> list[str]:
    return [p.id for p in POLICIES if item_id in p.cis]


@dataclass(frozen=True)
class ItemResult:
    item: Item
    status: Status
    policies: tuple[str, ...]
    problems: tuple[str, ...]  # "<policy>: <message>" of what breaks it


def report(resources: Sequence[Resource], cloud: str, waivers: Mapping[str, str] | None = None) -> list[ItemResult]:
    """Every item of `cloud`'s benchmark judged on `resources`, each policy with its production
    settings (a waived policy's findings make an item `waived`, not compliant)."""
    hits: dict[str, list[tuple[str, str, bool]]] = {}  # item -> (policy, problem, waived)
    for policy in POLICIES:
        if not policy.cis or not policy.offline:
            continue
        settings = {**policy.defaults(), STACK_ENVIRONMENT: "prod"}
        for at, f in findings(policy, resources, settings, exempt=False):
            waived = policy.id in (waivers or {}) or (at is not None and exemption(policy.id, at.props) is not None)
            where = f"{at.name}: " if at is not None and at.name not in f.message else ""
            for item_id in f.cis or policy.cis:
                hits.setdefault(item_id, []).append((policy.id, where + f.message, waived))
    out = []
    for item in (i for i in ITEMS if i.cloud == cloud):
        names = tuple(policies_of(item.id))
        found = hits.get(item.id, [])
        if item.kind != "policy":
            status: Status = item.kind
        elif not found:
            status = "compliant"
        elif all(waived for _, _, waived in found):
            status = "waived"
        else:
            status = "not compliant"
        out.append(ItemResult(item, status, names,
                              tuple(f"{p}: {'(waived) ' if w else ''}{m}" for p, m, w in found)))
    return out
