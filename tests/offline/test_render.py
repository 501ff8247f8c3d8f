"""The manifest writer: its fast YAML path writes exactly what PyYAML's own representer writes,
and the charts' YAML kept by content reads back as exactly what it would write."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.offline import render
from infra.offline.render import dump_yaml, dump_yaml_all
from tests.conftest import STACKS, shared_plan

_Safe: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Reference(_Safe):  # type: ignore[valid-type,misc]
    """PyYAML's safe representer, multi-line strings as literal blocks: how manifests were written."""


def _literal_blocks(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|" if "\n" in data else None)


_Reference.add_representer(str, _literal_blocks)


def reference(obj: Any) -> str:
    data = json.loads(json.dumps(obj, sort_keys=True, ensure_ascii=False))
    text: str = yaml.dump(data, Dumper=_Reference, sort_keys=True, default_flow_style=False, width=1000)
    return text


TRICKY: list[Any] = [
    {"floats": [1.5, 1e17, -2.5e-9, 0.0, float("inf"), -float("inf")], "ints": [0, -3, 10**20]},
    {"looks like": ["yes", "no", "on", "null", "~", "", "01", "1.0", "0x1f", "1e3", "2026-12-07", "a: b", "- x",
                    " lead", "trail ", "#c", "*alias", "&anchor", "!tag", "%", "@", "`", "'q'", '"d"', "é ü 漢"]},
    {"multi\nline key": "a\nb\n", "block": "line 1\n  indented\nlast", "crlf": "a\r\nb", "tab": "a\tb"},
    {"nested": {"empty map": {}, "empty list": [], "lists": [[1, [2, {}]], [{"a": None, "b": True, "c": False}]]}},
    {"tuple": (1, 2), 3: "int key"},  # not JSON-shaped: written as its JSON
    [{"z": 1, "a": 2, "B": 3, "_": 4, "0": 5}],
]


@pytest.mark.parametrize("obj", TRICKY)
def test_tricky_values_write_as_pyyaml_writes_them(obj: Any) -> None:
    try:
        expected = reference(obj)
    except TypeError:  # mixed key types do not sort in either path
        with pytest.raises(TypeError):
            dump_yaml(obj)
        return
    assert dump_yaml(obj) == expected
    assert yaml.safe_load(dump_yaml(obj)) == json.loads(json.dumps(obj))


@pytest.mark.parametrize("stack", STACKS)
def test_every_written_object_matches_pyyaml(stack: str) -> None:
    _, build = shared_plan(stack)
    written = [p for p in (build / stack).rglob("*.yaml")]
    assert written
    loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: same objects, faster
    for path in written:
        text = path.read_text(encoding="utf-8")
        obj = yaml.load(text, Loader=loader)
        assert text == reference(obj) == dump_yaml(obj), path


JSON_SHAPED = [obj for obj in TRICKY if isinstance(obj, list) or all(type(k) is str for k in obj)]


def _entries(folder: Path) -> list[Path]:
    return sorted((folder / "yaml").glob("*.json"))


def test_kept_yaml_reads_back_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TFPLAT_ENGINE_CACHE", str(tmp_path))
    written = dump_yaml_all(JSON_SHAPED)
    assert written == [dump_yaml(obj) for obj in JSON_SHAPED]
    assert len(_entries(tmp_path)) == 1

    def refuse(_: Any) -> str:
        raise AssertionError("a kept entry was written again")

    monkeypatch.setattr(render, "dump_yaml", refuse)
    assert dump_yaml_all(json.loads(json.dumps(JSON_SHAPED))) == written  # equal content, new objects: read back


def test_any_change_of_value_or_type_is_a_new_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TFPLAT_ENGINE_CACHE", str(tmp_path))
    variants: list[list[Any]] = [[{"a": 1}], [{"a": 1.0}], [{"a": "1"}], [{"a": True}], [{"a": [1]}],
                                 [{"a": 1}, {"a": 1}]]
    texts = [dump_yaml_all(v) for v in variants]
    assert texts == [[dump_yaml(o) for o in v] for v in variants]
    assert len(_entries(tmp_path)) == len(variants)
    assert dump_yaml_all([{"a": 1}]) == ["a: 1\n"]  # the first entry again, not a later one


@pytest.mark.parametrize("damage", ["not json", "[]", "[1]", '["a: 1\\n", "extra"]'])
def test_a_damaged_entry_is_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str) -> None:
    monkeypatch.setenv("TFPLAT_ENGINE_CACHE", str(tmp_path))
    dump_yaml_all([{"a": 1}])
    (entry,) = _entries(tmp_path)
    entry.write_text(damage, encoding="utf-8")
    assert dump_yaml_all([{"a": 1}]) == ["a: 1\n"]


def test_without_the_cache_or_json_the_yaml_is_written_directly(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TFPLAT_ENGINE_CACHE", "")
    assert dump_yaml_all(JSON_SHAPED) == [dump_yaml(obj) for obj in JSON_SHAPED]
    monkeypatch.setenv("TFPLAT_ENGINE_CACHE", str(tmp_path))
    with pytest.raises(TypeError):  # a set is not JSON: dump_yaml refuses it, as it always has
        dump_yaml_all([{"set": {1}}])
    assert _entries(tmp_path) == []
    assert dump_yaml_all([{"tuple": (1, 2)}]) == ["tuple:\n- 1\n- 2\n"] == [dump_yaml({"tuple": (1, 2)})]
    assert len(_entries(tmp_path)) == 1  # JSON's array: kept like a list
