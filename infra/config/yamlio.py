"""Reading YAML config files into plain data, keeping line numbers for error messages.

ruamel.yaml is used (not PyYAML) for two reasons: it knows the line of every key, so an
error can point at `stacks/Pulumi.prod.yaml:42`, and it round-trips comments and key
order, which the runbook commands (stage, switch, ...) need when they edit stack files.
Reading a plain file (no anchors, aliases, tags, ...) takes a faster road to the same
answer: libyaml's parser with ruamel's YAML 1.2 meaning of every scalar (yaml_fast.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
import copy
from dataclasses import dataclass, field
from functools import lru_cache
import io
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from infra import bounded_yaml
from infra.config import yaml_fast
from infra.config.errors import ConfigIssue, format_path

Path_ = tuple[str | int, ...]

#: Stand-in for a Pulumi `secure:` value when the plan runs without the secrets provider.
SECRET_PLACEHOLDER = "[secret]"


@dataclass(frozen=True)
class YamlDoc:
    """A parsed file: plain data, the line of each key path, and paths holding secrets."""

    file: str
    data: Any
    lines: Mapping[Path_, int] = field(default_factory=dict)
    secret_paths: frozenset[Path_] = frozenset()

    def secret_config_keys(self) -> frozenset[str]:
        """Top-level config keys holding a `secure:` value (how Pulumi marks them secret)."""
        return frozenset(str(p[1]) for p in self.secret_paths if len(p) > 1 and p[0] == "config")

    def line_of(self, path: Path_) -> int | None:
        """Line of the deepest known key on `path` (errors inside a value point at its key)."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:end]))
            if line is not None:
                return line
        return None


def issue_at(doc: YamlDoc, path: Path_, message: str, hint: str, value: object = ...) -> ConfigIssue:
    """A config issue at `path` of `doc`, with the line of its deepest known key (and the bad
    value, when given): how every config check reports."""
    extra = {} if value is ... else {"value": value}
    return ConfigIssue(file=doc.file, path=format_path(path), line=doc.line_of(path), message=message, hint=hint,
                       **extra)


def _to_plain(node: Any, path: Path_, lines: dict[Path_, int], secrets: set[Path_]) -> Any:
    if isinstance(node, CommentedMap):
        # Pulumi stores encrypted config as {secure: <ciphertext>}; without the stack's
        # secrets provider we cannot decrypt, so the plan sees a placeholder.
        if set(node.keys()) == {"secure"} and isinstance(node["secure"], str):
            secrets.add(path)
            return SECRET_PLACEHOLDER
        out: dict[str, Any] = {}
        for key in node:  # own keys and keys from merge keys (<<: *anchor), own ones win
            child = (*path, str(key))
            line = _key_line(node, key)
            if line is not None:
                lines[child] = line
            out[str(key)] = _to_plain(node[key], child, lines, secrets)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for index, item in enumerate(node):
            child = (*path, index)
            lines[child] = node.lc.item(index)[0] + 1
            items.append(_to_plain(item, child, lines, secrets))
        return items
    return _scalar(node)


def _scalar(node: Any) -> Any:
    if isinstance(node, str):
        return str(node)  # ruamel's scalar string subclasses -> str
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    return node  # dates and other scalars: the schema reports the wrong type


def _key_line(node: CommentedMap, key: Any) -> int | None:
    """Line of `key` in `node`; a key taken from a merge key (<<: *anchor) points at the
    line where the anchored mapping writes it, which is where the value is."""
    if key in node.lc.data:
        return int(node.lc.key(key)[0]) + 1
    for source in getattr(node, "merge", None) or ():
        if isinstance(source, CommentedMap) and key in source:
            return _key_line(source, key)
    return None


def _loader() -> YAML:
    return bounded_yaml.loader("rt")


def read_yaml(path: Path, display: str) -> tuple[YamlDoc | None, list[ConfigIssue]]:
    """Parse `path`; on failure return issues (syntax, duplicate key, empty file)."""
    try:
        text = bounded_yaml.read_text(path, display)
    except bounded_yaml.YamlFileError as err:
        return None, [_issue(err)]
    except FileNotFoundError:
        return None, [ConfigIssue(file=display, path="", message="file not found",
                                  hint=f"create {display}, or check the name you passed")]
    except (OSError, UnicodeDecodeError) as exc:
        return None, [ConfigIssue(file=display, path="", message=f"cannot read file: {exc}",
                                  hint="make it a readable UTF-8 text file")]
    return parse_yaml(text, display)


def parse_yaml(text: str, display: str) -> tuple[YamlDoc | None, list[ConfigIssue]]:
    """Parse `text`; a copy of the result is cached, since one run reads each file twice
    (the CLI's check, then the program under the engine) and ruamel is pure Python."""
    doc, issues = _parse_cached(text, display)
    if doc is None:
        return None, list(issues)
    return YamlDoc(doc.file, copy.deepcopy(doc.data), doc.lines, doc.secret_paths), list(issues)


@lru_cache(maxsize=4096)
def _parse_cached(text: str, display: str) -> tuple[YamlDoc | None, tuple[ConfigIssue, ...]]:
    doc, issues = _parse(text, display)
    return doc, tuple(issues)


def _issue(err: bounded_yaml.YamlFileError) -> ConfigIssue:
    return ConfigIssue(file=err.file, path="", line=err.line, message=err.message, hint=err.hint)


def _parse(text: str, display: str) -> tuple[YamlDoc | None, list[ConfigIssue]]:
    fast = yaml_fast.parse(text, _scalar, SECRET_PLACEHOLDER)  # a plain file, read by libyaml
    if fast is not None:
        data, lines, secrets = fast
        return YamlDoc(display, data, lines, frozenset(secrets)), []
    return _parse_round_trip(text, display)


def _parse_round_trip(text: str, display: str) -> tuple[YamlDoc | None, list[ConfigIssue]]:
    try:
        node = bounded_yaml.load(text, display, _loader())
    except bounded_yaml.YamlFileError as err:
        return None, [_issue(err)]
    if node is None:
        return None, [ConfigIssue(file=display, path="", message="file is empty",
                                  hint="fill it in (see the examples in the README) or delete it")]
    lines: dict[Path_, int] = {}
    secrets: set[Path_] = set()
    data = _to_plain(node, (), lines, secrets)
    if not isinstance(data, dict):
        return None, [ConfigIssue(file=display, path="", line=1, value=data,
                                  message="the top level must be a mapping of keys to values",
                                  hint="start the file with `key: value` lines")]
    return YamlDoc(display, data, lines, frozenset(secrets)), []


@dataclass(frozen=True)
class Edit:
    """An edited file: its text before and after (exact bytes, line endings kept), and
    notes for the user about what the edit had to do (e.g. un-share an aliased entry)."""

    before: str
    after: str
    notes: tuple[str, ...] = ()


class SharedNodeError(Exception):
    """The node to edit is an anchor that other places use: editing it edits them too."""

    def __init__(self, anchor: str, users: list[Path_]) -> None:
        super().__init__(anchor)
        self.anchor = anchor
        self.users = users


def _guess_indent(text: str) -> tuple[int, int, int]:
    """(mapping, sequence, offset) indentation the file itself uses, for ruamel's dump;
    default 2/4/2. A file indented by 4 stays indented by 4."""
    mapping, sequence, offset = 0, 0, -1
    last_key_indent: int | None = None
    for line in text.splitlines():
        stripped = line.lstrip(" ")
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(line) - len(stripped)
        if stripped.startswith("- "):
            if offset < 0 and last_key_indent is not None and indent >= last_key_indent:
                offset = indent - last_key_indent
                sequence = offset + 2
            continue
        if last_key_indent is not None and indent > last_key_indent and not mapping:
            mapping = indent - last_key_indent
        if stripped.rstrip().endswith(":") or ": " in stripped:
            last_key_indent = indent
    return mapping or 2, sequence or max(4, (mapping or 2) + 2), offset if offset >= 0 else 2


def _keep_anchors(node: Any, seen: set[int]) -> None:
    """Dump every anchor the file had, even one no alias uses any more, so that un-sharing
    an entry never rewrites the entry that defines the anchor."""
    if id(node) in seen:
        return
    seen.add(id(node))
    anchor = getattr(node, "anchor", None)
    if anchor is not None and getattr(anchor, "value", None):
        anchor.always_dump = True
    if isinstance(node, CommentedMap):
        for value in node.values():
            _keep_anchors(value, seen)
    elif isinstance(node, CommentedSeq):
        for value in node:
            _keep_anchors(value, seen)


def _occurrences(node: Any, path: Path_, out: dict[int, list[Path_]]) -> None:
    """Every place (document order) each mapping and list appears: an anchor and its
    aliases are one object in ruamel's tree; merge keys count as a use ("<<")."""
    if not isinstance(node, (CommentedMap, CommentedSeq)):
        return
    first = id(node) not in out
    out.setdefault(id(node), []).append(path)
    if not first:
        return
    if isinstance(node, CommentedMap):
        for source in node.merge:
            _occurrences(source[1] if isinstance(source, tuple) else source, (*path, "<<"), out)
        for key, value in node.non_merged_items():
            _occurrences(value, (*path, str(key)), out)
    else:
        for index, value in enumerate(node):
            _occurrences(value, (*path, index), out)


def _own_copy(node: Any) -> Any:
    """The node's effective value as fresh nodes: merge keys resolved, no anchors."""
    if isinstance(node, CommentedMap):
        fresh = CommentedMap()
        for key in node:
            fresh[key] = _own_copy(node[key])
        if node.fa.flow_style():
            fresh.fa.set_flow_style()
        return fresh
    if isinstance(node, CommentedSeq):
        seq = CommentedSeq(_own_copy(item) for item in node)
        if node.fa.flow_style():
            seq.fa.set_flow_style()
        return seq
    return node


def unshare(doc: CommentedMap, path: Path_) -> str | None:
    """Make the mapping at `path` the document's own, so editing it edits nothing else.

    An alias (`textclf: *one_color`) or a mapping with merge keys (`{<<: *one_color, ...}`)
    becomes a plain mapping of its current values (returns a note saying so). The mapping
    that defines an anchor other places use raises SharedNodeError: un-sharing it would
    move the anchor into another entry, so the caller refuses with a fix instead.
    """
    parent: Any = doc
    for key in path[:-1]:
        parent = parent[key]
    node = parent[path[-1]]
    uses: dict[int, list[Path_]] = {}
    _occurrences(doc, (), uses)
    places = uses.get(id(node), [path])
    anchor = node.anchor.value if isinstance(node, CommentedMap) else None
    if len(places) > 1 and places[0] == path:
        raise SharedNodeError(anchor or "", places[1:])
    if len(places) > 1:
        parent[path[-1]] = _own_copy(node)
        return f"its entry was an alias of &{anchor} (shared with {format_users(places[0:1])}); " \
               "it now has its own copy of those values, so this edit changes it alone"
    if isinstance(node, CommentedMap) and node.merge:
        parent[path[-1]] = _own_copy(node)
        return "its entry took values from a merge key (<<); it now lists all its values itself, " \
               "so this edit changes it alone"
    return None


def format_users(paths: list[Path_]) -> str:
    return ", ".join(".".join(str(p) for p in path) for path in paths)


def edit_yaml(path: Path, display: str, mutate: Callable[[CommentedMap], list[str]]) -> Edit:
    """Apply `mutate` to the round-trip document; return the texts before and after (not written).

    Comments, key order, quoting, anchors, indentation and line endings (LF or CRLF) of the
    file survive; `mutate` returns notes for the user. Raises YamlFileError.
    """
    raw = bounded_yaml.read_text(path, display)
    crlf = "\r\n" in raw
    text = raw.replace("\r\n", "\n") if crlf else raw
    yaml = _loader()
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap long lines
    mapping, sequence, offset = _guess_indent(text)
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    yaml.explicit_start = text.lstrip().startswith("---")
    doc = bounded_yaml.load(text, display, yaml)
    _keep_anchors(doc, set())
    notes = mutate(doc)
    out = io.StringIO()
    yaml.dump(doc, out)
    after = out.getvalue()
    if not text.endswith("\n"):
        after = after.rstrip("\n")
    return Edit(raw, after.replace("\n", "\r\n") if crlf else after, tuple(notes))
