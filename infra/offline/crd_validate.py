"""Validate custom resources against their upstream CRD schemas.

kubernetes-validate knows built-in kinds only. Gateway API routes and Prometheus operator
objects are checked by tools/crd-validate (node), whose validators are generated from the
upstream CRDs (@kubernetes-models/*, pinned in its package-lock.json).
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


class CrdValidatorMissingError(RuntimeError):
    pass


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
    return problems + _validate_local(local)
