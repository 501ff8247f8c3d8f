"""jsonschema-rs' first verdict never passes what jsonschema refuses, on real objects and broken copies.

The offline plan takes "no errors" from jsonschema-rs (infra.engines.fast_verdict) and
asks jsonschema only about objects it finds invalid: if the two ever parted where
jsonschema finds an error, a broken object would pass. Each kind a shipped stack renders
(tfplat's manifests and the charts' objects, built-in kinds and custom resources) is
broken at every place (sampled for the largest objects), in every way a field can be
wrong: jsonschema-rs may say "valid" only where jsonschema finds no error (asked of every
copy it passes), and its verdict must be jsonschema's nearly always (else it would save no
time; measured on every copy it passes and every fourth it refuses).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
import copy
import itertools
from typing import Any

import pytest

from infra.engines import schema
from infra.engines.crds import apply_defaults
from infra.engines.fast_verdict import FastVerdict, is_json
from infra.offline import render
from tests.conftest import shared_plan

WRONG: tuple[Any, ...] = (7, -1, 1.5, "x", True, None, [], ["a"], {}, {"zz": 1})
MAX_PLACES = 120  # per object: CRD objects have thousands of places


def _places(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        yield from _places(child, (*path, key))


def _at(value: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        value = value[key]
    return value


def _copy_along(obj: Any, path: tuple[Any, ...]) -> tuple[Any, Any]:
    """(a copy of obj, its node at path): only the containers on the path are copied, the rest
    is shared with obj. Safe because no judge writes to its value (the CRD judges default a
    deep copy)."""
    root = node = copy.copy(obj)
    for key in path:
        node[key] = copy.copy(node[key])
        node = node[key]
    return root, node


def _broken(obj: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Copies of obj with one thing wrong: a value of another type, an unknown field, a field gone."""
    places = list(_places(obj))
    for path in places[:: max(1, len(places) // MAX_PLACES)]:
        node = _at(obj, path)
        for wrong in WRONG if path else ():
            broken, parent = _copy_along(obj, path[:-1])
            parent[path[-1]] = wrong
            yield broken
        if isinstance(node, dict):
            broken, copied = _copy_along(obj, path)
            copied["unknownField"] = 1
            yield broken
            for key in node:
                broken, copied = _copy_along(obj, path)
                del copied[key]
                yield broken


Judge = tuple[str, dict[str, Any], Callable[[Any], Any], Callable[[Any], bool], Callable[[Any], list[Any]],
              Callable[[Any], bool]]
SAMPLE_REFUSED = 4  # jsonschema is asked about every 4th copy jsonschema-rs refuses: the agreement rate


def _judges(stack: str) -> list[Judge]:
    """One object per kind the stack renders: what is judged of a value (a custom resource with
    its defaults applied), the fast verdict, jsonschema's errors, and jsonschema's verdict
    (which stops at the first error)."""
    outcome, _ = shared_plan(stack)
    version, catalog = outcome.plan.stack.cluster.version, outcome.charts.catalog
    objects = render.kubernetes_objects(outcome.result.records)
    objects += [o for r in outcome.charts.rendered for o in r.objects]
    judges: dict[tuple[str, str], Any] = {}
    for obj in objects:
        key = (obj["apiVersion"], obj["kind"])
        if key in judges:
            continue
        if schema.is_builtin(obj["apiVersion"]):
            validator, fast = schema._validator(version, *key)
            judges[key] = (f"{key}", obj, lambda o: o, fast.valid, lambda o, v=validator: list(v.iter_errors(o)),
                           validator.is_valid)
        elif (crd := catalog.versions.get(key)) is not None:
            # As CrdCatalog.validate judges them: defaults applied first (to a copy: the broken
            # copies share their unbroken parts).
            judges[key] = (f"{key}", obj, lambda o, c=crd: apply_defaults(c.schema, copy.deepcopy(o)), crd.fast.valid,
                           lambda o, c=crd: list(c.validator.iter_errors(o)), crd.validator.is_valid)
    return list(judges.values())


@pytest.mark.parametrize("stack", ["prod", "prod-aws"])
def test_the_fast_verdict_never_passes_what_jsonschema_refuses(stack: str) -> None:
    """Soundness: "valid" from jsonschema-rs only where jsonschema finds no error. (The other
    way round only costs time: jsonschema then judges, e.g. a CRD default that is not JSON.)"""
    made = judged = agreed = refused = 0
    kinds = _judges(stack)
    assert len(kinds) > 20 and any("CustomResourceDefinition" in k for k, *_ in kinds)
    assert any("HTTPRoute" in k for k, *_ in kinds)  # custom resources (patterns) too
    for kind, obj, judged_of, fast_valid, errors, valid in kinds:
        for copied in itertools.chain((obj,), _broken(obj)):
            made += 1
            value = judged_of(copied)
            fast = fast_valid(value)
            if not fast:
                refused += 1
                if refused % SAMPLE_REFUSED:
                    continue
            really = valid(value)
            assert not fast or really, (kind, [e.message for e in errors(value)], value)
            judged += 1
            agreed += fast is really
    # Most copies are refused at once (and jsonschema confirms the refusals nearly always, below).
    assert made > 10_000 and refused > made // 2
    assert judged > 5_000 and agreed > judged * 0.95  # and the fast verdict is the verdict, nearly always


def test_values_that_are_not_json_data_are_left_to_jsonschema() -> None:
    fast = FastVerdict({"type": "object", "additionalProperties": {"type": "array"}})
    assert fast.valid({"a": [1]})
    assert not fast.valid({"a": (1,)})  # jsonschema-rs would take the tuple as an array
    assert not fast.valid({1: [1]}) and not fast.valid({"a": [float("nan")]})
    assert not is_json({"a": (1,)}) and is_json({"a": [1, 1.0, True, None, "x"]})


def test_patterns_are_matched_as_python_matches_them() -> None:
    # Python's \d takes any Unicode digit, Rust's only ASCII (by default): jsonschema decides.
    fast = FastVerdict({"type": "string", "pattern": r"^v\d$"})
    assert fast.valid("v1") and fast.valid("v\u0663") and not fast.valid("v")


def test_an_invalid_object_is_still_worded_by_jsonschema() -> None:
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "m"},
                  "spec": {"replicas": "two", "selector": {}, "template": {"spec": {"containers": [], "bogus": 1}}}}
    assert schema.validate_builtin({"x.yaml": deployment}, "1.34") == [
        schema.Invalid("x.yaml", "spec.replicas", "'two' is not of type 'integer', 'null'"),
        schema.Invalid("x.yaml", "spec.template.spec",
                       "Additional properties are not allowed ('bogus' was unexpected)"),
    ]


def test_a_pattern_python_cannot_compile_is_left_to_jsonschema() -> None:
    fast = FastVerdict({"properties": {"mode": {"type": "string", "pattern": "^(?i)(abort|warn)?$"}}})
    assert fast.valid({}) and not fast.valid({"mode": "warn"})
