"""Validate custom resources against their upstream CRD schemas.

kubernetes-validate knows built-in kinds only. Gateway API routes and Prometheus operator
objects are checked by tools/crd-validate (node), whose validators are generated from the
upstream CRDs (@kubernetes-models/*, pinned in its package-lock.json). Those validators
carry the OpenAPI part of a CRD only; the Gateway listener rules that the API server
enforces with CEL (x-kubernetes-validations) are re-stated in `gateway_listener_rules`.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
import json
from pathlib import Path
import shutil
import subprocess
from typing import Any

from infra.offline.validate import Invalid

TOOL_DIR = Path(__file__).resolve().parents[2] / "tools" / "crd-validate"


LOCAL_SCHEMA_GROUPS = frozenset({"gateway.k8s.aws"})
# Kinds whose CRDs come with a pinned chart (Kueue, JobSet): they are to be validated against
# the chart's own CRDs once the offline plan renders charts with helm (the real-engines work);
# until then the plan says, object by object, that they were not validated.
CHART_CRD_GROUPS = frozenset({"kueue.x-k8s.io", "jobset.x-k8s.io"})


def awaiting_chart_crds(objects: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Objects of CHART_CRD_GROUPS kinds: where, apiVersion and kind (for the plan's notes)."""
    return [f"{w} ({o['apiVersion']} {o['kind']})" for w, o in sorted(objects.items())
            if o["apiVersion"].split("/")[0] in CHART_CRD_GROUPS]


class CrdValidatorMissingError(RuntimeError):
    pass


def gateway_listener_rules(where: str, gateway: Mapping[str, Any]) -> list[Invalid]:
    """The CEL rules of Gateway API v1 `Gateway.spec.listeners` (and ListenerTLSConfig), with
    the API server's messages. An apply that breaks one fails only at `pulumi up` otherwise."""
    problems = []
    listeners = gateway.get("spec", {}).get("listeners", [])
    names = [x.get("name") for x in listeners]
    if len(names) != len(set(names)):
        problems.append(Invalid(where, "spec.listeners", "Listener name must be unique within the Gateway"))
    keys = [(x.get("port"), x.get("protocol"), x.get("hostname", "")) for x in listeners]
    if len(keys) != len(set(keys)):
        problems.append(Invalid(where, "spec.listeners",
                                "Combination of port, protocol and hostname must be unique for each listener"))
    for i, x in enumerate(listeners):
        path = f"spec.listeners.{i}"
        tls = x.get("tls")
        if x.get("protocol") in ("HTTP", "TCP", "UDP") and tls is not None:
            problems.append(Invalid(where, path, "tls must not be specified for protocols ['HTTP', 'TCP', 'UDP']"))
        if x.get("protocol") in ("TCP", "UDP") and "hostname" in x:
            problems.append(Invalid(where, path, "hostname must not be specified for protocols ['TCP', 'UDP']"))
        if tls is not None and tls.get("mode", "Terminate") == "Terminate" \
                and not tls.get("certificateRefs") and not tls.get("options"):
            problems.append(Invalid(where, f"{path}.tls",
                                    "certificateRefs or options must be specified when mode is Terminate"))
    return problems


@cache
def _local_validator(path: Path) -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(json.loads(path.read_text(encoding="utf-8")))


def _validate_local(objects: Mapping[str, Mapping[str, Any]]) -> list[Invalid]:
    """Kinds whose schema lives in tools/crd-validate/schemas/ (no published package)."""
    problems = []
    for where, obj in sorted(objects.items()):
        group, _, version = obj["apiVersion"].partition("/")
        path = TOOL_DIR / "schemas" / f"{group}_{version}_{obj['kind']}.json"
        if not path.exists():
            problems.append(Invalid(where, "kind", f"no schema known for {obj['apiVersion']} {obj['kind']}"))
            continue
        validator = _local_validator(path)
        for err in sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path))):
            problems.append(Invalid(where, ".".join(str(p) for p in err.absolute_path), err.message))
    return problems


def validate_custom(objects: Mapping[str, Mapping[str, Any]]) -> list[Invalid]:
    objects = {w: o for w, o in objects.items() if o["apiVersion"].split("/")[0] not in CHART_CRD_GROUPS}
    if not objects:
        return []
    node = shutil.which("node")
    if node is None or not (TOOL_DIR / "node_modules").is_dir():
        raise CrdValidatorMissingError(
            "custom resources cannot be validated: run `make setup` (needs node and npm) "
            f"to install {TOOL_DIR.relative_to(TOOL_DIR.parents[1])}")
    payload = json.dumps([{"where": w, "object": o} for w, o in sorted(objects.items())])
    proc = subprocess.run([node, "validate.mjs"], cwd=TOOL_DIR, input=payload, capture_output=True,
                          text=True, check=False, timeout=300)
    if proc.returncode != 0:
        raise CrdValidatorMissingError(f"tools/crd-validate failed: {proc.stderr.strip()}")
    problems = [Invalid(p["where"], p["path"], p["message"]) for p in json.loads(proc.stdout)]
    local = {w: o for w, o in objects.items() if o["apiVersion"].split("/")[0] in LOCAL_SCHEMA_GROUPS}
    cel = [p for w, o in sorted(objects.items()) if o["apiVersion"] == "gateway.networking.k8s.io/v1"
           and o["kind"] == "Gateway" for p in gateway_listener_rules(w, o)]
    return problems + _validate_local(local) + cel
