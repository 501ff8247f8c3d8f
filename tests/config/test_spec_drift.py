"""The JSON Schemas are the one source of config keys; the typed specs (infra/config/spec.py,
release_spec.py) and their converters must follow them exactly. Two directions:

* every key a schema defines is read by the converters, and every key the converters read is
  defined by a schema (the converters run on schema-shaped data whose reads are recorded);
* every field of the specs takes its value from config (two configs that differ in every
  value give specs that differ in every field, except fields named here with the reason).

A failure names the key or field, and what to change.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
import dataclasses
from typing import Any

import pytest

from infra.config.schema import load_schema
from infra.config.schema import resolve_ref as resolve
from infra.config.spec import model_from_dict, stack_from_config

Path = tuple[str, ...]
MAP_KEY = "<name>"  # a key the file chooses (a pool, a receiver, a model)
ITEM = "[]"

# Keys no converter reads, and why.
NOT_READ = {
    ("stack", "secretsprovider"): "Pulumi's own: the engine reads it, tfplat does not",
    ("stack", "encryptedkey"): "Pulumi's own: the engine reads it, tfplat does not",
    ("stack", "encryptionsalt"): "Pulumi's own: the engine reads it, tfplat does not",
    ("stack", "environment"): "Pulumi ESC: the engine resolves it into config before tfplat sees config",
}
# Keys a converter asks for that the schema does not define, and why that is no drift.
ASKED_NOT_DEFINED = {
    ("stack", "release", "business_metrics"): "release_settings reads all three places a release policy is written; "
                                              "business metrics are the model file's, the stack schema refuses them",
    ("stack", "release", "gates", "custom"): "the same for custom gates: model file only",
}
# Spec fields whose value does not come from a config value, and why.
NOT_FROM_CONFIG = {
    "file", "name",  # the file the loader read, and the stack's name (the model's name is config: it varies)
    "secret_keys",  # which keys the file writes as secrets: the YAML tag, not a value
    "model",  # ModelRollout / EdgeChannel: the map key they are written under
}


class Recorder:
    """Schema-shaped data whose key reads are recorded as schema paths."""

    def __init__(self) -> None:
        self.read: set[Path] = set()

    def wrap(self, value: Any, path: Path) -> Any:
        if isinstance(value, dict):
            return _Tracked(self, path, {k: self.wrap(v, (*path, _key(k))) for k, v in value.items()})
        if isinstance(value, list):
            return [self.wrap(v, (*path, ITEM)) for v in value]
        return value


def _key(key: str) -> str:
    """The schema's name for a key of the examples: their one map entry is <name>."""
    return MAP_KEY if key == "map-key" else key


class _Tracked(dict[str, Any]):
    def __init__(self, recorder: Recorder, path: Path, items: dict[str, Any]) -> None:
        super().__init__(items)
        self._recorder, self._path = recorder, path

    def _mark(self, key: object) -> None:
        if isinstance(key, str):
            self._recorder.read.add((*self._path, _key(key)))

    def _mark_all(self) -> None:
        for key in dict.__iter__(self):  # the plain iteration: ours would mark again
            self._mark(key)

    def __getitem__(self, key: str) -> Any:
        self._mark(key)
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self._mark(key)
        return super().get(key, default)

    def __contains__(self, key: object) -> bool:
        self._mark(key)
        return super().__contains__(key)

    def __iter__(self) -> Iterator[str]:
        self._mark_all()
        return super().__iter__()

    def keys(self) -> Any:
        self._mark_all()
        return super().keys()

    def items(self) -> Any:
        self._mark_all()
        return super().items()

    def values(self) -> Any:
        self._mark_all()
        return super().values()


def schema_keys(root: dict[str, Any], node: dict[str, Any], path: Path = ()) -> Iterator[Path]:
    """Every key path the schema defines below `node` (map keys as <name>, list items as [])."""
    node = resolve(root, node)
    for name, sub in node.get("properties", {}).items():
        yield (*path, name)
        yield from schema_keys(root, sub, (*path, name))
    extra = node.get("additionalProperties")
    if isinstance(extra, dict) and extra:
        yield (*path, MAP_KEY)
        yield from schema_keys(root, extra, (*path, MAP_KEY))
    if isinstance(node.get("items"), dict):
        yield from schema_keys(root, node["items"], (*path, ITEM))


def example(root: dict[str, Any], node: dict[str, Any], variant: int, flip: int) -> Any:
    """A value of this shape: every key present, maps with one entry, lists with one item;
    `variant` picks each enum's value and type, `flip` every other leaf value."""
    node = resolve(root, node)
    kinds = node.get("type", "object" if "properties" in node else None)
    kinds = [k for k in (kinds if isinstance(kinds, list) else [kinds]) if k != "null"]
    if "enum" in node or "const" in node:
        options = [v for v in node.get("enum", [node.get("const")]) if v is not None]
        return options[(variant + flip) % len(options)] if "type" in node and flip else options[variant % len(options)]
    kind = kinds[0] if kinds else None
    if kind == "object":
        props = node.get("properties", {})
        # A deprecated key is read only where its replacement is absent: half the examples write
        # the old key, half the new one.
        renamed = {resolve(root, sub)["x-deprecated"]: old for old, sub in props.items()
                   if "x-deprecated" in resolve(root, sub)}
        left_out = set(renamed.values()) if variant % 2 else set(renamed)
        out = {name: example(root, sub, variant, flip) for name, sub in props.items() if name not in left_out}
        extra = node.get("additionalProperties")
        if isinstance(extra, dict) and extra:
            out["map-key"] = example(root, extra, variant, flip)
        return out
    if kind == "array":
        return [example(root, node["items"], variant, flip)] if isinstance(node.get("items"), dict) else []
    if kind == "boolean":
        return bool(flip)
    if kind in ("integer", "number"):
        low = node.get("minimum", node.get("exclusiveMinimum", 0))
        value = int(low) + 1 + flip
        return value if kind == "integer" else value + 0.5
    if node.get("pattern") == "^[0-9]+(s|m|h)$":  # a duration: the converters parse it
        return f"{1 + flip}m"
    return f"text-{flip}"


def _converted(name: str, data: dict[str, Any]) -> Any:
    if name == "model":
        return model_from_dict(data, "models/x.yaml")
    return stack_from_config("x", "stacks/Pulumi.x.yaml", data["config"], frozenset())


def _instances(name: str) -> Iterator[dict[str, Any]]:
    root = load_schema(name)
    for variant in range(6):  # enough to visit every value of the longest enum that matters (5)
        for flip in (0, 1):
            yield example(root, root, variant, flip)


@pytest.mark.parametrize("name", ["model", "stack"])
def test_every_schema_key_is_read_and_every_read_key_is_in_the_schema(name: str) -> None:
    root = load_schema(name)
    recorder = Recorder()
    for data in _instances(name):
        _converted(name, recorder.wrap(data, ()))
    if name == "stack":  # stack_from_config takes the config mapping; the rest is Pulumi's
        recorder.read.add(("config",))
    defined = set(schema_keys(root, root))
    unread = sorted(p for p in defined - recorder.read if (name, p[0]) not in NOT_READ
                    and not any(p[:i] in NOT_READ for i in range(1, len(p))))
    unknown = sorted(p for p in recorder.read - defined if not _asked_on_purpose(name, p))
    assert not unread, (f"schemas/{name}.schema.json defines keys the converters in infra/config/spec.py never "
                        f"read (add them to the spec, or remove them from the schema): "
                        f"{', '.join('.'.join(p) for p in unread)}")
    assert not unknown, (f"infra/config/spec.py reads keys schemas/{name}.schema.json does not define (add them to "
                         f"the schema with a description, or stop reading them): "
                         f"{', '.join('.'.join(p) for p in unknown)}")


def _asked_on_purpose(name: str, path: Path) -> bool:
    plain = tuple(part.removeprefix("tfplat:") for part in path)  # tfplat:release is a release policy too
    return any((name, *plain[-i:]) in ASKED_NOT_DEFINED for i in range(1, len(plain) + 1))


_SET = "<a value>"


def _fields(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    """(field path, leaf value) of a spec; map entries and list items under one path."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        yield path, _SET  # beside None when the config leaves it out
        for f in dataclasses.fields(value):
            yield from _fields(getattr(value, f.name), f"{path}.{f.name}" if path else f.name)
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _fields(item, f"{path}.{MAP_KEY}")
    elif isinstance(value, (tuple, list, frozenset)) and value and \
            any(dataclasses.is_dataclass(v) for v in value):
        for item in value:
            yield from _fields(item, f"{path}{ITEM}")
    else:
        yield path, value


@pytest.mark.parametrize("name", ["model", "stack"])
def test_every_spec_field_comes_from_config(name: str) -> None:
    seen: dict[str, set[str]] = {}
    for data in _instances(name):
        for path, value in _fields(_converted(name, data), ""):
            seen.setdefault(path, set()).add(repr(value))
    constant = sorted(path for path, values in seen.items()
                      if len(values) == 1 and values != {repr(_SET)}
                      and path.rsplit(".", 1)[-1] not in NOT_FROM_CONFIG)
    assert not constant, (f"fields of the {name} spec that no key of schemas/{name}.schema.json sets (every config "
                          f"gave the same value): {', '.join(constant)}; read them from a schema key in "
                          "infra/config/spec.py (add the key to the schema), or name them in NOT_FROM_CONFIG with "
                          "the reason")
