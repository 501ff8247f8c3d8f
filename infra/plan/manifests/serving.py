"""Kubernetes objects of the serving layer, as plain dicts built from the plan.

One function per object kind; `fleet_objects` lists everything one model needs. The
component layer registers these dicts as typed pulumi_kubernetes resources unchanged, so
what the offline plan validates is exactly what `pulumi up` applies.
"""

from __future__ import annotations

from math import ceil
from typing import Any

from infra.plan import tfserving
from infra.plan.fleet import LOCAL_MODEL_ROOT, ColorPlan, FleetPlan
from infra.rules import names
from infra.rules.quantity import cpu_millis, cpu_text

Manifest = dict[str, Any]

RUN_AS = 10001  # above 10000 so it never maps to a host user
PROBE_PERIOD_S = 10


def meta(name: str, namespace: str | None, labels: dict[str, str],
         annotations: dict[str, str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "labels": dict(sorted(labels.items()))}
    if namespace is not None:
        out["namespace"] = namespace
    if annotations:
        out["annotations"] = dict(sorted(annotations.items()))
    return out


def namespace(name: str, environment: str) -> Manifest:
    labels = {
        names.LABEL_PART_OF: names.PART_OF, names.LABEL_MANAGED_BY: names.MANAGED_BY,
        names.LABEL_ENV: environment,
        # Every pod here must meet the restricted Pod Security Standard.
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "latest",
        "pod-security.kubernetes.io/warn": "restricted",
    }
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta(name, None, labels)}


def model_labels(f: FleetPlan, component: str, color: ColorPlan | None = None) -> dict[str, str]:
    return names.model_labels(
        model=f.name, component=component, team=f.model.owner, environment=f.environment,
        color=None if color is None else color.color, version=None if color is None else color.version)


def service_account(f: FleetPlan, identity_annotations: dict[str, str]) -> Manifest:
    return {
        "apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": meta(f.service_account, f.namespace, model_labels(f, "identity"), identity_annotations),
        # Cloud identity comes from the metadata server (GKE) or the Pod Identity agent
        # (EKS); no pod needs a Kubernetes API token.
        "automountServiceAccountToken": False,
    }


def config_map(f: FleetPlan, c: ColorPlan) -> Manifest:
    return {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": meta(c.config_map, f.namespace, model_labels(f, "config", c)),
        "data": dict(c.config_files),
        # Content-addressed name + immutable: a change makes a new ConfigMap and rolls
        # the Deployment, never edits config under running pods.
        "immutable": True,
    }


def _security_context() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": RUN_AS,
        "runAsGroup": RUN_AS,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _resources(f: FleetPlan) -> dict[str, Any]:
    cpu = cpu_millis(f.cpu)
    storage = f.model.serving.resources.ephemeral_storage
    requests: dict[str, Any] = {"cpu": cpu_text(cpu), "memory": f.memory, "ephemeral-storage": storage}
    # Memory limit = request: a reload that outgrows it fails loudly instead of
    # overcommitting the node. CPU may burst to 2x for batching spikes.
    limits: dict[str, Any] = {"cpu": cpu_text(cpu * 2), "memory": f.memory, "ephemeral-storage": storage}
    p = f.placement
    if p.accelerator_resource:
        requests[p.accelerator_resource] = p.accelerator_count
        limits[p.accelerator_resource] = p.accelerator_count
    return {"requests": requests, "limits": limits}


def _probes(f: FleetPlan, c: ColorPlan) -> dict[str, Any]:
    version_path = f"/v1/models/{f.name}/versions/{c.version}"
    # /metadata answers only once this exact version is loaded and AVAILABLE (warmup
    # included); the status path answers as long as the server knows the model.
    ready = {"httpGet": {"path": f"{version_path}/metadata", "port": "http"}}
    return {
        "startupProbe": {**ready, "periodSeconds": PROBE_PERIOD_S, "timeoutSeconds": 5,
                         "failureThreshold": ceil(f.model.serving.load_timeout_s / PROBE_PERIOD_S)},
        "readinessProbe": {**ready, "periodSeconds": 5, "timeoutSeconds": 3, "failureThreshold": 3},
        "livenessProbe": {"httpGet": {"path": version_path, "port": "http"},
                          "periodSeconds": 15, "timeoutSeconds": 5, "failureThreshold": 4},
    }


def _sync_container(f: FleetPlan, c: ColorPlan) -> dict[str, Any]:
    assert f.sync_image is not None
    target = f"{LOCAL_MODEL_ROOT}/{f.name}/{c.version}"
    return {
        "name": tfserving.FETCH_CONTAINER,
        "image": f.sync_image.ref,
        "imagePullPolicy": "Always",
        "command": ["aws", "s3", "cp", "--recursive", "--only-show-errors",
                    f"{f.source_uri}/{c.version}", target],
        "env": [{"name": "HOME", "value": "/tmp"}],
        "resources": {"requests": {"cpu": "250m", "memory": "256Mi", "ephemeral-storage": "64Mi"},
                      "limits": {"cpu": "1", "memory": "512Mi", "ephemeral-storage": "128Mi"}},
        "securityContext": _security_context(),
        "volumeMounts": [{"name": "models", "mountPath": LOCAL_MODEL_ROOT},
                         {"name": "tmp", "mountPath": "/tmp"}],
    }


def deployment(f: FleetPlan, c: ColorPlan) -> Manifest:
    labels = model_labels(f, "server", c)
    selector = names.selector(f.name, c.color)
    volumes: list[dict[str, Any]] = [
        {"name": "config", "configMap": {"name": c.config_map}},
        {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}},
    ]
    mounts = [{"name": "config", "mountPath": tfserving.CONFIG_DIR, "readOnly": True},
              {"name": "tmp", "mountPath": "/tmp"}]
    init: list[dict[str, Any]] = []
    if f.sync_image is not None:
        volumes.append({"name": "models", "emptyDir": {"sizeLimit": f.model.serving.resources.ephemeral_storage}})
        mounts.append({"name": "models", "mountPath": LOCAL_MODEL_ROOT, "readOnly": True})
        init.append(_sync_container(f, c))
    server = {
        "name": tfserving.SERVER_CONTAINER,
        "image": f.image.ref,
        "imagePullPolicy": "Always",
        "command": ["/usr/bin/tensorflow_model_server"],
        "args": list(f.args),
        "ports": [{"name": "grpc", "containerPort": tfserving.GRPC_PORT, "protocol": "TCP"},
                  {"name": "http", "containerPort": tfserving.REST_PORT, "protocol": "TCP"}],
        "resources": _resources(f),
        **_probes(f, c),
        # Keep serving while endpoints drop this pod from load balancers.
        "lifecycle": {"preStop": {"sleep": {"seconds": 15}}},
        "securityContext": _security_context(),
        "volumeMounts": mounts,
    }
    pod_spec: dict[str, Any] = {
        "serviceAccountName": f.service_account,
        "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "runAsUser": RUN_AS, "runAsGroup": RUN_AS,
                            "fsGroup": RUN_AS, "seccompProfile": {"type": "RuntimeDefault"}},
        "terminationGracePeriodSeconds": 45,
        "nodeSelector": dict(f.placement.node_selector),
        "topologySpreadConstraints": [
            {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
             "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": selector}},
        ],
        "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 100, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname",
                                                "labelSelector": {"matchLabels": selector}}}]}},
        "containers": [server],
        "volumes": volumes,
    }
    if f.placement.tolerations:
        pod_spec["tolerations"] = [dict(t) for t in f.placement.tolerations]
    if init:
        pod_spec["initContainers"] = init
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": meta(c.deployment, f.namespace, labels),
        # No replicas: the HPA KEDA owns sets the count (the API server starts at 1).
        "spec": {
            "selector": {"matchLabels": selector},
            "revisionHistoryLimit": 5,
            "progressDeadlineSeconds": tfserving.progress_deadline_s(f.model.serving.load_timeout_s),
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }


def _service_ports() -> list[dict[str, Any]]:
    return [
        {"name": "grpc", "port": tfserving.GRPC_PORT, "targetPort": "grpc", "protocol": "TCP",
         "appProtocol": "kubernetes.io/h2c"},
        {"name": "http", "port": tfserving.REST_PORT, "targetPort": "http", "protocol": "TCP",
         "appProtocol": "http"},
    ]


def color_service(f: FleetPlan, c: ColorPlan) -> Manifest:
    """Reaches one color only: smoke tests of the idle color, and gateway backends."""
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": meta(c.service, f.namespace, model_labels(f, "server", c)),
        "spec": {"type": "ClusterIP", "selector": names.selector(f.name, c.color), "ports": _service_ports()},
    }


def live_service(f: FleetPlan) -> Manifest:
    """The model's stable address; selects whichever color is live."""
    live = f.live_color
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": meta(f.live_service, f.namespace, model_labels(f, "live"),
                         {"tfplat.dev/live-color": live.color, "tfplat.dev/live-version": str(live.version)}),
        "spec": {"type": "ClusterIP", "selector": names.selector(f.name, live.color), "ports": _service_ports()},
    }


def pod_disruption_budget(f: FleetPlan, c: ColorPlan) -> Manifest:
    return {
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": meta(c.deployment, f.namespace, model_labels(f, "server", c)),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": names.selector(f.name, c.color)},
                 "unhealthyPodEvictionPolicy": "AlwaysAllow"},
    }


def _egress_rules(cloud: str) -> list[dict[str, Any]]:
    dns = [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
    rules: list[dict[str, Any]] = [
        {"ports": dns},
        {"ports": [{"protocol": "TCP", "port": 443}]},  # object storage and cloud APIs
    ]
    if cloud == "gcp":  # GKE metadata server (Workload Identity)
        rules.append({"to": [{"ipBlock": {"cidr": "169.254.169.254/32"}}], "ports": [{"protocol": "TCP", "port": 80}]})
        rules.append({"to": [{"ipBlock": {"cidr": "169.254.169.252/32"}}], "ports": [{"protocol": "TCP", "port": 988}]})
    else:  # EKS Pod Identity agent
        rules.append({"to": [{"ipBlock": {"cidr": "169.254.170.23/32"}}], "ports": [{"protocol": "TCP", "port": 80}]})
    return rules


def network_policy(f: FleetPlan) -> Manifest:
    return {
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": meta(f.name, f.namespace, model_labels(f, "network")),
        "spec": {
            "podSelector": {"matchLabels": names.selector(f.name)},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"ports": [{"protocol": "TCP", "port": tfserving.GRPC_PORT},
                                   {"protocol": "TCP", "port": tfserving.REST_PORT}]}],
            "egress": _egress_rules(f.cloud),
        },
    }


def fleet_objects(f: FleetPlan, identity_annotations: dict[str, str], prometheus_url: str) -> list[Manifest]:
    """Every object of one model, in apply order (identity, config, per color, traffic)."""
    from infra.plan.manifests.scaling import scaled_object

    objs = [service_account(f, identity_annotations), network_policy(f)]
    for c in f.colors:
        objs += [config_map(f, c), deployment(f, c), color_service(f, c),
                 pod_disruption_budget(f, c), scaled_object(f, c, prometheus_url)]
    objs.append(live_service(f))
    return objs
