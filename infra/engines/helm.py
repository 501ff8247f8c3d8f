"""`helm template` of one release, as Kubernetes objects.

The inputs are exactly those a `helm install` would get (chart archive, release name,
namespace, values, the cluster's Kubernetes version and the API versions it serves);
the output is what Helm would send to the API server, made deterministic and complete:
`List` objects are flattened (as Helm's client does), namespaced objects without a
namespace get the release's (as Helm does at install), and material a chart generates
afresh on every render (webhook certificates, random passwords) is replaced by a marker
(see `scrub_generated`), so two renders are byte-identical and no key is written to disk.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
import json
from pathlib import Path
import subprocess
import tempfile
from typing import Any

import yaml

from infra.engines import content_cache
from infra.engines.tools import HELM_VERSION, helm
from infra.plan.charts import Chart

GENERATED = "[generated]"
GENERATED_B64 = base64.b64encode(GENERATED.encode()).decode()
RENDER_TIMEOUT_S = 300

# Built-in kinds that are not namespaced (Kubernetes 1.31-1.36); custom kinds' scope comes
# from their CRDs (`cluster_scoped` argument of `render`).
CLUSTER_SCOPED_BUILTINS = frozenset({
    "APIService", "CertificateSigningRequest", "ClusterRole", "ClusterRoleBinding", "ClusterTrustBundle",
    "ComponentStatus", "CSIDriver", "CSINode", "CustomResourceDefinition", "DeviceClass", "FlowSchema",
    "IngressClass", "IPAddress", "MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding",
    "MutatingWebhookConfiguration", "Namespace", "Node", "PersistentVolume", "PriorityClass",
    "PriorityLevelConfiguration", "ResourceSlice", "RuntimeClass", "ServiceCIDR", "StorageClass",
    "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "ValidatingWebhookConfiguration",
    "VolumeAttachment", "VolumeAttributesClass"})


class HelmRenderError(Exception):
    """`helm template` refused the chart with these values (helm's message)."""


@dataclass(frozen=True, kw_only=True)
class ReleaseInput:
    """One Helm release as the program registers it."""

    name: str
    namespace: str
    chart: Chart
    values: Mapping[str, Any]
    kube_version: str  # "1.34": Capabilities.KubeVersion
    include_crds: bool = True  # the chart's crds/ folder (helm install's default)
    api_versions: tuple[str, ...] = field(default=())  # CRD group/versions the cluster serves


class _Loader(yaml.CSafeLoader):
    """YAML 1.1 reads a bare `=` as the obscure !!value tag; charts mean the string."""


def _plain_scalar(loader: yaml.CSafeLoader, node: yaml.Node) -> Any:
    assert isinstance(node, yaml.ScalarNode)
    return loader.construct_scalar(node)


_Loader.add_constructor("tag:yaml.org,2002:value", _plain_scalar)


def parse_stream(text: str) -> list[dict[str, Any]]:
    """Objects of a multi-document YAML stream; `List`s flattened, empty documents dropped."""
    out: list[dict[str, Any]] = []
    for doc in yaml.load_all(text, Loader=_Loader):
        if not isinstance(doc, dict) or not doc:
            continue
        if doc.get("kind", "").endswith("List") and isinstance(doc.get("items"), list):
            out.extend(item for item in doc["items"] if isinstance(item, dict))
        else:
            out.append(doc)
    return out


def scrub_generated(obj: dict[str, Any]) -> dict[str, Any]:
    """Secret values and webhook CA bundles -> a marker (charts generate them per render)."""
    if obj.get("kind") == "Secret" and obj.get("apiVersion") == "v1":
        for key in ("data", "stringData"):
            if isinstance(obj.get(key), dict):
                marker = GENERATED_B64 if key == "data" else GENERATED
                obj[key] = {k: marker for k in obj[key]}
    if obj.get("kind") in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        for hook in obj.get("webhooks") or []:
            if isinstance(hook.get("clientConfig"), dict) and "caBundle" in hook["clientConfig"]:
                hook["clientConfig"]["caBundle"] = GENERATED_B64
    return obj


def with_namespace(obj: dict[str, Any], namespace: str, cluster_scoped: Iterable[str]) -> dict[str, Any]:
    scoped = set(cluster_scoped) | CLUSTER_SCOPED_BUILTINS
    meta = obj.setdefault("metadata", {})
    if obj.get("kind") in scoped:
        # A chart may write a namespace on a cluster-scoped object (Kueue's webhook
        # configurations do); the API server drops it on create, and so does this.
        meta.pop("namespace", None)
    elif not meta.get("namespace"):
        meta["namespace"] = namespace
    return obj


def render(release: ReleaseInput, archive: Path, *, cluster_scoped: Iterable[str] = ()) -> list[dict[str, Any]]:
    """The release's objects (helm template --skip-tests: tests run only under `helm test`).
    Renders are memoized per process on every input (a test suite plans each stack often)."""
    text = _template(json.dumps({"name": release.name, "namespace": release.namespace, "archive": str(archive),
                                 "values": release.values, "kube_version": release.kube_version,
                                 "include_crds": release.include_crds, "api_versions": release.api_versions,
                                 "label": f"{release.chart.chart} {release.chart.version}"}, sort_keys=True))
    objects: list[dict[str, Any]] = json.loads(text)  # a fresh copy per call; parsing YAML is the slow part
    own = [o for o in objects if o.get("kind") == "CustomResourceDefinition"]
    scoped = {*cluster_scoped, *(o["spec"]["names"]["kind"] for o in own if o["spec"].get("scope") == "Cluster")}
    return [scrub_generated(with_namespace(obj, release.namespace, scoped)) for obj in objects]


@cache
def _template(key: str) -> str:
    """helm template's objects, as JSON, for the inputs in `key` (JSON, so the cache sees values
    by content); kept on disk by content too (infra.engines.content_cache: helm's version, the
    chart archive's bytes and every input), so a plan in a fresh process renders nothing twice."""
    helm()  # a missing or wrong helm fails the plan even where an old render is stored
    archive = Path(json.loads(key)["archive"])
    entry = content_cache.key([HELM_VERSION.encode(), archive.read_bytes(), key.encode()])
    return content_cache.cached("helm", entry, lambda: _run_helm(key))


def _run_helm(key: str) -> str:
    spec = json.loads(key)
    with tempfile.TemporaryDirectory(prefix="tfplat-helm-") as tmp:
        values = Path(tmp) / "values.json"  # JSON is YAML: exact types, no quoting surprises
        values.write_text(json.dumps(spec["values"], sort_keys=True), encoding="utf-8")
        args = [helm(), "template", spec["name"], spec["archive"], "--namespace", spec["namespace"],
                "--values", str(values), "--kube-version", spec["kube_version"], "--skip-tests"]
        if spec["include_crds"]:
            args.append("--include-crds")
        for api in spec["api_versions"]:
            args += ["--api-versions", api]
        proc = subprocess.run(args, capture_output=True, text=True, check=False, timeout=RENDER_TIMEOUT_S,
                              env={"HELM_CACHE_HOME": tmp, "HELM_CONFIG_HOME": tmp, "HELM_DATA_HOME": tmp,
                                   "PATH": "/usr/bin:/bin"})
    if proc.returncode != 0:
        raise HelmRenderError(f"helm template {spec['name']} ({spec['label']}) failed: {proc.stderr.strip()}")
    return json.dumps(parse_stream(proc.stdout))
