"""Validate custom resources: against the CRDs that will serve them where tfplat has them
(infra.engines.crds: the pinned charts' CRDs, the Gateway API CRDs; schema and CEL rules),
else with tools/crd-validate (node).

tools/crd-validate keeps what no pinned chart or CRD mirror ships: GKE's networking.gke.io
kinds (HealthCheckPolicy, ...), whose validators @kubernetes-models/gke generates from
GKE's published CRDs.
"""

from __future__ import annotations

from collections.abc import Mapping
import json
from pathlib import Path
import shutil
import subprocess
from typing import Any

from infra.engines.crds import CrdCatalog
from infra.engines.schema import Invalid

TOOL_DIR = Path(__file__).resolve().parents[2] / "tools" / "crd-validate"
NODE_GROUPS = frozenset({"networking.gke.io"})  # the packages of tools/crd-validate/validate.mjs


class CrdValidatorMissingError(RuntimeError):
    pass


def _validate_with_node(objects: Mapping[str, Mapping[str, Any]]) -> list[Invalid]:
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
    return [Invalid(p["where"], p["path"], p["message"]) for p in json.loads(proc.stdout)]


def validate_custom(objects: Mapping[str, Mapping[str, Any]], catalog: CrdCatalog) -> list[Invalid]:
    """objects: {where: object}. Every problem of every custom resource."""
    node = {w: o for w, o in objects.items() if o["apiVersion"].split("/")[0] in NODE_GROUPS}
    rest = {w: o for w, o in objects.items() if w not in node}
    return catalog.validate(rest) + (_validate_with_node(node) if node else [])
