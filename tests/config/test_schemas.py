"""The JSON Schemas themselves: valid, their defaults valid, and the spec types in step."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
import pytest

from infra.config.schema import _resolve, load_schema

SCHEMAS = ("model", "stack")


@pytest.mark.parametrize("name", SCHEMAS)
def test_schema_is_valid_draft_2020_12(name: str) -> None:
    Draft202012Validator.check_schema(load_schema(name))


def _defaults(root: dict[str, Any], schema: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any], Any]]:
    schema = _resolve(root, schema)
    found = [(path, schema, schema["default"])] if "default" in schema else []
    for key, sub in schema.get("properties", {}).items():
        found += _defaults(root, sub, f"{path}.{key}")
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        found += _defaults(root, extra, f"{path}.*")
    return found


@pytest.mark.parametrize("name", SCHEMAS)
def test_every_default_satisfies_its_own_schema(name: str) -> None:
    root = load_schema(name)
    defaults = _defaults(root, root)
    assert len(defaults) > 20
    for path, schema, value in defaults:
        sub = {k: v for k, v in schema.items() if k != "default"}
        errors = list(Draft202012Validator({**sub, "$defs": root["$defs"]}).iter_errors(value))
        assert not errors, f"{name}{path}: default {value!r}: {errors[0].message}"
