"""infra/config/yaml_fast.py: the libyaml read of a plain config file gives exactly what the
round-trip read gives (data with its types and key order, the line of every key and item,
the secret paths), on every YAML text in the repository, on hand-picked hard cases and on
generated documents; and whatever it does not answer, the round-trip read does."""

from __future__ import annotations

import datetime as dt
import io
import subprocess
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
import pytest
from ruamel.yaml import YAML
import yaml

from infra.config import yaml_fast, yamlio
from tests.conftest import REPO


def _typed(data: Any) -> Any:
    """The data with every type and every key order made visible (1 != 1.0 != True here)."""
    if isinstance(data, dict):
        return ("map", [(k, _typed(v)) for k, v in data.items()])
    if isinstance(data, list):
        return ("seq", [_typed(v) for v in data])
    return (type(data).__name__, repr(data))


def _both(text: str) -> tuple[Any, Any]:
    """(the fast read or None, the round-trip read), each as (typed data, lines, secrets)."""
    fast = yaml_fast.parse(text, yamlio._scalar, yamlio.SECRET_PLACEHOLDER)
    doc, issues = yamlio._parse_round_trip(text, "f.yaml")
    slow = None if doc is None else (_typed(doc.data), dict(doc.lines), set(doc.secret_paths))
    if fast is not None:
        assert doc is not None and not issues, (text, issues)  # the fast read never accepts a refused file
        return (_typed(fast[0]), fast[1], fast[2]), slow
    return None, slow


def _repo_texts() -> list[tuple[str, str]]:
    files = subprocess.run(["git", "-C", str(REPO), "ls-files", "*.yaml", "*.yml"], capture_output=True,
                           text=True, check=True).stdout.split()
    texts = [(f, (REPO / f).read_text(encoding="utf-8")) for f in files]
    # The broken-config cases' whole-file texts (syntax errors, empty files, ...).
    for name, text in list(texts):
        if name.startswith("tests/fixtures/broken/"):
            case = yaml.safe_load(text)
            texts += [(f"{name}: text {i}", e["text"]) for i, e in enumerate(case.get("edits") or [])
                      if isinstance(e, dict) and isinstance(e.get("text"), str)]
    return texts


REPO_TEXTS = _repo_texts()


@pytest.mark.parametrize("name", [n for n, _ in REPO_TEXTS])
def test_every_yaml_text_in_the_repository_reads_the_same(name: str) -> None:
    fast, slow = _both(dict(REPO_TEXTS)[name])
    if fast is not None:
        assert fast == slow


def test_the_shipped_config_takes_the_fast_read() -> None:
    """Not vacuous: every model and stack file is plain config."""
    config = [n for n, _ in REPO_TEXTS if n.startswith(("models/", "stacks/"))]
    assert len(config) >= 7
    assert [n for n in config if _both(dict(REPO_TEXTS)[n])[0] is None] == []


HARD_CASES = {
    "yaml 1.2 scalars": "a: yes\nb: no\nc: on\nd: 0o17\ne: 017\nf: 0x1F\ng: 1_000\nh: 1e3\ni: .inf\nj: -.Inf\n"
                        "k: .nan\nl: ~\nm: null\nn:\no: 12:30\np: 2001-12-14\nq: 2001-12-14T21:59:43.10-05:00\n"
                        "r: True\ns: FALSE\nt: +1\nu: .5\nv: 1.\nw: '1'\nx: \"true\"\ny: 0b101\nz: -0\n",
    "block scalars": "a: |\n  one\n  two\n\nb: >\n  folded\n  text\n\n  para\nc: |-\n  kept\nd: |+\n  keep\n\n"
                     "e: >2\n   indented\nf: last\n",
    "plain multi-line": "a: one\n  two\n  three\nb: 'single ''quoted''\n  folded'\n"
                        "c: \"esc \\t \\u00e9 \\x41 \\\\ \\\"\"\n",
    "flow collections": "a: [1, two, 'three', {k: v, n: 2}]\nb: {x: [], y: {}}\nc: []\n",
    "comments and documents": "# head\n---\na: 1 # trailing\n# between\nb:\n  - x # item\n  - y\n...\n",
    "nested lists": "a:\n- - 1\n  - 2\n- k: v\n  j: w\n-\n- ''\nb:\n  - name: x\n    v: 1\n  - name: y\n",
    "secure values": "config:\n  k:secret:\n    secure: v1:abc==\n  k:notsecret:\n    secure: 12\n"
                     "  k:two:\n    secure: x\n    other: y\n",
    "unicode": "ключ: значение\nemoji: \"\\U0001F600\"\nwide: 日本語\n",
    "odd keys": "a b: 1\n'quoted key': 2\n\"x:y\": 3\n? explicit\n: 4\n",
    "empty mapping values": "a: {}\nb:\nc: ''\n",
    # Left to the round-trip read (each decides or refuses there):
    "duplicate key": "a: 1\na: 2\n",
    "int and float keys": "1: a\n1.0: b\n",
    "bool key": "true: a\n",
    "anchor and merge": "base: &b {x: 1}\nuse:\n  <<: *b\n  y: 2\n",
    "tag": "a: !!str 1\n",
    "directive": "%YAML 1.2\n---\na: 1\n",
    "tab": "a:\t1\n",
    "carriage return": "a: 1\r\nb: 2\r\n",
    "top-level list": "- a\n- b\n",
    "two documents": "a: 1\n---\nb: 2\n",
    "empty": "",
    "syntax error": "a: [1, 2\nb: 3\n",
    "complex key": "? [a, b]\n: c\n",
}


@pytest.mark.parametrize("name", HARD_CASES)
def test_hard_cases_read_the_same_or_go_to_the_round_trip_read(name: str) -> None:
    fast, slow = _both(HARD_CASES[name])
    if fast is not None:
        assert fast == slow
    taken = list(HARD_CASES).index(name) < list(HARD_CASES).index("duplicate key")
    assert (fast is not None) == taken, name


def test_a_secret_reads_as_the_placeholder_on_both_reads() -> None:
    fast, slow = _both(HARD_CASES["secure values"])
    assert fast == slow and fast is not None and fast[2] == {("config", "k:secret")}


_KEYS = st.one_of(st.sampled_from(["a", "name", "on", "yes", "1x", "x y", "k:v", "é", "-", "null?", "#c"]),
                  st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), min_size=1, max_size=8))
_SCALARS = st.one_of(
    st.sampled_from(["yes", "no", "on", "off", "~", "null", "0o17", "017", "0x1F", "1_000", "1e3", ".inf", "12:30",
                     "2001-12-14", "true", "True", "", " lead", "trail ", "a: b", "- x", "#x", "x #y", "'q'", '"d"',
                     "multi\nline", "end\n", "\n\nblank", "tab\there", "back\\slash", "ü", "😀", "%p", "@at", "`t"]),
    st.integers(-10**20, 10**20), st.floats(allow_nan=False), st.booleans(), st.none(),
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=20),
    st.dates().map(lambda d: d if d.year > 1900 else dt.date(2000, 1, 1)))
_DATA = st.recursive(_SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(_KEYS, inner, max_size=4)), max_leaves=25)


def _dump(data: dict[str, Any], how: int) -> str:
    if how == 0:
        out = io.StringIO()
        YAML(typ="rt", pure=True).dump(data, out)
        return out.getvalue()
    if how == 1:
        return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    return yaml.safe_dump(data, default_flow_style=None, width=30, indent=4, sort_keys=False)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_KEYS, _DATA, min_size=1, max_size=6), st.integers(0, 2))
def test_generated_documents_read_the_same(data: dict[str, Any], how: int) -> None:
    fast, slow = _both(_dump(data, how))
    if fast is not None:
        assert fast == slow

