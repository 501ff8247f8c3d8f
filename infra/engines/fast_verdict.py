"""A first verdict on an object from jsonschema-rs; the messages still come from jsonschema.

jsonschema (pure Python) walks every object of a fleet keyword by keyword: at 1,000 models
its ~10,000 built-in objects cost about 5 s, where jsonschema-rs (the same JSON Schema
2020-12 rules, compiled, in Rust) answers "valid or not" for all of them in under 0.1 s.
Strictness and wording stay jsonschema's: an object jsonschema-rs finds invalid is judged
again by jsonschema, which words every error as before, and only "no errors" is taken
from jsonschema-rs. Both pass the JSON Schema test suite; tests/engines/test_fast_verdict.py
holds jsonschema-rs to never passing what jsonschema refuses, on every kind the prod stacks
render and on thousands of broken copies of each.

Three places the engines could part, each kept in line:
- values that are not JSON data (tuples, non-string keys, NaN): jsonschema-rs reads a
  tuple as an array where jsonschema does not; such objects are judged by jsonschema alone;
- `format`, which jsonschema 2020-12 only annotates: jsonschema-rs is told the same;
- `pattern` (CRDs): Rust's regular expressions are not Python's (`\\d` matches other digits
  in Python), so a pattern is matched with Python's `re.search`, as jsonschema matches it
  (a pattern Python cannot compile leaves every string it checks to jsonschema).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
import json
import re
from typing import Any

import jsonschema_rs


def is_json(value: Any) -> bool:
    """True when `value` is JSON data: json.loads(json.dumps(value)) gives it back equal."""
    try:
        return bool(json.loads(json.dumps(value, allow_nan=False)) == value)
    except (TypeError, ValueError):  # a non-string key of a mixed dict, NaN, an object
        return False


def registry(resources: Mapping[str, Any]) -> jsonschema_rs.Registry:
    """Schemas that $ref may name, by URI (built once, shared by every FastVerdict using it)."""
    return jsonschema_rs.Registry(list(resources.items()))


@cache
def _compiled(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error:  # e.g. "^(?i)..." (prometheus-operator's CRD): Python refuses it
        return None


class _PythonPattern:
    """The `pattern` keyword as jsonschema applies it (jsonschema._keywords.pattern)."""

    def __init__(self, _parent: Any, value: str, _path: Any) -> None:
        self._pattern = _compiled(value)

    def validate(self, instance: Any) -> None:
        if not isinstance(instance, str):
            return
        if self._pattern is None:  # jsonschema's own verdict, whatever it does with such a pattern
            raise ValueError("a pattern Python cannot compile")
        if not self._pattern.search(instance):
            raise ValueError(f"{instance!r} does not match {self._pattern.pattern!r}")


class FastVerdict:
    """`valid(value)`: True only where jsonschema would find no error in `value`."""

    def __init__(self, schema: Any, registry: jsonschema_rs.Registry | None = None) -> None:
        self._validator = jsonschema_rs.Draft202012Validator(schema, validate_formats=False, registry=registry,
                                                              keywords={"pattern": _PythonPattern})

    def valid(self, value: Any) -> bool:
        if not is_json(value):
            return False
        try:
            return bool(self._validator.is_valid(value))
        except ValueError:  # a value it cannot read (non-string keys): jsonschema judges it
            return False
