"""Reading YAML config files into plain data, keeping line numbers for error messages.

ruamel.yaml is used (not PyYAML) for two reasons: it knows the line of every key, so an
error can point at `stacks/Pulumi.prod.yaml:42`, and it round-trips comments and key
order, which the runbook commands (stage, switch, ...) need when they edit stack files.
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
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from infra.config.errors import ConfigIssue

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


def _to_plain(node: Any, path: Path_, lines: dict[Path_, int], secrets: set[Path_]) -> Any:
    if isinstance(node, CommentedMap):
        # Pulumi stores encrypted config as {secure: <ciphertext>}; without the stack's
        # secrets provider we cannot decrypt, so the plan sees a placeholder.
        if set(node.keys()) == {"secure"} and isinstance(node["secure"], str):
            secrets.add(path)
            return SECRET_PLACEHOLDER
        out: dict[str, Any] = {}
        for key in node:
            child = (*path, str(key))
            lines[child] = node.lc.key(key)[0] + 1
            out[str(key)] = _to_plain(node[key], child, lines, secrets)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for index, item in enumerate(node):
            child = (*path, index)
            lines[child] = node.lc.item(index)[0] + 1
            items.append(_to_plain(item, child, lines, secrets))
        return items
    if isinstance(node, str):
        return str(node)  # ruamel's scalar string subclasses -> str
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    return node  # dates and other scalars: the schema reports the wrong type


def _loader() -> YAML:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    return yaml


def read_yaml(path: Path, display: str) -> tuple[YamlDoc | None, list[ConfigIssue]]:
    """Parse `path`; on failure return issues (syntax, duplicate key, empty file)."""
    try:
        text = path.read_text(encoding="utf-8")
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


def _parse(text: str, display: str) -> tuple[YamlDoc | None, list[ConfigIssue]]:
    try:
        node = _loader().load(io.StringIO(text))
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        hint = ("remove or rename one of the duplicate keys" if "duplicate key" in problem
                else "fix the YAML syntax at that line (indentation, quotes, brackets)")
        return None, [ConfigIssue(file=display, path="", line=line,
                                  message=f"invalid YAML: {problem}", hint=hint)]
    except YAMLError as exc:
        return None, [ConfigIssue(file=display, path="", message=f"invalid YAML: {exc}",
                                  hint="fix the YAML syntax")]
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


def edit_yaml(path: Path, mutate: Callable[[CommentedMap], None]) -> str:
    """Apply `mutate` to the round-trip document and return the new text (not written).

    Comments, key order and quoting survive; the caller decides whether to write.
    """
    yaml = _loader()
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap long lines
    yaml.indent(mapping=2, sequence=4, offset=2)
    doc = yaml.load(path.read_text(encoding="utf-8"))
    mutate(doc)
    out = io.StringIO()
    yaml.dump(doc, out)
    return out.getvalue()
