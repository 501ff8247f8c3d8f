"""Register a manifest dict as the matching typed pulumi_kubernetes resource.

The planner builds plain Kubernetes objects; this maps (apiVersion, kind) to the SDK class
(`apps/v1 Deployment` -> `kubernetes.apps.v1.Deployment`) and passes the object's fields
as that class's arguments. Kinds from CRDs become `apiextensions.CustomResource`.
"""

from __future__ import annotations

from collections.abc import Mapping
import importlib
import re
from typing import Any

import pulumi

from infra.plan.charts import Chart
from infra.plan.manifests import is_builtin

Manifest = dict[str, Any]

# API groups whose SDK module is not the group's first label.
_GROUP_MODULES = {"": "core", "rbac.authorization.k8s.io": "rbac",
                  "admissionregistration.k8s.io": "admissionregistration",
                  "apiextensions.k8s.io": "apiextensions"}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _sdk_class(api_version: str, kind: str) -> Any | None:
    """The SDK class of a built-in kind; None for CRD kinds (no SDK module or class)."""
    if not is_builtin(api_version):
        return None  # CRD kinds: monitoring.coreos.com, gateway.networking.k8s.io, ...
    group, _, version = api_version.rpartition("/")
    module = _GROUP_MODULES.get(group, group.split(".")[0])
    try:
        mod = importlib.import_module(f"pulumi_kubernetes.{module}.{version}")
    except ImportError:
        return None  # a built-in group this SDK version does not know
    return getattr(mod, kind, None)


def resource_name(manifest: Manifest) -> str:
    """Logical name: <namespace>/<name> is unique per kind within a stack."""
    meta = manifest["metadata"]
    ns = meta.get("namespace")
    return f"{ns}-{meta['name']}" if ns else meta["name"]


def register(manifest: Manifest, opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
    import pulumi_kubernetes as k8s

    api_version, kind = manifest["apiVersion"], manifest["kind"]
    fields = {k: v for k, v in manifest.items() if k not in ("apiVersion", "kind")}
    cls = _sdk_class(api_version, kind)
    name = resource_name(manifest)
    if cls is None:
        return k8s.apiextensions.CustomResource(name, api_version=api_version, kind=kind,
                                                opts=opts, **fields)
    resource: pulumi.CustomResource = cls(name, opts=opts, **{_snake(k): v for k, v in fields.items()})
    return resource


def helm_release(resource_name: str, chart: Chart, *, release_name: str, namespace: str,
                 values: Mapping[str, Any], timeout_s: int, opts: pulumi.ResourceOptions,
                 skip_crds: bool | None = None) -> pulumi.CustomResource:
    """A Helm release of a chart pinned in images/versions.yaml, into a namespace that
    exists already; a failed install or upgrade is rolled back (cleanup_on_fail)."""
    import pulumi_kubernetes as k8s

    return k8s.helm.v3.Release(
        resource_name,
        k8s.helm.v3.ReleaseArgs(
            name=release_name, chart=chart.ref, version=chart.version,
            # OCI charts are addressed by reference alone; index repositories by repo + name.
            repository_opts=None if chart.oci else k8s.helm.v3.RepositoryOptsArgs(repo=chart.repository),
            namespace=namespace, create_namespace=False, values=dict(values),
            cleanup_on_fail=True, timeout=timeout_s, skip_crds=skip_crds),
        opts=opts)
