"""`tfplat status`'s scaling table: each color's replica bounds and trigger targets, as the
plan gives them to KEDA (the same ScaledObjects `make plan` renders)."""

from __future__ import annotations

from infra.config.spec import LoadedConfig
from infra.plan.stack import plan_stack

HEADER = ("stack", "model", "color", "replicas", "to zero", "version change", "triggers (targets)")


def scaling_rows(stack: str, loaded: LoadedConfig) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for fleet in plan_stack(loaded).fleets:
        s = fleet.scaling
        if s is None:
            continue
        for c in s.colors:
            zero = f"after {s.cooldown_s}s idle" if c.idle_replicas == 0 else "no"
            rows.append((stack, fleet.name, c.color, f"{c.min_replicas}-{c.max_replicas}", zero, s.version_change,
                         "; ".join(t.describe() for t in c.triggers)))
    return rows


def print_table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
