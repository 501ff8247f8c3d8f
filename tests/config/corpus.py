"""Apply a broken-config case (tests/fixtures/broken/*.yaml) to a copy of the repo.

A case names the stack to load, edits to make, and the fragments the error output must
contain. Edits: `set` a dotted path to a value, `delete` a path, or replace a file's
`text` wholesale (syntax errors, empty files). Paths use the file's own keys; list
indexes are numbers; keys with dots or colons are written as they are (the first segment
is matched greedily against existing keys).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "broken"


def _split(doc: Any, dotted: str) -> list[str | int]:
    parts: list[str | int] = []
    rest = dotted
    node = doc
    while rest:
        key = None
        if isinstance(node, dict):
            for candidate in sorted(node, key=lambda k: -len(str(k))):
                c = str(candidate)
                if rest == c or rest.startswith(c + "."):
                    key = candidate
                    break
        if key is None:
            head, _, _ = rest.partition(".")
            key = int(head) if head.isdigit() and isinstance(node, list) else head
        parts.append(key)
        rest = rest[len(str(key)):].removeprefix(".")
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            node = None
    return parts


def _apply(root: Path, edit: dict[str, Any]) -> None:
    path = root / edit["file"]
    if "text" in edit:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(edit["text"], encoding="utf-8")
        return
    if edit.get("remove_file"):
        path.unlink()
        return
    yaml = YAML()
    doc = yaml.load(path.read_text(encoding="utf-8"))
    for dotted, value in (edit.get("set") or {}).items():
        parts = _split(doc, dotted)
        node = doc
        for part in parts[:-1]:
            if isinstance(node, dict) and part not in node:
                node[part] = {}
            node = node[part]
        node[parts[-1]] = value
    for dotted in edit.get("delete") or []:
        parts = _split(doc, dotted)
        node = doc
        for part in parts[:-1]:
            node = node[part]
        del node[parts[-1]]
    with path.open("w", encoding="utf-8") as fh:
        yaml.dump(doc, fh)


def load_cases() -> list[tuple[str, dict[str, Any]]]:
    cases = []
    for path in sorted(FIXTURES.glob("*.yaml")):
        cases.append((path.stem, YAML(typ="safe").load(path.read_text(encoding="utf-8"))))
    return cases


def apply_case(root: Path, case: dict[str, Any]) -> None:
    for edit in case.get("edits", []):
        _apply(root, edit)
