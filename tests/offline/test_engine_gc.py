"""The mock engine's collection regime: young generations only while a plan runs, restored after."""

from __future__ import annotations

import gc

import pulumi
import pytest

from infra.offline import engine


def test_no_full_collection_runs_inside_and_the_thresholds_come_back() -> None:
    before = gc.get_threshold()
    seen: list[tuple[int, int, int]] = []

    def program() -> None:
        seen.append(gc.get_threshold())
        pulumi.CustomResource("test:index:Thing", "a", {"x": 1})

    result = engine.run(program, project="p", stack="s", config={})
    assert [r.name for r in result.records] == ["a"]
    assert seen[0][:2] == before[:2] and seen[0][2] >= 2**30  # young generations as configured
    assert gc.get_threshold() == before


def test_the_thresholds_come_back_after_a_failure() -> None:
    before = gc.get_threshold()
    with pytest.raises(ZeroDivisionError), engine.young_collections_only():
        assert gc.get_threshold()[2] >= 2**30
        _ = 1 / 0
    assert gc.get_threshold() == before
