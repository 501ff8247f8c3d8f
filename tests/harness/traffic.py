"""What each color of a model receives over time, and counting it as a server does.

A real server counts a request when it arrives, whenever it is scraped. The stand-in
exporters render their counters at scrape time, so they integrate the traffic over the span
since their last scrape instead of multiplying the rate of the scrape's moment by that span
(which lost a burst no scrape landed in, and credited a whole span with a rate that began a
moment ago). Traffic is therefore a function of sim time: `Schedule.at(model, color, t)`
for any past t, and `changes` lists the moments it may jump (a `set_traffic`, an apply).

`pieces` cuts a span at those moments and on a STEP_S grid anchored at the latest one, and
samples each piece at the start of the elementary segment it lies in, not at its own start:
the count credited over any span is then the same however scrapes cut it (a scrape only
decides when the count is read). A script that depends on the seconds since a change (a
route that stops after 60 s) is exact at whole seconds, since the grid starts at the change.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
import math
from typing import Protocol

STEP_S = 1.0  # sim seconds: a script's traffic is taken as constant within one


@dataclass(frozen=True)
class Traffic:
    """What one color of a model receives, per sim second, spread over its serving pods."""

    rps: float = 0.0
    server_error_ratio: float = 0.0  # INTERNAL
    caller_error_ratio: float = 0.0  # INVALID_ARGUMENT
    # Latency of successful requests: (milliseconds, share of requests).
    latency_ms: Sequence[tuple[float, float]] = ((8.0, 0.9), (15.0, 0.09), (30.0, 0.01))


IDLE = Traffic()


class Script(Protocol):
    """Scripted traffic (a release scenario's gateway): wins over `Schedule.set`."""

    def at(self, model: str, color: str, t: float) -> Traffic | None:
        """What (model, color) received at sim time t (never later than now); None: not scripted."""

    def changes(self) -> Sequence[float]:
        """Sorted sim times at which the script's state changed (its traffic may jump there)."""


class Schedule:
    """Every (model, color)'s traffic over sim time: the values set, each from its moment on,
    under an optional script. Callers hold the cluster lock, so a value is set at a moment no
    render has integrated past."""

    def __init__(self) -> None:
        self.script: Script | None = None
        self._log: dict[tuple[str, str], tuple[list[float], list[Traffic]]] = {}

    def set(self, model: str, color: str, t: float, traffic: Traffic) -> None:
        times, values = self._log.setdefault((model, color), ([], []))
        assert not times or t >= times[-1], f"traffic set at {t}, before the last change at {times[-1]}"
        times.append(t)
        values.append(traffic)

    def at(self, model: str, color: str, t: float) -> Traffic:
        scripted = self.script.at(model, color, t) if self.script is not None else None
        if scripted is not None:
            return scripted
        times, values = self._log.get((model, color), ([], []))
        i = bisect_right(times, t)
        return values[i - 1] if i else IDLE

    def changes(self, model: str, color: str) -> list[float]:
        own = self._log.get((model, color), ([], []))[0]
        return sorted([*own, *(self.script.changes() if self.script is not None else ())])


def pieces(a: float, b: float, changes: Sequence[float]) -> Iterator[tuple[float, float]]:
    """[a, b) as (sample time, seconds) pieces; `changes` sorted. Every sample time is at or
    before its piece, so only the past is read. Each piece is longer than zero: the next grid
    point, b and the next change all lie beyond x."""
    i = bisect_right(changes, a)
    anchor = changes[i - 1] if i else 0.0
    x = a
    while x < b:
        k = math.floor((x - anchor) / STEP_S)
        if anchor + (k + 1) * STEP_S <= x:  # rounding just below a grid point
            k += 1
        end = min(anchor + (k + 1) * STEP_S, b)
        if i < len(changes):
            end = min(end, changes[i])
        yield anchor + k * STEP_S, end - x
        x = end
        while i < len(changes) and changes[i] <= x:
            anchor, i = changes[i], i + 1
