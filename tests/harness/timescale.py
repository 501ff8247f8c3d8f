"""Running production rules in seconds: every duration scaled by one factor.

The rules under test are the rendered ones. The only change is mechanical: every duration
in a rule (`for:`, range selectors `[5m]`, subquery ranges and steps, `offset 15m`) is
multiplied by FACTOR, and so are the scrape and evaluation intervals, Prometheus'
lookback delta and the stand-in cluster's clock (TF Serving's retry interval, restart
back-off, probe budgets, progress deadlines). A window therefore holds the same number of
scrapes as in production, and every ratio, count and quantile is the production one.
Rates per second come out multiplied by 1/FACTOR (counts per window are exact).
"""

from __future__ import annotations

import copy
import re
from typing import Any

# Production scrapes every 30 s (our PodMonitors; the Prometheus operator's default); the
# harness every second.
PRODUCTION_SCRAPE_S = 30.0
FACTOR = 1.0 / 30.0

_UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000,
             "y": 31_536_000_000}
_DUR = r"(?:\d+(?:ms|s|m|h|d|w|y))+"
_RANGE = re.compile(rf"\[({_DUR})(?::({_DUR})?)?\]")
_OFFSET = re.compile(rf"\boffset\s+({_DUR})")


def parse_ms(text: str) -> int:
    parts = re.findall(r"(\d+)(ms|s|m|h|d|w|y)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a Prometheus duration: {text!r}")
    return sum(int(n) * _UNITS_MS[u] for n, u in parts)


def format_ms(ms: int) -> str:
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def scale(duration: str, factor: float = FACTOR) -> str:
    return format_ms(round(parse_ms(duration) * factor))


def scale_expr(expr: str, factor: float = FACTOR) -> str:
    def _range(mt: re.Match[str]) -> str:
        rng = scale(mt.group(1), factor)
        if mt.group(0).count(":") == 0:
            return f"[{rng}]"
        return f"[{rng}:{scale(mt.group(2), factor) if mt.group(2) else ''}]"

    expr = _RANGE.sub(_range, expr)
    return _OFFSET.sub(lambda mt: f"offset {scale(mt.group(1), factor)}", expr)


def scale_group(group: dict[str, Any], factor: float = FACTOR) -> dict[str, Any]:
    """A rule group with every duration multiplied by `factor` and nothing else changed."""
    out = copy.deepcopy(group)
    for rule in out["rules"]:
        rule["expr"] = scale_expr(rule["expr"], factor)
        if "for" in rule:
            rule["for"] = scale(rule["for"], factor)
    return out
