"""What kube-state-metrics 2.18.0 reports about the stand-in cluster.

Family names, label keys and values follow kube-state-metrics' own stores at v2.18.0
(internal/store/{deployment,pod,service,endpointslice,endpoint}.go): default labels
(namespace, pod, uid / namespace, deployment / namespace, service, uid / endpointslice,
namespace), one series per condition status, only the current waiting reason, and
kube_<kind>_labels only for kinds and keys on the label allowlist. Which collectors run
and which labels are allowlisted are read from the kube-state-metrics Deployment the
pinned chart renders with tfplat's values (KsmConfig.from_rendered).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
import re
from typing import Any

from tests.harness.cluster import Cluster, Pod
from tests.harness.exposition import Page

SERVICE_NAME_LABEL = "kubernetes.io/service-name"


@dataclass(frozen=True)
class KsmConfig:
    resources: frozenset[str]  # --resources
    labels_allowlist: Mapping[str, tuple[str, ...]]  # --metric-labels-allowlist
    image: str

    @classmethod
    def from_rendered(cls, objects: Iterable[Mapping[str, Any]]) -> KsmConfig:
        for obj in objects:
            if obj.get("kind") != "Deployment":
                continue
            for c in obj["spec"]["template"]["spec"]["containers"]:
                if "kube-state-metrics" not in c.get("image", ""):
                    continue
                args = dict(a.split("=", 1) for a in c.get("args", []) if a.startswith("--") and "=" in a)
                allow = {kind: tuple(x for x in keys.split(",") if x) for kind, keys in
                         re.findall(r"([a-z]+)=\[([^\]]*)\]", args.get("--metric-labels-allowlist", ""))}
                return cls(resources=frozenset(args.get("--resources", "").split(",")), labels_allowlist=allow,
                           image=c["image"])
        raise ValueError("the rendered chart has no kube-state-metrics Deployment")


def _sanitize(key: str) -> str:
    return "label_" + re.sub(r"[^a-zA-Z0-9_]", "_", key)


def _allowed(config: KsmConfig, kind: str, labels: Mapping[str, str]) -> dict[str, str] | None:
    keys = config.labels_allowlist.get(kind)
    if not keys:
        return None  # the family is empty without an allowlist for the kind
    return {_sanitize(k): labels[k] for k in keys if k in labels}


def render(cluster: Cluster, t: float, config: KsmConfig) -> str:
    page = Page()
    with cluster.lock:
        if "deployments" in config.resources:
            _deployments(page, cluster, t)
        if "pods" in config.resources:
            _pods(page, list(cluster.pods(t)), t, config)
        services = _services(cluster, t)
        if "services" in config.resources:
            page.family("kube_service_created", "gauge",
                        [({"namespace": ns, "service": s, "uid": f"svc-{s}"}, created)
                         for ns, s, _, created in services])
            page.family("kube_service_info", "gauge",
                        [({"namespace": ns, "service": s, "uid": f"svc-{s}", "cluster_ip": "10.4.0.10",
                           "external_name": "", "load_balancer_ip": ""}, 1) for ns, s, _, _ in services])
        if "endpointslices" in config.resources:
            _endpointslices(page, cluster, services, t, config)
        if "endpoints" in config.resources:  # not enabled by the pinned chart; kept to prove it
            _endpoints(page, services, t)
    return page.text()


def _deployments(page: Page, cluster: Cluster, t: float) -> None:
    deps = [(m.namespace, d) for m in cluster.models.values() for d in m.deployments.values() if d.rollout_at <= t]
    base = [({"namespace": ns, "deployment": d.name}, d) for ns, d in deps]
    page.family("kube_deployment_created", "gauge", [(lbl, cluster.clock.epoch0 + d.rollout_at) for lbl, d in base])
    page.family("kube_deployment_spec_replicas", "gauge", [(lbl, d.replicas) for lbl, d in base])
    page.family("kube_deployment_status_replicas", "gauge", [(lbl, d.replicas) for lbl, d in base])
    page.family("kube_deployment_status_replicas_ready", "gauge", [(lbl, d.ready(t)) for lbl, d in base])
    page.family("kube_deployment_status_replicas_available", "gauge", [(lbl, d.ready(t)) for lbl, d in base])
    page.family("kube_deployment_status_replicas_unavailable", "gauge",
                [(lbl, d.replicas - d.ready(t)) for lbl, d in base])
    page.family("kube_deployment_status_condition", "gauge", [
        ({**lbl, "reason": reason, "condition": cond, "status": s}, 1 if s == status.lower() else 0)
        for lbl, d in base for cond, status, reason in d.conditions(t) for s in ("true", "false", "unknown")])


def _pods(page: Page, pods: list[Pod], t: float, config: KsmConfig) -> None:
    rows = [(p, p.status(t), {"namespace": p.namespace, "pod": p.name, "uid": p.uid}) for p in pods]
    server = "tensorflow-serving"
    page.family("kube_pod_info", "gauge", [({**lbl, "host_ip": "10.0.0.2", "pod_ip": p.ip, "node": p.node,
                                             "created_by_kind": "ReplicaSet",
                                             "created_by_name": p.name.rsplit("-", 1)[0], "priority_class": "",
                                             "host_network": "false"}, 1) for p, _, lbl in rows])
    page.family("kube_pod_created", "gauge", [(lbl, 1_760_000_000 + p.created) for p, _, lbl in rows])
    labelled = [(lbl, _allowed(config, "pods", p.labels)) for p, _, lbl in rows]
    page.family("kube_pod_labels", "gauge", [({**lbl, **extra}, 1) for lbl, extra in labelled if extra is not None])
    page.family("kube_pod_status_phase", "gauge", [({**lbl, "phase": ph}, 1 if ph == ("Running" if s.running else
                                                    "Pending") else 0) for _, s, lbl in rows
                                                   for ph in ("Pending", "Succeeded", "Failed", "Unknown", "Running")])
    page.family("kube_pod_status_ready", "gauge", [({**lbl, "condition": c}, 1 if c == str(s.ready).lower() else 0)
                                                    for _, s, lbl in rows for c in ("true", "false", "unknown")])
    c = {"container": server}
    page.family("kube_pod_container_status_ready", "gauge", [({**lbl, **c}, int(s.ready)) for _, s, lbl in rows])
    page.family("kube_pod_container_status_restarts_total", "counter",
                [({**lbl, **c}, s.restarts) for _, s, lbl in rows])
    page.family("kube_pod_container_status_running", "gauge", [({**lbl, **c}, int(s.running)) for _, s, lbl in rows])
    page.family("kube_pod_container_status_waiting", "gauge",
                [({**lbl, **c}, int(s.waiting is not None)) for _, s, lbl in rows])
    page.family("kube_pod_container_status_waiting_reason", "gauge",
                [({**lbl, **c, "reason": s.waiting}, 1) for _, s, lbl in rows if s.waiting])
    page.family("kube_pod_container_status_last_terminated_reason", "gauge",
                [({**lbl, **c, "reason": s.last_terminated[0]}, 1) for _, s, lbl in rows if s.last_terminated])
    page.family("kube_pod_container_status_last_terminated_exitcode", "gauge",
                [({**lbl, **c}, s.last_terminated[1]) for _, s, lbl in rows if s.last_terminated])
    init = [(p, s, {**lbl, "container": "fetch-model"}) for p, s, lbl in rows if p.has_fetch]
    page.family("kube_pod_init_container_status_restarts_total", "counter",
                [(lbl, s.init_restarts) for _, s, lbl in init])
    page.family("kube_pod_init_container_status_waiting_reason", "gauge",
                [({**lbl, "reason": s.init_waiting}, 1) for _, s, lbl in init if s.init_waiting])


Service = tuple[str, str, list[Pod], float]  # namespace, name, selected pods, created (epoch)


def _services(cluster: Cluster, t: float) -> list[Service]:
    out: list[Service] = []
    for m in cluster.models.values():
        if m.created > t or not m.deployments:
            continue
        pods = {c: [p for p in d.pods if p.status(t).exists] for c, d in m.deployments.items()}
        created = cluster.clock.epoch0 + m.created
        out.append((m.namespace, m.name, pods.get(m.live, []), created))
        out += [(m.namespace, f"{m.name}-{c}", ps, created) for c, ps in sorted(pods.items())]
    return out


def _endpointslices(page: Page, cluster: Cluster, services: list[Service], t: float, config: KsmConfig) -> None:
    slices = [({"endpointslice": cluster.slice_name(s), "namespace": ns}, s, pods, created)
              for ns, s, pods, created in services]
    page.family("kube_endpointslice_info", "gauge", [({**lbl, "addresstype": "IPv4"}, 1) for lbl, *_ in slices])
    page.family("kube_endpointslice_created", "gauge", [(lbl, created) for lbl, _, _, created in slices])
    page.family("kube_endpointslice_endpoints", "gauge", [
        ({**lbl, "ready": str(p.status(t).ready).lower(), "serving": str(p.status(t).ready).lower(),
          "terminating": "false", "targetref_kind": "Pod", "targetref_name": p.name,
          "targetref_namespace": p.namespace, "endpoint_nodename": p.node, "endpoint_zone": "us-central1-a",
          "address": p.ip}, 1)
        for lbl, _, pods, _ in slices for p in pods if p.status(t).waiting != "ContainerCreating"])
    labels = [({**lbl, **extra}, 1) for lbl, svc, _, _ in slices
              if (extra := _allowed(config, "endpointslices", {SERVICE_NAME_LABEL: svc})) is not None]
    page.family("kube_endpointslice_labels", "gauge", labels)


def _endpoints(page: Page, services: list[Service], t: float) -> None:
    page.family("kube_endpoint_address", "gauge", [
        ({"namespace": ns, "endpoint": s, "ip": p.ip, "ready": str(p.status(t).ready).lower()}, 1)
        for ns, s, pods, _ in services for p in pods])
