"""Config errors that name the file, the field path, the bad value and the fix.

Every user mistake in models/ or stacks/ ends up as a ``ConfigIssue``. Loading collects
all issues of a run and raises one ``ConfigError`` holding them, so a user sees every
mistake at once instead of fixing them one `pulumi up` at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
import difflib
import json
from typing import Any

_MISSING = object()


def _show(value: Any) -> str:
    """A short, unambiguous rendering of a bad value (JSON-ish, truncated)."""
    try:
        text = json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def format_path(parts: Iterable[object]) -> str:
    """Dotted field path; list indexes as [i], keys with dots quoted."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            text = str(part)
            if "." in text and not text.startswith("tfplat:"):
                text = f'"{text}"'
            out += ("." if out else "") + text
    return out


@dataclass(frozen=True, kw_only=True)
class ConfigIssue:
    """One mistake: where it is, what is wrong, and how to fix it."""

    file: str
    path: str
    message: str
    hint: str
    value: Any = _MISSING
    line: int | None = None

    def render(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        field = self.path or "(whole file)"
        got = "" if self.value is _MISSING else f" (got {_show(self.value)})"
        return f"{where}: {field}: {self.message}{got}\n    fix: {self.hint}"

    def sort_key(self) -> tuple[str, int, str, str]:
        return (self.file, self.line or 0, self.path, self.message)


class ConfigError(Exception):
    """Raised once per run with every issue found; the CLI prints them and exits 2."""

    def __init__(self, issues: Sequence[ConfigIssue]) -> None:
        self.issues = tuple(sorted(issues, key=ConfigIssue.sort_key))
        super().__init__(self.render())

    def render(self) -> str:
        count = len(self.issues)
        head = f"{count} configuration error{'s' if count != 1 else ''}:"
        return "\n".join([head, *(issue.render() for issue in self.issues)])


def did_you_mean(word: str, options: Iterable[str]) -> str:
    """' (did you mean "x"?)' when a close option exists, else ''."""
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


def one_of(options: Iterable[object]) -> str:
    items = [str(o) for o in options]
    return ", ".join(items) if items else "(none)"
