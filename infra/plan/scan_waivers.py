"""Waivers of checkov checks on one object, as annotations checkov itself honours.

`checkov.io/skip<N>: <CHECK>=<reason>` on an object's metadata makes checkov report that
check as skipped with the reason (infra.engines.scan lists them; the offline plan prints
them). Set through a chart's values, the annotation travels with the object into the
cluster, so the reason is next to what it excuses. Use only for a genuine need, and say it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

PREFIX = "checkov.io/skip"

# The pull policy checkov's CKV_K8S_15 asks for: the kubelet asks the registry on every pod
# start, so a re-pushed tag cannot keep running from a node's cache, and a pod whose
# credentials lost access to a private image cannot start from another pod's pull.
PULL_POLICY = "Always"

# Reasons shared by several controllers.
NEEDS_API = "CKV_K8S_38"
NEEDS_API_REASON = "the controller watches and writes Kubernetes objects through the API with this token"


def skip_annotations(reasons: Mapping[str, str], *, first: int = 1) -> dict[str, str]:
    """{check id: reason} -> the annotations (numbered in check order from `first`, so stable)."""
    out = {}
    for i, (check, reason) in enumerate(sorted(reasons.items()), start=first):
        if "=" in reason or not reason.strip():
            # checkov splits the value at "=", and an empty reason excuses nothing.
            raise ValueError(f"waiver of {check}: the reason must be non-empty and contain no '=': {reason!r}")
        out[f"{PREFIX}{i}"] = f"{check}={reason}"
    return out


@dataclass(frozen=True, kw_only=True)
class RenderedWaiver:
    """A waiver for an object whose chart offers no setting for its annotations: the offline
    plan adds the annotations to the rendered object (build/<stack>/charts/) before checkov
    reads it. They do not reach the cluster; the reason lives here, reviewed with the code."""

    chart: str
    kind: str
    name: str
    reasons: Mapping[str, str]


_DCGM_ROOT = ("DCGM reads the GPUs' profiling counters and opens the root-owned NVIDIA device files and "
              "driver libraries: it runs as root with SYS_ADMIN (infra/plan/monitoring/values.py)")

def _webhook_controller(chart: str, *, deployment: str | None, role_binding: str, cluster_role: str
                        ) -> tuple[RenderedWaiver, ...]:
    """Kueue and JobSet serve their own admission webhooks with a certificate they issue and
    rotate themselves (internal cert management: no cert-manager dependency)."""
    cert = (f"{chart}'s certificate manager rotates the TLS Secret of its own webhook: read and update on "
            f"Secrets, granted by a Role in its own namespace only (the chart's RBAC)")
    bundle = (f"{chart}'s certificate manager writes its CA bundle into its own webhook configurations "
              f"(the chart's RBAC)")
    out: tuple[RenderedWaiver, ...] = (
        RenderedWaiver(chart=chart, kind="RoleBinding", name=role_binding, reasons={"CKV2_K8S_5": cert}),
        RenderedWaiver(chart=chart, kind="ClusterRole", name=cluster_role, reasons={"CKV_K8S_155": bundle}))
    if deployment is not None:  # a chart with no setting for the Deployment's own annotations
        out += (RenderedWaiver(chart=chart, kind="Deployment", name=deployment, reasons={NEEDS_API: NEEDS_API_REASON}),)
    return out


def _keda() -> tuple[RenderedWaiver, ...]:
    """KEDA (the serving fleets' scaling engine): its chart offers annotations only for every
    object at once, so the waivers are added to the objects that need them."""
    return (
        *(RenderedWaiver(chart="keda", kind="Deployment", name=d, reasons={NEEDS_API: NEEDS_API_REASON})
          for d in ("keda-operator", "keda-operator-metrics-apiserver", "keda-admission-webhooks")),
        RenderedWaiver(chart="keda", kind="ClusterRole", name="keda-operator-minimal-cluster-role", reasons={
            "CKV_K8S_155": "KEDA's operator issues and rotates its own certificates (no cert-manager) and writes "
                           "their CA bundle into its own admission webhook configuration (the chart's RBAC)"}),
    )


RENDERED_WAIVERS: tuple[RenderedWaiver, ...] = (
    *_keda(),
    *_webhook_controller("kueue", deployment="kueue-controller-manager",
                         role_binding="kueue-manager-secrets-rolebinding", cluster_role="kueue-manager-role"),
    *_webhook_controller("jobset", deployment=None, role_binding="jobset-manager-secrets-rolebinding",
                         cluster_role="jobset-controller"),
    RenderedWaiver(chart="dcgm-exporter", kind="DaemonSet", name="dcgm-exporter", reasons={
        "CKV_K8S_23": _DCGM_ROOT, "CKV_K8S_40": _DCGM_ROOT, "CKV_K8S_25": _DCGM_ROOT, "CKV_K8S_39": _DCGM_ROOT,
        "CKV_K8S_22": "DCGM's embedded host engine writes its state and logs inside the container",
    }),
    # Jaeger's Deployment: the chart turns the token off on the ServiceAccount, which checkov does not read.
    RenderedWaiver(chart="jaeger", kind="Deployment", name="jaeger", reasons={
        NEEDS_API: "no token is mounted: the chart sets automountServiceAccountToken false on the pod's "
                   "ServiceAccount (jaeger.serviceAccount in infra/plan/monitoring/tracing.py)",
    }),
    # kube-prometheus-stack's operator ClusterRole (no annotation setting in the chart).
    RenderedWaiver(chart="kube-prometheus-stack", kind="ClusterRole", name="kps-operator", reasons={
        "CKV_K8S_49": "prometheus-operator manages its own custom resources and the StatefulSets it creates "
                      "for them with every verb (the chart's rules, scoped to those resources)",
    }),
)


def rendered_waivers(chart: str, kind: str, name: str) -> Mapping[str, str]:
    for w in RENDERED_WAIVERS:
        if (w.chart, w.kind, w.name) == (chart, kind, name):
            return w.reasons
    return {}
