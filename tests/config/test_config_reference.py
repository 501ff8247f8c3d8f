"""docs/config-reference.md is generated from schemas/, and says what every key does."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from infra.config import reference
from infra.config.schema import load_schema, resolve_ref


def test_the_reference_is_fresh() -> None:
    committed = reference.OUTPUT.read_text(encoding="utf-8") if reference.OUTPUT.exists() else ""
    assert committed == reference.render(), \
        f"docs/config-reference.md is stale (schemas/ changed): run `{reference.COMMAND}` and commit the result"


def _properties(root: dict[str, Any], node: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every key of the schema, shared definitions included; not the rules between keys
    (if/then/else and the like re-state keys, they do not add any)."""
    if not isinstance(node, dict):
        return
    for name, sub in node.get("properties", {}).items():
        yield f"{path}.{name}", sub
        yield from _properties(root, sub, f"{path}.{name}")
    for word in ("additionalProperties", "items"):
        yield from _properties(root, node.get(word), f"{path}.<{word}>")
    for name, sub in node.get("$defs", {}).items():
        yield from _properties(root, sub, f"$defs.{name}")


@pytest.mark.parametrize("name", ["model", "stack"])
def test_every_key_is_described(name: str) -> None:
    root = load_schema(name)
    bare = [path for path, sub in _properties(root, root, "")
            if not resolve_ref(root, sub).get("description", "").strip()]
    assert not bare, f"schemas/{name}.schema.json: keys without a description (say what it does, its unit, " \
                     f"its default and the rule): {', '.join(bare)}"


def test_the_reference_lists_every_key_with_its_default() -> None:
    text = reference.render()
    assert "| `serving.autoscaling.min_replicas` | integer (>= 1, <= 1000) | `1` | Fewest replicas of each " \
           "color" in text
    assert "| `config.tfplat:models.<name>.replicas` | object | optional | Deprecated (read until tfplat 0.3" in text
    assert "**Secret**: set with `pulumi config set --secret`." in text
