"""How `make test` deals the main suite to its xdist workers: the modules that wait on
harness clocks go to workers of their own from the start; every other test is dealt one by
one to whichever worker is free.

A clock module runs a real Prometheus and stand-in exporters at 1/30 time and mostly waits:
a release or an alert takes its production minutes as wall seconds, whatever the cores do.
Dealt like the rest, they landed together on one worker after its share of CPU work, and
that worker finished two minutes after the others. A group runs its modules one after the
other on one worker (their rigs never slow each other down, and a module fixture runs
once); the other workers start on the CPU-bound tests meanwhile, and a clock worker joins
them once its group is done.

xdist's own engine does the dealing: LoadScopeScheduling with a scope per group and a
scope per test (what `--dist loadgroup` does with `xdist_group` marks, which pytest 9
no longer lets it apply: it renames the item's `_nodeid`, and pytest 9 keeps `_id`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: test module -> its clock group. Each group runs on one worker; run-suites starts one
#: worker per group beside one per core.
CLOCK_GROUPS = {
    "tests/monitoring/test_alerts_live.py": "clock-alerts",
    "tests/scaling/test_triggers_live.py": "clock-alerts",
    "tests/release/test_scenarios.py": "clock-releases",
    "tests/release/test_resume_abort.py": "clock-releases",
}


def _module(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def require_grouped(current_test: str) -> None:
    """Called when a harness starts its Prometheus, with $PYTEST_CURRENT_TEST: a module that
    runs a clock rig outside every group would be dealt test by test to busy workers."""
    module = _module(current_test)
    if module not in CLOCK_GROUPS:
        raise AssertionError(f"{module} starts a harness (a real Prometheus on the harness clock) but is in no "
                             "clock group: add it to CLOCK_GROUPS in tests/clock_scheduling.py")


def make_scheduler(config: Any, log: Any, groups: Mapping[str, str] = CLOCK_GROUPS) -> object:
    from xdist.scheduler import LoadScopeScheduling

    class ClockScheduling(LoadScopeScheduling):  # type: ignore[misc]
        # Units go out largest first (xdist's loadscopereorder): the groups, then single tests.
        def _split_scope(self, nodeid: str) -> str:
            return groups.get(_module(nodeid), nodeid)

    return ClockScheduling(config, log)
