"""Validate rendered Kubernetes objects against the cluster version's OpenAPI schemas.

Built-in kinds use the strict schemas that ship with kubernetes-validate (unknown fields
are errors). The validator is built once per (version, kind) rather than per object, as
kubernetes_validate.validate would, which reloads the large definitions file each call.
jsonschema-rs gives the first verdict (infra.engines.fast_verdict); jsonschema words the
errors of every object it finds invalid.
Custom resources are checked by infra.engines.crds against the CRDs that will serve them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
import importlib.resources
import json
import re
from typing import Any

from jsonschema import Draft202012Validator
import jsonschema_rs
from referencing import Registry, Resource

from infra.engines import fast_verdict
from infra.engines.fast_verdict import FastVerdict
from infra.plan.manifests import is_builtin

__all__ = ["Invalid", "UnknownKindError", "available_versions", "is_builtin", "validate_builtin"]


@dataclass(frozen=True)
class Invalid:
    where: str  # manifests/<path>
    path: str  # JSON path inside the object
    message: str

    def render(self) -> str:
        return f"{self.where}: {self.path or '(object)'}: {self.message}"


class UnknownKindError(Exception):
    pass


def _schema_root() -> Any:
    return importlib.resources.files("kubernetes_validate") / "kubernetes-json-schema"


@cache
def available_versions() -> tuple[str, ...]:
    """Minor versions kubernetes-validate has strict schemas for, e.g. ("1.33", ...)."""
    found = set()
    for entry in _schema_root().iterdir():
        m = re.match(r"^v(\d+\.\d+)\.\d+-local-strict$", entry.name)
        if m:
            found.add(m.group(1))
    return tuple(sorted(found, key=lambda v: tuple(int(p) for p in v.split("."))))


@cache
def _registry(version: str) -> tuple[Any, Registry, jsonschema_rs.Registry]:
    folder = _schema_root() / f"v{version}.0-local-strict"
    defs = json.loads((folder / "_definitions.json").read_text(encoding="utf-8"))
    return folder, Resource.from_contents(defs) @ Registry(), fast_verdict.registry({defs["$id"]: defs})


@cache
def _validator(version: str, api_version: str, kind: str) -> tuple[Draft202012Validator, FastVerdict]:
    """jsonschema's validator (every error, worded) and the fast first verdict, for one kind."""
    folder, registry, fast_registry = _registry(version)
    api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    path = folder / f"{kind.lower()}-{api}.json"
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UnknownKindError(f"{api_version} {kind}") from None
    return (Draft202012Validator(schema, registry=Resource.from_contents(schema) @ registry),
            FastVerdict(schema, fast_registry))


def _json_path(parts: Iterable[object]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def validate_builtin(objects: Mapping[str, Mapping[str, Any]], version: str) -> list[Invalid]:
    """objects: {where: object}. Every error of every object, sorted."""
    if version not in available_versions():
        raise ValueError(f"no Kubernetes {version} schemas in kubernetes-validate "
                         f"(it has {', '.join(available_versions())})")
    problems: list[Invalid] = []
    for where, obj in sorted(objects.items()):
        try:
            validator, fast = _validator(version, obj["apiVersion"], obj["kind"])
        except UnknownKindError as exc:
            problems.append(Invalid(where, "kind", f"Kubernetes {version} has no kind {exc}"))
            continue
        if fast.valid(obj):  # jsonschema would find nothing either (infra.engines.fast_verdict)
            continue
        for err in sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path))):
            problems.append(Invalid(where, _json_path(err.absolute_path), err.message))
    return problems
