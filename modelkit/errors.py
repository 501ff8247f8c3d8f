"""User mistakes, reported as file / field / value / fix, never as a traceback (exit 2)."""

from __future__ import annotations

from dataclasses import dataclass
import json
from typing import Any

_UNSET: Any = object()


def show(value: Any) -> str:
    """Short rendering of a bad value for an error message."""
    try:
        text = json.dumps(value, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


@dataclass(frozen=True, kw_only=True)
class Problem:
    """One mistake: where (file, field), what was found, and how to fix it."""

    file: str
    field: str
    message: str
    fix: str
    value: Any = _UNSET

    def render(self) -> str:
        got = "" if self.value is _UNSET else f" (got {show(self.value)})"
        where = f"{self.file}: {self.field}" if self.field else self.file
        return f"{where}: {self.message}{got}\n    fix: {self.fix}"


class UserError(Exception):
    """Something the user can fix; the CLI prints every problem and exits 2."""

    def __init__(self, *problems: Problem) -> None:
        self.problems = problems
        super().__init__(self.render())

    def render(self) -> str:
        return "\n".join(p.render() for p in self.problems)

    @classmethod
    def one(cls, *, file: str, field: str, message: str, fix: str, value: Any = _UNSET) -> UserError:
        return cls(Problem(file=file, field=field, message=message, fix=fix, value=value))
