"""docs/config-reference.md, generated from the JSON Schemas in schemas/ (the one source of
every key, its type, default and meaning), so the reference cannot disagree with what the
loader accepts. `make config-reference` writes it; tests/config/test_config_reference.py fails
when the committed file is stale.

Usage: python -m infra.config.reference [--check]
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
import json
import sys
from typing import Any

from infra.config.schema import SCHEMA_DIR, load_schema, resolve_ref

OUTPUT = SCHEMA_DIR.parent / "docs" / "config-reference.md"
COMMAND = "make config-reference"
_DEFS = "#/$defs/"
_CONDITIONS = ("if", "then", "else", "allOf", "anyOf", "oneOf", "not")  # rules between keys, not keys


@dataclass(frozen=True, kw_only=True)
class Key:
    """One documented key: its dotted path (`<name>` for a map key, `[]` for a list item)."""

    path: str
    schema: dict[str, Any]  # the key's own schema, $ref resolved and merged under its own words
    required: bool
    shared: str | None  # the shared definition documented once elsewhere, when it is one


def shared_objects(root: dict[str, Any]) -> set[str]:
    """Object definitions with keys that several keys point at: documented once each."""
    refs: Counter[str] = Counter()

    def count(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith(_DEFS):
                refs[ref.removeprefix(_DEFS)] += 1
            for value in node.values():
                count(value)
        elif isinstance(node, list):
            for value in node:
                count(value)

    count({k: v for k, v in root.items() if k != "$defs"})
    count(root.get("$defs", {}))
    return {name for name, n in refs.items() if n > 1 and "properties" in root["$defs"][name]}


def keys(root: dict[str, Any], schema: dict[str, Any], prefix: str, shared: set[str]) -> Iterator[Key]:
    """Every key below `schema`, depth first in the schema's order."""
    schema = resolve_ref(root, schema)
    required = set(schema.get("required", ()))
    for name, sub in schema.get("properties", {}).items():
        path = f"{prefix}.{name}" if prefix else name
        ref = sub.get("$ref", "")
        target = ref.removeprefix(_DEFS) if ref.startswith(_DEFS) else None
        is_shared = target if target in shared else None
        yield Key(path=path, schema=resolve_ref(root, sub), required=name in required, shared=is_shared)
        if is_shared is None:
            yield from _below(root, sub, path, shared)


def _below(root: dict[str, Any], sub: dict[str, Any], path: str, shared: set[str]) -> Iterator[Key]:
    sub = resolve_ref(root, sub)
    yield from keys(root, sub, path, shared)
    extra = sub.get("additionalProperties")
    if isinstance(extra, dict) and extra:
        yield from _below(root, extra, f"{path}.<name>", shared)
    items = sub.get("items")
    if isinstance(items, dict):
        yield from _below(root, items, f"{path}[]", shared)


def _type(schema: dict[str, Any]) -> str:
    if "enum" in schema:
        return " | ".join(f"`{json.dumps(v)}`" for v in schema["enum"])
    if "const" in schema:
        return f"`{json.dumps(schema['const'])}`"
    kind = schema.get("type", "any")
    text = " or ".join(kind) if isinstance(kind, list) else str(kind)
    items = schema.get("items")
    if text == "array" and isinstance(items, dict):
        text += f" of {_type(items)}"
    bounds = [f"{word} {schema[k]}" for k, word in (("minimum", ">="), ("exclusiveMinimum", ">"),
                                                      ("maximum", "<="), ("exclusiveMaximum", "<"))
              if k in schema]
    return text + (f" ({', '.join(bounds)})" if bounds else "")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _row(key: Key) -> str:
    s = key.schema
    default = "required" if key.required else (f"`{json.dumps(s['default'])}`" if "default" in s else "optional")
    notes = []
    if s.get("x-secret"):
        notes.append("**Secret**: set with `pulumi config set --secret`.")
    if s.get("x-deprecated"):
        notes.append(f"**Deprecated**: use `{s['x-deprecated']}`.")
    if key.shared:
        notes.append(f"Keys: see [{key.shared}](#{key.shared.lower()}).")
    text = " ".join([s.get("description", ""), *notes]).strip()
    return f"| `{key.path}` | {_cell(_type(s))} | {_cell(default)} | {_cell(text)} |"


_HEAD = ("| key | type | default | meaning |", "| --- | --- | --- | --- |")


def section(root: dict[str, Any], title: str, intro: str) -> list[str]:
    shared = shared_objects(root)
    lines = [f"## {title}", "", intro, "", *_HEAD, *(_row(k) for k in keys(root, root, "", shared)), ""]
    for name in sorted(shared):
        definition = root["$defs"][name]
        lines += [f"### {name}", "", definition.get("description", ""), "", *_HEAD,
                  *(_row(k) for k in keys(root, definition, "", shared)), ""]
    return lines


def render() -> str:
    model, stack = load_schema("model"), load_schema("stack")
    lines = [
        "# Configuration reference",
        "",
        f"<!-- Generated from schemas/*.schema.json by `{COMMAND}`; do not edit by hand. -->",
        "",
        "Every key of `models/<name>.yaml` and `stacks/Pulumi.<stack>.yaml`: its type, its default",
        "(\"required\": the file must set it; \"optional\": left out means not set) and what it does.",
        "`<name>` stands for a key you choose (a pool, a receiver, a model), `[]` for an item of a list.",
        "The JSON Schemas in `schemas/` are the source of this page; the checks beyond them (what the",
        "loader refuses because it could not run) are in [config-files.md](config-files.md).",
        "",
        *section(model, "Model files: models/&lt;name&gt;.yaml", model.get("description", "")),
        *section(stack, "Stack files: stacks/Pulumi.&lt;stack&gt;.yaml", stack.get("description", "")),
    ]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when the file is stale")
    args = parser.parse_args(argv)
    text = render()
    current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
    if args.check:
        if current != text:
            print(f"{OUTPUT} is stale: run `{COMMAND}`", file=sys.stderr)
            return 1
        return 0
    if current != text:
        OUTPUT.write_text(text, encoding="utf-8")
        print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
