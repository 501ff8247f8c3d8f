"""Turn a mock-engine run into build/<stack>/: resources.json, manifests/, and a summary.

Everything written is sorted and free of timestamps and absolute paths, so two runs on the
same input are byte-identical and a diff between two revisions is exactly the change.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
import contextlib
import functools
import json
import math
from pathlib import Path
import shutil
import tempfile
from typing import Any, ClassVar

import yaml

from infra import jsontext
from infra.atomic import umask
from infra.engines import content_cache
from infra.offline.engine import Record, RunResult

K8S_PREFIX = "kubernetes:"
# kubernetes:* types that are not objects in the cluster themselves.
NOT_OBJECTS = ("pulumi:providers:", "kubernetes:helm.sh/", "kubernetes:yaml")


def _urn_tail(urn: str | None) -> str | None:
    """urn:pulumi:<stack>::<project>::<type chain>::<name> -> <type chain>::<name>."""
    if urn is None:
        return None
    return urn.split("::", 2)[-1]


def resources_document(stack: str, project: str, result: RunResult) -> dict[str, Any]:
    """The JSON document of every registered resource, sorted by URN."""
    resources = []
    for r in sorted(result.records, key=lambda r: r.urn):
        entry: dict[str, Any] = {
            "urn": _urn_tail(r.urn), "type": r.type, "name": r.name,
            "parent": _urn_tail(r.parent), "custom": r.custom,
        }
        if r.provider:
            # A provider reference is "<provider URN>::<provider ID>"; the URN part says which.
            entry["provider"] = _urn_tail(r.provider.rsplit("::", 1)[0])
        if r.depends_on:
            entry["dependsOn"] = [_urn_tail(d) for d in r.depends_on]
        if r.options:
            entry["options"] = dict(r.options)
            if "aliases" in r.options:
                entry["options"]["aliases"] = [_urn_tail(a) for a in r.options["aliases"]]
        entry["inputs"] = r.inputs
        resources.append(entry)
    return {"project": project, "stack": stack, "resourceCount": len(resources),
            "resources": resources, "outputs": result.outputs}


def dump_json(doc: Any) -> str:
    return jsontext.dumps(doc, ensure_ascii=False) + "\n"


def kubernetes_objects(records: Iterable[Record]) -> list[dict[str, Any]]:
    """The Kubernetes objects the stack would apply, rebuilt from registered inputs."""
    objs = []
    for r in records:
        if not r.type.startswith(K8S_PREFIX) or r.type.startswith(NOT_OBJECTS) or not r.custom:
            continue
        inputs = dict(r.inputs)
        if "apiVersion" not in inputs or "kind" not in inputs:
            continue
        objs.append(inputs)
    return sorted(objs, key=object_key)


def object_key(obj: Mapping[str, Any]) -> tuple[str, str, str, str]:
    meta = obj.get("metadata", {})
    return (meta.get("namespace", ""), obj["kind"], meta.get("name", ""), obj["apiVersion"])


def manifest_path(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata", {})
    folder = meta.get("namespace") or "_cluster"
    return f"{folder}/{obj['kind'].lower()}-{meta.get('name', 'unnamed')}.yaml"


# libyaml's C emitter when PyYAML was built with it (about 10x faster), same output.
_Base: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_TAG = "tag:yaml.org,2002:"
_INF = float("inf")


class _Dumper(_Base):  # type: ignore[valid-type,misc]
    """The emitter's two implicit-tag look-ups per scalar (regular expressions, in Python)
    memoized: a fleet's manifests repeat the same keys and values thousands of times."""

    _resolved: ClassVar[dict[tuple[str, Any], str]] = {}

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is not yaml.ScalarNode:
            return super().resolve(kind, value, implicit)
        found = self._resolved.get((value, implicit))
        if found is None:
            if len(self._resolved) > 200_000:  # bounded: one plan's distinct scalars, not a leak
                self._resolved.clear()
            found = self._resolved[(value, implicit)] = super().resolve(kind, value, implicit)
        return found


class _NotJsonError(Exception):
    pass


def _str_node(text: str) -> yaml.ScalarNode:
    # Multi-line strings (TF Serving config files) as readable literal blocks.
    return yaml.ScalarNode(_TAG + "str", text, style="|" if "\n" in text else None)


def _float_text(value: float) -> str:
    """SafeRepresenter.represent_float."""
    if math.isnan(value):
        return ".nan"
    if value in (_INF, -_INF):
        return ".inf" if value > 0 else "-.inf"
    text = repr(value).lower()
    return text.replace("e", ".0e", 1) if "." not in text and "e" in text else text


def _node(data: Any) -> yaml.Node:
    """The tree PyYAML's SafeRepresenter builds for JSON data (sorted keys, block style,
    strings as _str_node), in one pass without its per-object alias bookkeeping. Every node
    is new, so the emitter writes no anchors: JSON data shares no objects."""
    kind = type(data)
    if kind is str:
        return _str_node(data)
    if kind is dict:
        if not all(type(k) is str for k in data):
            raise _NotJsonError
        return yaml.MappingNode(_TAG + "map", [(_str_node(k), _node(v)) for k, v in sorted(data.items())],
                                flow_style=False)
    if kind is list:
        return yaml.SequenceNode(_TAG + "seq", [_node(v) for v in data], flow_style=False)
    if kind is bool:
        return yaml.ScalarNode(_TAG + "bool", "true" if data else "false")
    if kind is int:
        return yaml.ScalarNode(_TAG + "int", str(data))
    if kind is float:
        return yaml.ScalarNode(_TAG + "float", _float_text(data))
    if data is None:
        return yaml.ScalarNode(_TAG + "null", "null")
    raise _NotJsonError  # tuples, int keys, ...: written as their JSON


def dump_yaml(obj: Any) -> str:
    """An object's JSON as block YAML with sorted keys, multi-line strings as literal blocks.
    PyYAML's SafeRepresenter would build the same tree in pure Python, several times slower
    (tests/offline/test_render.py holds the two equal)."""
    try:
        node = _node(obj)
    except _NotJsonError:
        node = _node(json.loads(json.dumps(obj, sort_keys=True, ensure_ascii=False)))
    text: str = yaml.serialize(node, Dumper=_Dumper, width=1000)
    return text


@functools.cache
def _dumper_id() -> bytes:
    """What dump_yaml's text depends on besides the object: this module's code (the tree it
    builds, the dumper's settings) and PyYAML's emitter (libyaml's version where it is used)."""
    libyaml = getattr(getattr(yaml, "_yaml", None), "get_version_string", lambda: "none")()
    return b"\0".join([Path(__file__).read_bytes(), yaml.__version__.encode(), str(libyaml).encode(),
                        _Base.__name__.encode()])


def dump_yaml_all(objects: Sequence[Any]) -> list[str]:
    """dump_yaml of each object, kept by content (infra.engines.content_cache, kind "yaml").
    A chart's objects are the same in every plan of a stack, and their CRDs are megabytes of
    YAML: dumping them was most of a small stack's writing time, paid again by every plan
    (dev's writing phase: 0.57-0.70 s, 0.22-0.25 s with the entries kept). The key is the
    objects' canonical JSON, which fixes every type and value dump_yaml reads, and
    _dumper_id; an entry that does not read back as one text per object is ignored."""
    def dumped() -> list[str]:
        return [dump_yaml(obj) for obj in objects]

    try:
        canonical = json.dumps(list(objects), sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError):  # not JSON data: dump_yaml says what it makes of it
        return dumped()
    entry = content_cache.key([_dumper_id(), canonical.encode()])
    text = content_cache.cached("yaml", entry, lambda: json.dumps(dumped()))
    with contextlib.suppress(ValueError):
        texts = json.loads(text)
        if isinstance(texts, list) and len(texts) == len(objects) and all(type(t) is str for t in texts):
            return texts
    return dumped()


def write_build(out_dir: Path, stack: str, document: Mapping[str, Any],
                objects: Iterable[Mapping[str, Any]],
                folders: Mapping[str, Iterable[Mapping[str, Any]]] | None = None) -> dict[str, str]:
    """Write build/<stack>/ atomically (old contents replaced): the resources document
    (resources_document), the Kubernetes objects (kubernetes_objects) in manifests/, and
    other objects by folder (charts/<release>/); returns {relpath: text}."""
    files: dict[str, str] = {"resources.json": dump_json(document)}
    # tfplat's own manifests are new each plan; a chart's objects are the same in every plan.
    for folder, folder_objects, kept in [("manifests", objects, False),
                                         *((f, o, True) for f, o in (folders or {}).items())]:
        listed = list(folder_objects)
        texts = dump_yaml_all(listed) if kept else [dump_yaml(obj) for obj in listed]
        for obj, text in zip(listed, texts, strict=True):
            rel = f"{folder}/{manifest_path(obj)}"
            if rel in files:
                raise ValueError(f"two objects would be written to {rel}")
            files[rel] = text
    target = out_dir / stack
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{stack}-", dir=out_dir))
    try:
        staging.chmod(0o777 & ~umask())  # mkdtemp makes it private; the build folder is not
        for folder in sorted({str(Path(rel).parent) for rel in files}):
            (staging / folder).mkdir(parents=True, exist_ok=True)
        for rel, text in sorted(files.items()):
            with open(staging / rel, "w", encoding="utf-8") as fh:
                fh.write(text)
        # Swap whole folders: the old build moves aside first, so at every moment (Ctrl-C
        # included) build/<stack> is either the complete old plan or the complete new one.
        old = None
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{stack}-old-", dir=out_dir))
            target.rename(old / stack)
        try:
            staging.rename(target)
        except BaseException:
            if old is not None:
                (old / stack).rename(target)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return files


def summary(stack: str, result: RunResult, fleets: Iterable[Any]) -> str:
    """Resources by kind, and per model the blue/green state and traffic weights."""
    kinds = Counter(r.type for r in result.records)
    lines = [f"Stack {stack}: {len(result.records)} resources", ""]
    width = max((len(k) for k in kinds), default=10)
    for kind, count in sorted(kinds.items()):
        lines.append(f"  {kind:<{width}}  {count:>4}")
    rows = [("model", "blue", "green", "live", "traffic", "pools")]
    for f in fleets:
        versions = {c.color: f"v{c.version}" for c in f.colors}
        weights = " ".join(f"{c.color} {c.weight}%" for c in f.colors if c.weight)
        rows.append((f.name, versions.get("blue", "-"), versions.get("green", "-"), f.rollout.live,
                     weights, ",".join(f.placement.pools)))
    if len(rows) > 1:
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines += ["", "Models:"]
        for row in rows:
            lines.append("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines) + "\n"
