"""Custom resources checked against the CRDs that will serve them: OpenAPI schema and CEL.

A CrdCatalog is built from CustomResourceDefinition objects: those the pinned charts ship
(prometheus-operator's from kube-prometheus-stack, the AWS Load Balancer Controller's, ...),
and CRD bundles read from a mirror folder (`crd_bundle`, Gateway API). Validation does what
the API server does on create, strictly:

1. defaults from the schema are applied (rules may read defaulted fields);
2. the object is checked against the version's openAPIV3Schema as JSON Schema, with
   Kubernetes' extensions (int-or-string, preserve-unknown-fields, embedded resources,
   nullable) and unknown fields refused (kubectl's and Pulumi's strict field validation);
3. every `x-kubernetes-validations` rule is evaluated with infra.engines.cel. Transition
   rules (`oldSelf`) have no old object here and are skipped; a rule calling a Kubernetes-
   only CEL function is reported by `unsupported_rules()` (none today).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
import copy
from dataclasses import dataclass, field
from functools import cache, cached_property
import json
from pathlib import Path
import re
from typing import Any

from jsonschema import Draft202012Validator
import yaml

from infra.engines import cel
from infra.engines.fast_verdict import FastVerdict
from infra.engines.schema import Invalid

NO_CRD = "no CRD serves"


@dataclass(frozen=True)
class CrdVersion:
    api_version: str  # group/version
    kind: str
    scope: str  # Namespaced | Cluster
    schema: Mapping[str, Any]  # openAPIV3Schema
    source: str  # where the CRD came from, for messages

    @cached_property
    def json_schema(self) -> dict[str, Any]:
        return to_json_schema(self.schema, root=True)

    @cached_property
    def validator(self) -> Draft202012Validator:
        return Draft202012Validator(self.json_schema)

    @cached_property
    def fast(self) -> FastVerdict:
        """The first verdict (infra.engines.fast_verdict); `validator` words the errors."""
        return FastVerdict(self.json_schema)


def to_json_schema(node: Mapping[str, Any], *, root: bool = False) -> dict[str, Any]:
    """A structural OpenAPI v3 schema (Kubernetes dialect) as JSON Schema 2020-12."""
    out: dict[str, Any] = {}
    for key in ("enum", "pattern", "minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems",
                "uniqueItems", "minProperties", "maxProperties", "required"):
        if key in node:
            out[key] = node[key]
    for key in ("minimum", "maximum"):  # OpenAPI 3.0's boolean exclusive bounds
        flag = "exclusive" + key.capitalize()
        if node.get(flag) is True and key in node:
            out[flag] = out.pop(key)
    for key in ("allOf", "anyOf", "oneOf"):
        if key in node:
            out[key] = [to_json_schema(s) for s in node[key]]
    if "not" in node:
        out["not"] = to_json_schema(node["not"])
    kind = node.get("type")
    if node.get("x-kubernetes-int-or-string"):
        out["type"] = ["integer", "string"]
    elif kind:
        out["type"] = [kind, "null"] if node.get("nullable") else kind
    props = dict(node.get("properties") or {})
    if root or node.get("x-kubernetes-embedded-resource"):
        props = {"apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"},
                 **props}
    if props:
        out["properties"] = {k: to_json_schema(v) for k, v in props.items()}
    if isinstance(node.get("items"), Mapping):
        out["items"] = to_json_schema(node["items"])
    extra = node.get("additionalProperties")
    if isinstance(extra, Mapping):
        out["additionalProperties"] = to_json_schema(extra)
    elif extra is not None:
        out["additionalProperties"] = bool(extra)
    elif props and not node.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False  # unknown fields are errors, as for built-in kinds
    return out


def apply_defaults(schema: Mapping[str, Any], value: Any) -> Any:
    """`value` with the schema's defaults filled in where fields are absent (as the API server)."""
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        for key, sub in props.items():
            if key not in value and "default" in sub:
                value[key] = copy.deepcopy(sub["default"])
            if key in value:
                value[key] = apply_defaults(sub, value[key])
        extra = schema.get("additionalProperties")
        if isinstance(extra, Mapping):
            for key in value:
                if key not in props:
                    value[key] = apply_defaults(extra, value[key])
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        return [apply_defaults(schema["items"], v) for v in value]
    return value


def _rule_sites(schema: Mapping[str, Any], value: Any, path: str) -> Iterator[tuple[Mapping[str, Any], Any, str]]:
    """(rule, the value it sees as self, its path) for every rule the value reaches."""
    for rule in schema.get("x-kubernetes-validations") or []:
        yield rule, value, path
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key, sub_value in value.items():
            sub = props.get(key) or (extra if isinstance(extra, Mapping) else None)
            if sub is not None:
                yield from _rule_sites(sub, sub_value, f"{path}.{key}" if path else key)
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for i, item in enumerate(value):
            yield from _rule_sites(schema["items"], item, f"{path}.{i}" if path else str(i))


@dataclass
class CrdCatalog:
    """CRD versions by (apiVersion, kind); `validate` checks custom resources against them."""

    versions: dict[tuple[str, str], CrdVersion] = field(default_factory=dict)
    unsupported: dict[str, str] = field(default_factory=dict)  # rule -> why not evaluated

    def add_objects(self, objects: Iterable[Mapping[str, Any]], source: str) -> None:
        for obj in objects:
            if obj.get("kind") != "CustomResourceDefinition":
                continue
            spec = obj["spec"]
            for version in spec.get("versions") or []:
                schema = (version.get("schema") or {}).get("openAPIV3Schema")
                if schema is None or not version.get("served", True):
                    continue
                api = f"{spec['group']}/{version['name']}"
                self.versions[(api, spec["names"]["kind"])] = CrdVersion(
                    api_version=api, kind=spec["names"]["kind"], scope=spec.get("scope", "Namespaced"),
                    schema=schema, source=source)

    def knows(self, api_version: str, kind: str) -> bool:
        return (api_version, kind) in self.versions

    def groups(self) -> set[str]:
        return {api.split("/")[0] for api, _ in self.versions}

    def api_versions(self) -> tuple[str, ...]:
        """What the cluster serves once these CRDs exist (helm's --api-versions)."""
        return tuple(sorted({api for api, _ in self.versions} | {f"{api}/{kind}" for api, kind in self.versions}))

    def cluster_scoped_kinds(self) -> set[str]:
        return {v.kind for v in self.versions.values() if v.scope == "Cluster"}

    def validate(self, objects: Mapping[str, Mapping[str, Any]]) -> list[Invalid]:
        """objects: {where: object}. Every schema and CEL problem, sorted by object."""
        problems: list[Invalid] = []
        for where, obj in sorted(objects.items()):
            crd = self.versions.get((obj.get("apiVersion", ""), obj.get("kind", "")))
            if crd is None:
                problems.append(Invalid(where, "kind", f"{NO_CRD} {obj.get('apiVersion')} {obj.get('kind')}"))
                continue
            value = apply_defaults(crd.schema, copy.deepcopy(dict(obj)))
            errors = [] if crd.fast.valid(value) else sorted(crd.validator.iter_errors(value),
                                                             key=lambda e: list(map(str, e.absolute_path)))
            problems += [Invalid(where, ".".join(str(p) for p in e.absolute_path), e.message) for e in errors]
            if not errors:  # the API server runs CEL only on schema-valid objects
                problems += self._cel(where, crd, value)
        return problems

    def _cel(self, where: str, crd: CrdVersion, value: Any) -> list[Invalid]:
        problems = []
        for rule, node, path in _rule_sites(crd.schema, value, ""):
            expression = rule["rule"]
            if re.search(r"\boldSelf\b", expression):
                continue  # transition rule: needs the stored object
            try:
                ok = cel.evaluate(expression, {"self": node})
            except cel.CelUnsupportedError as exc:
                self.unsupported[expression] = f"{crd.kind} ({crd.source}): {exc}"
                continue
            except cel.CelError as exc:
                # The API server refuses the object too, in these words ("no such key: ...").
                problems.append(Invalid(where, path, f"{exc} evaluating rule: {expression}"))
                continue
            if ok is not True:
                problems.append(Invalid(where, path, _message(rule, node)))
        return problems


def _message(rule: Mapping[str, Any], node: Any) -> str:
    if rule.get("messageExpression"):
        try:
            return str(cel.evaluate(rule["messageExpression"], {"self": node}))
        except cel.CelError:
            pass
    return str(rule.get("message") or f"failed rule: {rule['rule']}")


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", name))


def crd_bundle(mirror: Path | None, name: str, at_most: str | None) -> tuple[str, list[dict[str, Any]]] | None:
    """(version, CRD objects) of `<mirror>/<name>-<version>/*.yaml`: the pinned version if held,
    else the newest held version not above it (None if the mirror holds none)."""
    if mirror is None or not mirror.is_dir():
        return None
    held = sorted((p for p in mirror.glob(f"{name}-v*") if p.is_dir()), key=lambda p: _version_key(p.name))
    if at_most is not None:
        held = [p for p in held if _version_key(p.name[len(name) + 1:]) <= _version_key(at_most)]
    if not held:
        return None
    folder = held[-1]
    files = sorted(folder.glob("*.yaml"))
    stamp = tuple((str(f), st.st_size, st.st_mtime_ns) for f in files for st in [f.stat()])
    return folder.name[len(name) + 1:], json.loads(_folder_objects(stamp))


@cache
def _folder_objects(stamp: tuple[tuple[str, int, int], ...]) -> str:
    """The objects of the files (path, size, mtime) as JSON: parsed once per process while no
    file changes (each plan of a test process, each stack of a diff), a fresh copy per caller."""
    return json.dumps([doc for f, _, _ in stamp for doc in yaml.load_all(Path(f).read_text(encoding="utf-8"),
                                                                          Loader=yaml.CSafeLoader)
                       if isinstance(doc, dict)])


def archive_crds(archive: Path) -> list[dict[str, Any]]:
    """The CRDs of a chart archive's `crds/` folders (the chart's and its subcharts'): plain
    YAML that Helm installs before the templates and never templates."""
    return list(json.loads(_archive_crds(str(archive), archive.stat().st_mtime_ns)))


@cache
def _archive_crds(archive: str, _mtime: int) -> str:
    import tarfile

    from infra.engines.helm import parse_stream

    out: list[dict[str, Any]] = []
    with tarfile.open(archive) as tar:
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            parts = member.name.split("/")
            # <chart>/crds/x.yaml or .../charts/<subchart>/crds/x.yaml; a templates/crds/ folder
            # (KEDA's) holds templates, which the render yields instead.
            in_crds = len(parts) >= 3 and parts[-2] == "crds" and (len(parts) == 3 or parts[-4] == "charts")
            if member.isfile() and in_crds and parts[-1].endswith((".yaml", ".yml")):
                handle = tar.extractfile(member)
                if handle is not None:
                    out += [o for o in parse_stream(handle.read().decode("utf-8"))
                            if o.get("kind") == "CustomResourceDefinition"]
    return json.dumps(out)
