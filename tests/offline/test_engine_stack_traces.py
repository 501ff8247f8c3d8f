"""The mock engine skips the SDK's per-resource stack traces while a plan runs, and only then."""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.runtime import resource as sdk_resource
from pulumi.runtime.proto import source_pb2
import pytest

from infra.offline import engine


class _Thing(pulumi.CustomResource):
    """A concrete resource class, as a provider SDK's: the SDK's stack walk finds its __init__."""

    def __init__(self, name: str, props: dict[str, Any]) -> None:
        super().__init__("test:index:Thing", name, props)


def test_no_stack_trace_is_taken_inside_and_the_sdk_function_comes_back() -> None:
    real = sdk_resource._get_stack_trace
    seen: list[object] = []

    def program() -> None:
        seen.append(sdk_resource._get_stack_trace())
        _Thing("a", {"x": 1})

    result = engine.run(program, project="p", stack="s", config={})
    assert [(r.name, dict(r.inputs)) for r in result.records] == [("a", {"x": 1})]
    assert seen == [source_pb2.StackTrace()]  # what the SDK itself sends when it finds no frame
    assert sdk_resource._get_stack_trace is real


def test_the_sdk_function_comes_back_after_a_failure() -> None:
    real = sdk_resource._get_stack_trace

    def program() -> None:
        _ = 1 / 0

    with pytest.raises(engine.ProgramFailedError):
        engine.run(program, project="p", stack="s", config={})
    assert sdk_resource._get_stack_trace is real
