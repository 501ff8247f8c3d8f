"""Finding registered resources in a mock-engine run (shared by the program tests)."""

from __future__ import annotations

from infra.offline import engine
from infra.offline.engine import Record
from infra.plan.stack import StackPlan

Run = tuple[StackPlan, engine.RunResult]


def of_type(run: Run, typ: str) -> list[Record]:
    return [r for r in run[1].records if r.type == typ]


def one_of_type(run: Run, typ: str) -> Record:
    found = of_type(run, typ)
    assert len(found) == 1, (typ, [r.name for r in found])
    return found[0]


def named(run: Run, typ: str, name: str) -> Record:
    (found,) = [r for r in of_type(run, typ) if r.name == name]
    return found
