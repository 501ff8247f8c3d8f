"""JSON Schema validation with fix-it messages, and defaults taken from the schema.

The schemas in schemas/ are the single source of truth for the shape of config files and
for their defaults: editors validate with them (the `$schema` line), the loader validates
with them, and `apply_defaults` fills omitted keys from their `default` values, so no
default is written twice.
"""

from __future__ import annotations

import copy
from functools import cache
import json
from pathlib import Path
import re
from typing import Any

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError

from infra.config.errors import ConfigIssue, did_you_mean, format_path, one_of
from infra.config.yamlio import YamlDoc

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"

_TYPE_WORDS = {
    "integer": "a whole number", "number": "a number", "string": "a string",
    "boolean": "true or false", "object": "a mapping", "array": "a list", "null": "null",
}


@cache
def load_schema(name: str) -> dict[str, Any]:
    """`name` is "model" or "stack" (schemas/<name>.schema.json)."""
    with (SCHEMA_DIR / f"{name}.schema.json").open(encoding="utf-8") as fh:
        schema: dict[str, Any] = json.load(fh)
    return schema  # its own validity is a test (tests/config/test_schemas.py), not a start-up cost


def _strict_integer(_checker: object, instance: object) -> bool:
    # JSON Schema counts 9.0 as an integer; YAML `9.0` is a float, and a version, a count
    # or a port written that way is rendered as "9.0", which TF Serving and Kubernetes refuse.
    return isinstance(instance, int) and not isinstance(instance, bool)


_StrictValidator = validators.extend(  # type: ignore[no-untyped-call]
    Draft202012Validator, type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _strict_integer))


@cache
def _validator(name: str) -> Draft202012Validator:
    validator: Draft202012Validator = _StrictValidator(load_schema(name))
    return validator


def resolve_ref(root: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with a local $ref replaced by its target (the referring keys win)."""
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        target: dict[str, Any] = root["$defs"][ref.removeprefix("#/$defs/")]
        merged = {**resolve_ref(root, target), **{k: v for k, v in schema.items() if k != "$ref"}}
        return merged
    return schema


def _types(schema: dict[str, Any]) -> list[str]:
    kind = schema.get("type")
    if isinstance(kind, list):
        return [str(k) for k in kind]
    return [str(kind)] if kind else []


def _hint_for(root: dict[str, Any], schema: dict[str, Any], fallback: str) -> str:
    schema = resolve_ref(root, schema)
    hint = schema.get("x-hint")
    if isinstance(hint, str):
        return hint
    return fallback


def _issue(doc: YamlDoc, prefix: tuple[str | int, ...], rel: tuple[str | int, ...],
           message: str, hint: str, *value: Any) -> ConfigIssue:
    full = (*prefix, *rel)
    kwargs: dict[str, Any] = {}
    if value:
        kwargs["value"] = value[0]
    return ConfigIssue(file=doc.file, path=format_path(full), line=doc.line_of(full),
                       message=message, hint=hint, **kwargs)


def _explain(doc: YamlDoc, root: dict[str, Any], err: ValidationError,
             prefix: tuple[str | int, ...]) -> list[ConfigIssue]:
    path = tuple(err.absolute_path)
    schema = err.schema if isinstance(err.schema, dict) else {}
    value = err.instance
    kind = err.validator
    wanted: Any = err.validator_value

    if "propertyNames" in err.schema_path:
        hint = _hint_for(root, schema, "rename the key")
        return [_issue(doc, prefix, (*path, str(value)), f'invalid name "{value}"', hint)]
    if kind == "additionalProperties" and isinstance(value, dict):
        known = sorted(schema.get("properties", {}))
        patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
        issues = []
        for key in sorted(value):
            if key in known or any(p.search(key) for p in patterns):
                continue
            hint = f"remove it or use one of: {one_of(known)}{did_you_mean(key, known)}"
            issues.append(_issue(doc, prefix, (*path, key), f'unknown key "{key}"', hint))
        return issues
    if kind == "required" and isinstance(value, dict):
        props = schema.get("properties", {})
        issues = []
        for key in wanted:
            if key in value:
                continue
            sub = props.get(key, {})
            desc = resolve_ref(root, sub).get("description", "") if isinstance(sub, dict) else ""
            fallback = f"add `{key}:`" + (f" ({desc})" if desc else "")
            hint = _hint_for(root, schema, fallback) if "then" in err.schema_path else fallback
            issues.append(_issue(doc, prefix, (*path, key), f'missing required key "{key}"', hint))
        return issues
    if kind == "type":
        want = " or ".join(_TYPE_WORDS.get(t, t) for t in _types(schema))
        hint = _hint_for(root, schema, f"use {want}")
        return [_issue(doc, prefix, path, f"expected {want}", hint, value)]
    if kind in ("enum", "const"):
        options = wanted if kind == "enum" else [wanted]
        near = did_you_mean(str(value), [str(o) for o in options])
        return [_issue(doc, prefix, path, "not an allowed value",
                       f"use one of: {one_of(options)}{near}", value)]
    if kind == "pattern":
        hint = _hint_for(root, schema, f"match the pattern {err.validator_value}")
        return [_issue(doc, prefix, path, "not in the expected format", hint, value)]
    if kind == "not":
        hint = _hint_for(root, schema, "remove the keys that do not apply here")
        return [_issue(doc, prefix, path, "keys that do not go together", hint, value)]
    limits = {
        "minimum": "at least", "maximum": "at most",
        "exclusiveMinimum": "greater than", "exclusiveMaximum": "less than",
    }
    if kind in limits:
        word = limits[kind]
        return [_issue(doc, prefix, path, f"must be {word} {err.validator_value}",
                       f"use a value {word} {err.validator_value}", value)]
    if kind in ("minProperties", "minItems"):
        return [_issue(doc, prefix, path, "must not be empty",
                       f"add at least {err.validator_value} entr{'y' if err.validator_value == 1 else 'ies'}",
                       value)]
    if kind == "uniqueItems":
        return [_issue(doc, prefix, path, "has duplicate entries", "list each entry once", value)]
    if kind == "minLength":
        message = "must not be empty" if wanted == 1 else f"must be at least {wanted} characters long"
        described = resolve_ref(root, schema).get("description")
        fallback = "give it a value" if wanted == 1 else f"use at least {wanted} characters"
        fallback += f" ({described})" if described else ""
        return [_issue(doc, prefix, path, message, _hint_for(root, schema, fallback), value)]
    if kind == "maxLength":
        return [_issue(doc, prefix, path, f"must be at most {wanted} characters long",
                       _hint_for(root, schema, f"shorten it to {wanted} characters or fewer"), value)]
    described = resolve_ref(root, schema).get("description")
    fallback = f"see its description: {described}" if described else "see the schema in schemas/"
    return [_issue(doc, prefix, path, err.message, _hint_for(root, schema, fallback), value)]


def validate(doc: YamlDoc, schema_name: str, *, data: Any = None,
             prefix: tuple[str | int, ...] = ()) -> list[ConfigIssue]:
    """Every schema violation of `data` (default: the whole document) as issues."""
    root = load_schema(schema_name)
    instance = doc.data if data is None else data
    issues: list[ConfigIssue] = []
    seen: set[tuple[str, str]] = set()
    for err in _validator(schema_name).iter_errors(instance):
        for issue in _explain(doc, root, err, prefix):
            key = (issue.path, issue.message)
            if key not in seen:
                seen.add(key)
                issues.append(issue)
    return issues


def apply_defaults(schema_name: str, instance: Any, *, at: tuple[str, ...] = ()) -> Any:
    """A deep copy of a schema-valid `instance` with every omitted default filled in.

    `at` selects a sub-schema by property names (e.g. ("properties", "config")).
    """
    root = load_schema(schema_name)
    schema: dict[str, Any] = root
    for key in at:
        schema = schema[key]
    return _fill(root, schema, copy.deepcopy(instance))


def _fill(root: dict[str, Any], schema: dict[str, Any], value: Any) -> Any:
    schema = resolve_ref(root, schema)
    if isinstance(value, dict):
        for key, sub in schema.get("properties", {}).items():
            sub_r = resolve_ref(root, sub)
            if key not in value and "default" in sub_r:
                value[key] = copy.deepcopy(sub_r["default"])
            if key in value:
                value[key] = _fill(root, sub, value[key])
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key in value:
                if key not in schema.get("properties", {}):
                    value[key] = _fill(root, extra, value[key])
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_fill(root, schema["items"], item) for item in value]
    return value


def marked_paths(schema_name: str, instance: Any, marker: str) -> list[tuple[str | int, ...]]:
    """Paths in `instance` whose schema carries `marker` (e.g. "x-secret")."""
    root = load_schema(schema_name)
    found: list[tuple[str | int, ...]] = []
    _walk_marked(root, root, instance, (), marker=marker, found=found)
    return found


def _walk_marked(root: dict[str, Any], schema: dict[str, Any], value: Any, path: tuple[str | int, ...], *,
                 marker: str, found: list[tuple[str | int, ...]]) -> None:
    schema = resolve_ref(root, schema)
    if schema.get(marker):
        found.append(path)
        return
    if isinstance(value, dict):
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            sub = props.get(key, extra if isinstance(extra, dict) else None)
            if isinstance(sub, dict):
                _walk_marked(root, sub, item, (*path, key), marker=marker, found=found)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            _walk_marked(root, schema["items"], item, (*path, i), marker=marker, found=found)
