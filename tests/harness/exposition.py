"""Prometheus text exposition, written the way the stand-in exporters need it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

Labels = Mapping[str, str]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def sample(name: str, labels: Labels, value: float) -> str:
    body = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
    text = repr(float(value)) if value != int(value) else str(int(value))
    return f"{name}{{{body}}} {text}"


@dataclass
class Page:
    """One scrape: families in order, each with a TYPE line (HELP optional)."""

    lines: list[str] = field(default_factory=list)

    def family(self, name: str, kind: str, samples: Iterable[tuple[Labels, float]], help_text: str = "",
               *, suffix: str = "") -> None:
        if help_text:
            self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")
        self.lines += [sample(name + suffix, labels, value) for labels, value in samples]

    def raw(self, line: str) -> None:
        self.lines.append(line)

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"
