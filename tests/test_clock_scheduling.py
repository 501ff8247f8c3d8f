"""tests/clock_scheduling.py: xdist deals each clock group to one worker from the start and
every other test to whichever worker is free (a real `pytest -n 3` on a small project)."""

from __future__ import annotations

import os
from pathlib import Path
import re
import subprocess
import sys

import pytest

from tests.clock_scheduling import CLOCK_GROUPS, require_grouped
from tests.conftest import REPO

CONFTEST = """
from tests.clock_scheduling import make_scheduler

def pytest_xdist_make_scheduler(config, log):
    return make_scheduler(config, log, {"test_clock_a.py": "clock", "test_clock_b.py": "clock"})
"""
CLOCK_MODULE = """
import time, pytest

@pytest.mark.parametrize("i", range(4))
def test_waits(i):
    time.sleep(0.2)
"""
CPU_MODULE = """
import pytest

@pytest.mark.parametrize("i", range(12))
def test_quick(i):
    pass
"""


def test_a_clock_group_runs_on_one_worker_from_the_start_and_the_rest_spreads(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(CONFTEST)
    for name in ("test_clock_a.py", "test_clock_b.py"):
        (tmp_path / name).write_text(CLOCK_MODULE)
    for name in ("test_cpu_a.py", "test_cpu_b.py"):
        (tmp_path / name).write_text(CPU_MODULE)
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "3", "-v", "-p", "xdist"],
                          check=False, cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert done.returncode == 0, done.stdout + done.stderr
    ran = re.findall(r"^\[(gw\d)\] .*PASSED (test_\w+)\.py::", done.stdout, re.M)
    assert len(ran) == 32, done.stdout
    clock_workers = {w for w, module in ran if module.startswith("test_clock")}
    assert len(clock_workers) == 1, ran
    (clock,) = clock_workers
    assert next(module for w, module in ran if w == clock).startswith("test_clock"), ran  # its first test
    assert len({w for w, module in ran if module.startswith("test_cpu") and w != clock}) == 2, ran


def test_every_clock_module_exists() -> None:
    assert [m for m in CLOCK_GROUPS if not (REPO / m).is_file()] == []


def test_a_harness_started_outside_every_clock_group_is_refused() -> None:
    require_grouped("tests/release/test_scenarios.py::test_figures_are_written (setup)")
    with pytest.raises(AssertionError, match=r"tests/rules/test_names.py starts a harness .* add it to CLOCK_GROUPS"):
        require_grouped("tests/rules/test_names.py::test_x (call)")
