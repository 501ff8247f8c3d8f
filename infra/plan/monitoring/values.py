"""Helm values of kube-prometheus-stack and the DCGM exporter, built from the stack plan.

Keys follow the charts' values.yaml at the pinned versions (images/versions.yaml); the
keys used here were read from the charts' sources (docs/observability.md lists them).
Everything that varies by stack comes from tfplat:monitoring (MonitoringSpec); sizes that
vary by environment come from ENV_RESOURCES.
"""

from __future__ import annotations

from typing import Any

from infra.config.spec import MonitoringSpec, StackSpec
from infra.plan.fleet import GPU_RESOURCE
from infra.plan.monitoring import alertmanager, metrics
from infra.plan.scan_waivers import NEEDS_API, NEEDS_API_REASON, PULL_POLICY, skip_annotations
from infra.plan.storage import storage_class_name
from infra.rules import catalog, names
from infra.rules.quantity import memory_bytes

KPS_FULLNAME = "kps"  # short object names: kps-prometheus, kps-alertmanager, kps-grafana
PROMETHEUS_PORT = 9090


def prometheus_url(namespace: str) -> str:
    """The monitoring layer's Prometheus Service, in the cluster (the release analysis and
    KEDA's triggers query it)."""
    return f"http://{KPS_FULLNAME}-prometheus.{namespace}.svc:{PROMETHEUS_PORT}"
GRAFANA_ADMIN_SECRET = "tfplat-grafana-admin"
GRAFANA_SIDECAR_ROLE = "tfplat-grafana-sidecar"  # created by infra.plan.manifests.monitoring_access
GRAFANA_ADMIN_USER = "admin"
GRAFANA_USER_KEY = "admin-user"
GRAFANA_PASSWORD_KEY = "admin-password"
DCGM_FULLNAME = "dcgm-exporter"
# Prometheus stops adding data at this share of its volume instead of crashing on a full disk.
RETENTION_SIZE_PERCENT = 85
# GKE installs NVIDIA drivers on the node here; DCGM needs libnvidia-ml from it.
GKE_NVIDIA_HOST_DIR = "/home/kubernetes/bin/nvidia"

Resources = dict[str, dict[str, str]]


def requests_limits(cpu: str, memory: str, cpu_limit: str, memory_limit: str) -> Resources:
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu_limit, "memory": memory_limit}}


# Requests sized for a few hundred serving pods; limits leave room for compaction and
# query spikes. Memory limit of Prometheus is what protects the node from an expensive query.
ENV_RESOURCES: dict[str, dict[str, Resources]] = {
    "dev": {
        "prometheus": requests_limits("250m", "1Gi", "1", "2Gi"),
        "alertmanager": requests_limits("20m", "64Mi", "100m", "128Mi"),
        "grafana": requests_limits("50m", "128Mi", "500m", "256Mi"),
        "grafana-sidecar": requests_limits("10m", "64Mi", "100m", "128Mi"),
        "operator": requests_limits("50m", "64Mi", "200m", "256Mi"),
        "kube-state-metrics": requests_limits("20m", "64Mi", "200m", "256Mi"),
        "node-exporter": requests_limits("20m", "32Mi", "200m", "64Mi"),
        "dcgm-exporter": requests_limits("50m", "128Mi", "200m", "512Mi"),
    },
    "staging": {
        "prometheus": requests_limits("500m", "2Gi", "2", "4Gi"),
        "alertmanager": requests_limits("20m", "64Mi", "100m", "128Mi"),
        "grafana": requests_limits("100m", "256Mi", "500m", "512Mi"),
        "grafana-sidecar": requests_limits("10m", "64Mi", "100m", "128Mi"),
        "operator": requests_limits("100m", "128Mi", "500m", "256Mi"),
        "kube-state-metrics": requests_limits("50m", "128Mi", "500m", "256Mi"),
        "node-exporter": requests_limits("20m", "32Mi", "200m", "64Mi"),
        "dcgm-exporter": requests_limits("50m", "128Mi", "200m", "512Mi"),
    },
    "prod": {
        "prometheus": requests_limits("1", "4Gi", "4", "8Gi"),
        "alertmanager": requests_limits("50m", "128Mi", "200m", "256Mi"),
        "grafana": requests_limits("100m", "256Mi", "1", "512Mi"),
        "grafana-sidecar": requests_limits("20m", "64Mi", "200m", "256Mi"),
        "operator": requests_limits("100m", "128Mi", "500m", "512Mi"),
        "kube-state-metrics": requests_limits("100m", "256Mi", "1", "512Mi"),
        "node-exporter": requests_limits("50m", "32Mi", "250m", "64Mi"),
        "dcgm-exporter": requests_limits("100m", "128Mi", "300m", "512Mi"),
    },
}


def resources(environment: str, component: str) -> Resources:
    return ENV_RESOURCES[environment][component]


def retention_size(storage_size: str) -> str:
    """Prometheus retentionSize (base-2 units, as Prometheus parses them) from the PVC size."""
    mib = memory_bytes(storage_size) * RETENTION_SIZE_PERCENT // 100 // (1024 * 1024)
    return f"{mib // 1024}GB" if mib >= 10 * 1024 else f"{mib}MB"


def _pvc(size: str, storage_class: str | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}
    if storage_class:  # the stack's encrypted class (infra.plan.storage); None: the cluster default
        spec["storageClassName"] = storage_class
    return {"volumeClaimTemplate": {"spec": spec}}


def kube_prometheus_stack(stack: StackSpec, *, jaeger_query_url: str | None) -> dict[str, Any]:
    mon: MonitoringSpec = stack.monitoring
    env = stack.environment
    grafana: dict[str, Any] = {
        # The admin password lives in a Secret we create (generated or from the Pulumi
        # secret); the chart's default password is never used.
        "admin": {"existingSecret": GRAFANA_ADMIN_SECRET, "userKey": GRAFANA_USER_KEY,
                  "passwordKey": GRAFANA_PASSWORD_KEY},
        # ConfigMaps only, in the monitoring namespace only: tfplat's Role (manifests/
        # monitoring_access.py) instead of the chart's ClusterRole that reads every Secret.
        "rbac": {"namespaced": True, "useExistingRole": GRAFANA_SIDECAR_ROLE},
        "sidecar": {"dashboards": {"enabled": True, "label": "grafana_dashboard", "labelValue": "1",
                                   "resource": "configmap"},
                    "datasources": {"resource": "configmap"},
                    "imagePullPolicy": PULL_POLICY, "resources": resources(env, "grafana-sidecar"),
                    "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                        "capabilities": {"drop": ["ALL"]},
                                        "seccompProfile": {"type": "RuntimeDefault"}}},
        "resources": resources(env, "grafana"),
        "image": {"pullPolicy": PULL_POLICY},
        # Grafana writes only to its data volume and /tmp.
        "containerSecurityContext": {"allowPrivilegeEscalation": False, "privileged": False,
                                     "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]},
                                     "seccompProfile": {"type": "RuntimeDefault"}},
        "extraEmptyDirMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        "annotations": skip_annotations({
            NEEDS_API: "the dashboard and datasource sidecars watch ConfigMaps through the API with this token",
            "CKV_K8S_35": "the chart hands Grafana the admin user and password from the Secret tfplat creates as "
                          "environment variables (GF_SECURITY_ADMIN_*), its only way to read an existing Secret",
            "CKV_K8S_40": "the Grafana image's files belong to UID 472, the chart's default user",
            "CKV_K8S_8": "the k8s-sidecar containers only copy ConfigMaps into Grafana's folders and have no health "
                         "endpoint; Grafana's own container has liveness and readiness probes",
            "CKV_K8S_9": "the k8s-sidecar containers only copy ConfigMaps into Grafana's folders and have no health "
                         "endpoint; Grafana's own container has liveness and readiness probes"}),
    }
    if jaeger_query_url:
        grafana["additionalDataSources"] = [{
            "name": "Jaeger", "uid": "jaeger", "type": "jaeger", "access": "proxy", "url": jaeger_query_url,
            "editable": False}]
    return {
        "fullnameOverride": KPS_FULLNAME,
        "crds": {"enabled": True},
        # Managed control planes (GKE, EKS) expose no scheduler, controller-manager or etcd
        # endpoints, and GKE Dataplane V2 has no kube-proxy: their targets would be down
        # forever and their alerts would fire forever.
        "kubeControllerManager": {"enabled": False},
        "kubeScheduler": {"enabled": False},
        "kubeEtcd": {"enabled": False},
        "kubeProxy": {"enabled": False},
        "defaultRules": {"rules": {"etcd": False, "kubeControllerManager": False, "kubeProxy": False,
                                   "kubeSchedulerAlerting": False, "kubeSchedulerRecording": False}},
        # The operator's admission webhook needs a certificate Job with rights to patch webhook
        # configurations cluster-wide; tfplat checks every PrometheusRule with promtool before
        # `pulumi up` instead. Its own TLS listener used the webhook's certificate.
        "prometheusOperator": {
            "resources": resources(env, "operator"), "image": {"pullPolicy": PULL_POLICY},
            "admissionWebhooks": {"enabled": False}, "tls": {"enabled": False},
            "annotations": skip_annotations({NEEDS_API: NEEDS_API_REASON})},
        "prometheus": {"prometheusSpec": {
            "replicas": mon.prometheus_replicas,
            "retention": mon.prometheus_retention,
            "retentionSize": retention_size(mon.prometheus_storage_size),
            "storageSpec": _pvc(mon.prometheus_storage_size, storage_class_name(stack)),
            "resources": resources(env, "prometheus"),
            "externalLabels": {"stack": stack.name, "environment": env},
            # Select our PodMonitors and rules (they do not carry the chart's release label).
            "ruleSelectorNilUsesHelmValues": False,
            "serviceMonitorSelectorNilUsesHelmValues": False,
            "podMonitorSelectorNilUsesHelmValues": False,
        }},
        "alertmanager": {
            "config": alertmanager.config(mon),
            "alertmanagerSpec": {
                "replicas": mon.alertmanager_replicas,
                "secrets": alertmanager.mounted_secrets(mon),
                "resources": resources(env, "alertmanager"),
                "storage": _pvc("1Gi", storage_class_name(stack)),  # silences and notification log survive restarts
            },
        },
        "grafana": grafana,
        # The chart's default collectors already include everything the rules read
        # (metrics.KSM_COLLECTORS); the rules also need the Service of an EndpointSlice and
        # the model/color/version of a pod, which kube-state-metrics exports only when allowlisted.
        "kube-state-metrics": {
            "resources": resources(env, "kube-state-metrics"), "metricLabelsAllowlist": metrics.ksm_allowlist_arg(),
            "image": {"pullPolicy": PULL_POLICY},
            "annotations": skip_annotations({NEEDS_API: "kube-state-metrics lists and watches every object it "
                                                        "reports on through the API with this token"})},
        "prometheus-node-exporter": {
            "resources": resources(env, "node-exporter"), "image": {"pullPolicy": PULL_POLICY},
            "securityContext": {"fsGroup": 65534, "runAsGroup": 65534, "runAsNonRoot": True, "runAsUser": 65534,
                                "seccompProfile": {"type": "RuntimeDefault"}},
            "containerSecurityContext": {"readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False,
                                         "capabilities": {"drop": ["ALL"]}},
            # The node's own namespaces are what node-exporter measures: genuine needs.
            "daemonsetAnnotations": skip_annotations({
                "CKV_K8S_17": "node-exporter reads the node's processes (hostPID) to report them",
                "CKV_K8S_19": "node-exporter reports the node's network interfaces and is scraped on the node's "
                              "address (hostNetwork)"})},
    }


def gpu_types(stack: StackSpec) -> list[str]:
    """GPU types of the stack's pools (nodes carry them in the platform's accelerator label)."""
    found = {p.accelerator.type for p in stack.node_pools.values()
             if p.accelerator is not None and catalog.accelerator_kind(p.accelerator.type) == "gpu"}
    return sorted(found)


def wants_dcgm_chart(stack: StackSpec) -> bool:
    return stack.monitoring.gpu_metrics == "dcgm-exporter" and bool(gpu_types(stack))


def dcgm_exporter(stack: StackSpec) -> dict[str, Any]:
    values: dict[str, Any] = {
        "fullnameOverride": DCGM_FULLNAME,
        # Only GPU nodes: the exporter crashes where there is no NVIDIA driver.
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{
            "matchExpressions": [{"key": names.LABEL_ACCELERATOR, "operator": "In",
                                  "values": gpu_types(stack)}]}]}}},
        "tolerations": [{"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}],
        "resources": resources(stack.environment, "dcgm-exporter"),
        "image": {"pullPolicy": PULL_POLICY},
        "podSecurityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        # Root and SYS_ADMIN are genuine needs (the chart's default, restated): DCGM reads the
        # GPUs' profiling counters (DCGM_FI_PROF_*) only with SYS_ADMIN, and the NVIDIA device
        # files and driver libraries it opens are root's. The chart cannot annotate its
        # DaemonSet, so the checkov waivers are in infra.plan.scan_waivers.RENDERED_WAIVERS.
        "securityContext": {"runAsNonRoot": False, "runAsUser": 0, "allowPrivilegeEscalation": False,
                            "capabilities": {"add": ["SYS_ADMIN"], "drop": ["ALL"]}},
        # honorLabels keeps the exporter's pod/namespace labels (the pod using the GPU);
        # without it Prometheus renames them exported_pod/exported_namespace.
        "serviceMonitor": {"enabled": True, "interval": "15s", "honorLabels": True},
        "kubernetes": {"enablePodLabels": False},
    }
    if stack.cloud == "gcp":
        # GKE's device plugin reports devices by name (nvidia0), not UUID, and keeps the
        # driver libraries on the host; the chart's default mount of its counters file is
        # kept (lists replace, they do not merge).
        values["arguments"] = ["-f", "/etc/dcgm-exporter/default-counters.csv",
                               "--kubernetes-gpu-id-type", "device-name"]
        values["extraHostVolumes"] = [{"name": "nvidia-install-dir-host", "hostPath": GKE_NVIDIA_HOST_DIR}]
        values["extraVolumeMounts"] = [
            {"name": "exporter-metrics-volume", "mountPath": "/etc/dcgm-exporter/default-counters.csv",
             "subPath": "default-counters.csv"},
            {"name": "nvidia-install-dir-host", "mountPath": "/usr/local/nvidia", "readOnly": True},
        ]
        values["extraEnv"] = [{"name": "LD_LIBRARY_PATH", "value": "/usr/local/nvidia/lib64"}]
    return values
