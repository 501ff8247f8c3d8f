"""infra/jsontext.py writes exactly what json.dumps(indent=2, sort_keys=True) writes, and
fails exactly as it fails."""

from __future__ import annotations

import enum
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
import pytest

from infra import jsontext

_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
_LEAVES = st.one_of(st.none(), st.booleans(), st.integers(-10**30, 10**30), st.floats(), _TEXT,
                    st.sampled_from(["é", "\u2028", "\x00", "\"", "\\", "</script>", "😀", ""]))
_JSON = st.recursive(_LEAVES, lambda inner: st.one_of(st.lists(inner, max_size=5),
                                                       st.lists(inner, max_size=3).map(tuple),
                                                       st.dictionaries(_TEXT, inner, max_size=5)), max_leaves=40)


def _json(obj: Any, ensure_ascii: bool) -> str:
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=ensure_ascii)


@settings(max_examples=400, deadline=None)
@given(_JSON, st.booleans())
def test_the_text_is_json_s_own(obj: Any, ensure_ascii: bool) -> None:
    assert jsontext.dumps(obj, ensure_ascii=ensure_ascii) == _json(obj, ensure_ascii)


class Color(enum.StrEnum):
    BLUE = "blue"


class Count(int):
    pass


@pytest.mark.parametrize("obj", [
    {"a": float("nan"), "b": float("inf"), "c": -float("inf"), "d": -0.0, "e": 1e300, "f": 5e-324},
    {"z": [], "y": {}, "x": [[]], "w": [{}], "v": ()},
    {Color.BLUE: Color.BLUE, "n": Count(3), "t": True, "f": False},
    {1: "int key", 2: "b"}, {None: 1}, {2.5: 1, True: 2},  # keys json turns into strings
    [{"b": 1, "a": {"d": [1, 2, {"c": None}]}}],
])
def test_edge_values_and_keys_read_the_same(obj: Any) -> None:
    for ensure_ascii in (True, False):
        assert jsontext.dumps(obj, ensure_ascii=ensure_ascii) == _json(obj, ensure_ascii)


def test_what_json_refuses_fails_the_same_way() -> None:
    loop: list[Any] = []
    loop.append(loop)
    for bad, error in ((object(), TypeError), ({"a": {1, 2}}, TypeError), (loop, ValueError),
                       ({"a": 1, 2: 3}, TypeError)):  # mixed keys: sort_keys cannot order them
        with pytest.raises(error) as ours:
            jsontext.dumps(bad)
        with pytest.raises(error) as theirs:
            _json(bad, True)
        assert str(ours.value) == str(theirs.value)
