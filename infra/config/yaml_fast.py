"""A fast first read of plain config files: libyaml's C parser, ruamel's YAML 1.2 meaning.

yamlio reads every config file with ruamel's round-trip loader, which is pure Python: about
2.7 ms for a model file, so a 1,000-model stack spends seconds parsing before anything
else. Most config files are plain: block mappings and lists of scalars, no anchors,
aliases, merge keys or tags. For those, libyaml (PyYAML's C parser, ~40x faster) builds
the node tree, and every scalar gets its value exactly as the round-trip loader gives it:
ruamel's own YAML 1.2 resolver picks the type of each plain scalar (so `yes` stays a
string and `0o17` is 15) and ruamel's own constructor builds it.

Anything else goes to the round-trip loader, which decides and words every error: a file
with an anchor, an alias, a tag, a merge key (`<<`) or a %YAML/%TAG directive (libyaml's
events say), a tab, a carriage return, a byte-order mark or a Unicode line break (where
YAML 1.1 and 1.2 read the text differently), and any file that is not a mapping of string
keys each written once, that is larger, deeper or fuller than bounded_yaml's limits, or
that libyaml refuses. So the fast read only ever answers for files the round-trip loader
reads without an error, and tests/config/test_yaml_fast.py holds its answers equal to that
loader's (data, types, key order, the line of every key and item, secrets) on every YAML
text in the repository, on hard cases and on generated documents.
"""

from __future__ import annotations

import re
import threading
from typing import Any, cast

from ruamel.yaml import YAML
from ruamel.yaml.nodes import ScalarNode as RuamelScalar
import yaml

from infra import bounded_yaml

Path_ = tuple[str | int, ...]

_CLoader = getattr(yaml, "CSafeLoader", None)  # None: PyYAML without libyaml, no fast read
_NOT_PLAIN = re.compile(r"[\t\r\x85\u2028\u2029\ufeff]")
_RT = YAML(typ="rt", pure=True)
_RESOLVER, _CONSTRUCTOR = _RT.resolver, _RT.constructor
_LOCK = threading.Lock()
_plain_values: dict[str, Any] = {}  # plain scalar text -> its value (immutable scalars only)


class _NotPlainError(Exception):
    pass


def parse(text: str, scalar: Any, secret: Any) -> tuple[dict[str, Any], dict[Path_, int], set[Path_]] | None:
    """(data, line of each key path, secret paths) as yamlio's round-trip read would give
    them, or None: this file is for the round-trip loader. `scalar` turns a constructed
    scalar into plain data and `secret` stands for a `secure:` value (yamlio's own rules,
    shared so both reads agree)."""
    if _CLoader is None or _NOT_PLAIN.search(text) or len(text.encode("utf-8")) > bounded_yaml.MAX_BYTES:
        return None
    try:
        bounded_yaml.check_flow_depth(text, "")
        if not _plain_events(text):
            return None
        root = yaml.compose(text, Loader=_CLoader)
    except (bounded_yaml.YamlFileError, yaml.YAMLError, RecursionError):
        return None
    if not isinstance(root, yaml.MappingNode):
        return None
    walk = _Walk(scalar, secret)
    try:
        data = walk.node(root, (), 0)
    except _NotPlainError:
        return None
    return data, walk.lines, walk.secrets


def _plain_events(text: str) -> bool:
    """No anchor, alias or tag anywhere, and no %YAML or %TAG directive (libyaml's events)."""
    assert _CLoader is not None
    for event in yaml.parse(text, Loader=_CLoader):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None \
                or getattr(event, "tag", None) is not None:
            return False
        if isinstance(event, yaml.DocumentStartEvent) and (event.version is not None or event.tags):
            return False
    return True


class _Walk:
    def __init__(self, scalar: Any, secret: Any) -> None:
        self.scalar, self.secret = scalar, secret
        self.lines: dict[Path_, int] = {}
        self.secrets: set[Path_] = set()
        self.count = 0

    def node(self, node: yaml.Node, path: Path_, depth: int) -> Any:
        self.count += 1
        # Well inside the limits: near them, the round-trip loader decides (and words the refusal).
        if self.count > bounded_yaml.MAX_NODES // 2 or depth > bounded_yaml.MAX_DEPTH - 4:
            raise _NotPlainError
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(_value(node))
        if isinstance(node, yaml.SequenceNode):
            items = []
            for index, item in enumerate(node.value):
                child = (*path, index)
                self.lines[child] = item.start_mark.line + 1
                items.append(self.node(item, child, depth + 1))
            return items
        assert isinstance(node, yaml.MappingNode)
        keys = [_value(k) if isinstance(k, yaml.ScalarNode) else None for k, _ in node.value]
        # Keys other than strings (1:, true:, a list) or a key twice: the round-trip loader
        # decides (1 and 1.0 are one key to it, and it words the duplicate's error).
        if not all(type(key) is str for key in keys) or len(set(keys)) != len(keys) or "<<" in keys:
            raise _NotPlainError
        names = cast(list[str], keys)
        # Pulumi's encrypted config, {secure: <ciphertext>}: yamlio's placeholder.
        if keys == ["secure"] and isinstance(node.value[0][1], yaml.ScalarNode) \
                and isinstance(_value(node.value[0][1]), str):
            self.secrets.add(path)
            return self.secret
        out: dict[str, Any] = {}
        for (key_node, value), key in zip(node.value, names, strict=True):
            child = (*path, key)
            self.lines[child] = key_node.start_mark.line + 1
            out[key] = self.node(value, child, depth + 1)
        return out


def _value(node: yaml.ScalarNode) -> Any:
    """The scalar as ruamel's round-trip loader constructs it (YAML 1.2)."""
    if node.style:  # quoted or a block scalar: always a string (plain: None, or "" from libyaml)
        return node.value
    found = _plain_values.get(node.value, _plain_values)
    if found is _plain_values:
        with _LOCK:  # ruamel's constructor keeps state per call
            scalar = RuamelScalar(_RESOLVER.resolve(RuamelScalar, node.value, (True, False)), node.value, style=None)
            found = _CONSTRUCTOR.construct_object(scalar, deep=True)
            _CONSTRUCTOR.constructed_objects.pop(scalar, None)
        if len(_plain_values) > 100_000:  # bounded: a fleet's distinct values, not a leak
            _plain_values.clear()
        _plain_values[node.value] = found
    return found
