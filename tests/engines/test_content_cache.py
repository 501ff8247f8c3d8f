"""The engines' output cache saves time and never decides an outcome: what is stored reads back
as computed, and a folder that cannot be written leaves the output unstored, not the plan failed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from infra.engines import content_cache
from infra.offline.render import dump_yaml, dump_yaml_all


def _counting(text: str) -> tuple[list[int], Callable[[], str]]:
    calls: list[int] = []

    def compute() -> str:
        calls.append(1)
        return text

    return calls, compute


def test_an_entry_is_computed_once_and_read_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TFPLAT_ENGINE_CACHE", str(tmp_path))
    calls, compute = _counting('{"out": 1}')
    entry = content_cache.key([b"engine 1.0", b"input"])
    assert content_cache.cached("demo", entry, compute) == '{"out": 1}'
    assert content_cache.cached("demo", entry, compute) == '{"out": 1}'
    assert len(calls) == 1
    assert [p.name for p in (tmp_path / "demo").iterdir()] == [f"{entry}.json"]  # no temporary file left


@pytest.mark.parametrize("where", ["below a file", "is a file"])
def test_a_folder_that_cannot_be_written_only_costs_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          where: str) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder would be", encoding="utf-8")
    if where == "below a file":
        monkeypatch.setenv("TFPLAT_ENGINE_CACHE", str(blocker / "cache"))
    else:
        monkeypatch.setenv("TFPLAT_ENGINE_CACHE", str(tmp_path))
        (tmp_path / "demo").write_text("", encoding="utf-8")  # the kind's folder is taken by a file
    calls, compute = _counting("computed")
    for _ in range(2):
        assert content_cache.cached("demo", content_cache.key([b"x"]), compute) == "computed"
    assert len(calls) == 2
    objects = [{"kind": "ConfigMap", "data": {"a": "1"}}]
    assert dump_yaml_all(objects) == [dump_yaml(objects[0])]  # a plan's writing goes on
