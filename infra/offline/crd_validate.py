"""Validate custom resources against their upstream CRD schemas.

kubernetes-validate knows built-in kinds only. Gateway API routes and Prometheus operator
objects are checked by tools/crd-validate (node), whose validators are generated from the
upstream CRDs (@kubernetes-models/*, pinned in its package-lock.json).
"""

from __future__ import annotations

from collections.abc import Mapping
import json
from pathlib import Path
import shutil
import subprocess
from typing import Any

from infra.offline.validate import Invalid

TOOL_DIR = Path(__file__).resolve().parents[2] / "tools" / "crd-validate"


class CrdValidatorMissingError(RuntimeError):
    pass


def validate_custom(objects: Mapping[str, Mapping[str, Any]]) -> list[Invalid]:
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
