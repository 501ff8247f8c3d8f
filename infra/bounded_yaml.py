"""Reading YAML with bounded work: every YAML file tfplat reads goes through here.

A config file comes from anyone who can open a pull request, and CI plans every pull
request. Three limits keep a hostile file from costing more than a fraction of a second
and a few megabytes (each refusal names the file, the line, the limit and the fix):

- size: MAX_BYTES, checked before parsing (ruamel.yaml is pure Python);
- nesting depth: MAX_DEPTH levels of mappings and sequences (the composer and every tree
  walk after it recurse once per level; a deep document would otherwise end in a
  RecursionError);
- alias expansion: MAX_NODES nodes once every alias and merge key is expanded. Anchors
  and aliases cost nothing to parse, but each consumer (plain data, JSON Schema, the
  plan) walks the expanded tree: ten levels of ten aliases each ("billion laughs") is
  10^10 nodes from a few hundred bytes.

The limits sit well above what real config uses (the largest file here, images/versions.yaml,
is 6 KB; a 100-model stack file is ~10 KB and ~2,000 values; no file nests more than 7
levels), so anchors, aliases and merge keys in reasonable amounts keep working, and well below
what costs time: ruamel.yaml parses ~100 KB/s, and its scanner's cost per token grows with the
number of open flow brackets, so the worst file within the limits parses in about a second.
This module imports nothing of tfplat, so every layer (config loader, image pins, offline
plan, CLI) can use it.
"""

from __future__ import annotations

import io
from pathlib import Path
import re
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.composer import Composer, MaxDepthExceededError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.nodes import MappingNode, Node, SequenceNode

MAX_BYTES = 128 * 1024
MAX_DEPTH = 20
MAX_NODES = 20_000

_FLOW = re.compile(r"[\[\]{}'\"#\n]")


class YamlFileError(Exception):
    """A YAML file that cannot be read: too large, too deep, too many expanded aliases,
    a syntax error. `line` is 1-based (None: the whole file)."""

    def __init__(self, file: str, line: int | None, message: str, hint: str, field: str | None = None) -> None:
        super().__init__(message)
        self.file, self.line, self.message, self.hint, self.field = file, line, message, hint, field

    def __str__(self) -> str:
        return self.render()

    def render(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field or '(whole file)'}: {self.message}\n    fix: {self.hint}"


class _LimitError(Exception):
    def __init__(self, line: int, message: str, hint: str) -> None:
        super().__init__(message)
        self.line, self.message, self.hint = line, message, hint


class BoundedComposer(Composer):
    """ruamel's composer, counting the size of every node with aliases expanded."""

    def __init__(self, loader: Any = None) -> None:
        super().__init__(loader)
        self._sizes: dict[int, int] = {}  # id(node) -> its size with aliases expanded
        self._total = 0  # nodes of the document so far, aliases expanded

    def compose_node(self, parent: Any, index: Any) -> Any:
        mark = self.parser.peek_event().start_mark
        if self.parser.check_event(AliasEvent):
            node = super().compose_node(parent, index)
            size = self._sizes.get(id(node), 1)
            self._total += size
            if self._total > MAX_NODES:
                raise _LimitError(
                    mark.line + 1,
                    f"aliases expand to more than {MAX_NODES:,} nodes (the limit for a tfplat config file)",
                    "write the values out, or use fewer aliases of aliases; an anchor expanded thousands "
                    "of times is a mistake or an attack (\"billion laughs\")")
            return node
        node = super().compose_node(parent, index)
        self._sizes[id(node)] = 1 + sum(self._sizes.get(id(child), 1) for child in _children(node))
        self._total += 1
        if self._total > MAX_NODES:
            raise _LimitError(mark.line + 1, f"the file has more than {MAX_NODES:,} values "
                              "(the limit for a tfplat config file)",
                              "split it (a fleet too large for one stack: docs/fleet-size.md) or remove what is "
                              "not config")
        return node


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def loader(typ: str = "rt") -> YAML:
    """A ruamel YAML instance with the limits on (pure Python, so the composer is ours)."""
    yaml = YAML(typ=typ, pure=True)
    yaml.Composer = BoundedComposer
    yaml.max_depth = MAX_DEPTH
    yaml.allow_duplicate_keys = False
    return yaml


def read_text(path: Path, display: str) -> str:
    """The file's text (UTF-8), refusing a file over MAX_BYTES before reading it whole."""
    with path.open("rb") as fh:
        data = fh.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise YamlFileError(display, None, f"the file is larger than {MAX_BYTES // 1024} KiB "
                            "(the limit for a tfplat config file)",
                            "check that it is the file you meant; a config file this large is a mistake "
                            "(a 100-model stack file is about 20 KB): split it (a fleet too large for one stack: "
                            "docs/fleet-size.md) or remove what is not config")
    return data.decode("utf-8")


def load(text: str, display: str, yaml: YAML | None = None) -> Any:
    """Parse one document with the limits; raises YamlFileError (limits and syntax)."""
    if len(text.encode("utf-8")) > MAX_BYTES:
        raise YamlFileError(display, None, f"the text is larger than {MAX_BYTES // 1024} KiB "
                            "(the limit for a tfplat config file)",
                            "split it (a fleet too large for one stack: docs/fleet-size.md) or remove what is "
                            "not config")
    yaml = yaml or loader()
    check_flow_depth(text, display)
    try:
        return yaml.load(io.StringIO(text))
    except _LimitError as err:
        raise YamlFileError(display, err.line, err.message, err.hint) from None
    except MaxDepthExceededError as err:
        line = err.problem_mark.line + 1 if err.problem_mark is not None else None
        raise YamlFileError(display, line, f"mappings and lists are nested more than {MAX_DEPTH} levels deep "
                            "(the limit for a tfplat config file)",
                            "flatten the structure; tfplat's own files need fewer than 10 levels") from None
    except RecursionError:
        # A nesting that defeats the depth count (e.g. inside one flow scalar): same answer.
        raise YamlFileError(display, None, f"nested more than {MAX_DEPTH} levels deep",
                            "flatten the structure; tfplat's own files need fewer than 10 levels") from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        hint = ("remove or rename one of the duplicate keys" if "duplicate key" in problem
                else "fix the YAML syntax at that line (indentation, quotes, brackets)")
        raise YamlFileError(display, line, f"invalid YAML: {problem}", hint) from None
    except YAMLError as exc:
        raise YamlFileError(display, None, f"invalid YAML: {exc}", "fix the YAML syntax") from None


def check_flow_depth(text: str, display: str) -> None:
    """Refuse deeply nested flow collections ([[[...) before ruamel sees them: its scanner
    keeps a possible key per open bracket and re-checks all of them on every token, which is
    quadratic (5,000 brackets: a second; a file of them: hours). A linear count of brackets
    outside quotes and comments; a stray bracket inside a plain scalar only over-counts."""
    depth, line, quote = 0, 1, ""
    for match in _FLOW.finditer(text):
        ch = match.group()
        if ch == "\n":
            line += 1
            if quote == "#":
                quote = ""
        elif quote:
            if ch == quote and quote != "#" and not (ch == '"' and text[match.start() - 1] == "\\"):
                quote = ""
        elif ch in "'\"":
            start = match.start()
            if start == 0 or text[start - 1] in " \t\n[{,:-?":  # a quoted scalar starts here
                quote = ch
        elif ch == "#":
            start = match.start()
            if start == 0 or text[start - 1] in " \t\n":
                quote = "#"
        elif ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise YamlFileError(display, line, f"mappings and lists are nested more than {MAX_DEPTH} levels "
                                    "deep (the limit for a tfplat config file)",
                                    "flatten the structure; tfplat's own files need fewer than 10 levels")
        else:
            depth = max(depth - 1, 0)


def load_file(path: Path, display: str | None = None, *, typ: str = "safe") -> Any:
    """read_text + load, for files read as plain data (images/versions.yaml, Pulumi.yaml)."""
    shown = display or str(path)
    try:
        text = read_text(path, shown)
    except FileNotFoundError:
        raise YamlFileError(shown, None, "file not found", "restore it from git (git checkout -- <file>)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise YamlFileError(shown, None, f"cannot read file: {exc}", "make it a readable UTF-8 text file") from None
    return load(text, shown, loader(typ))
