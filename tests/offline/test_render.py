"""The manifest writer: its fast YAML path writes exactly what PyYAML's own representer writes."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from infra.offline.render import dump_yaml
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
