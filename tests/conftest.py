"""Shared fixtures: a disposable copy of the repository's config for each test, and the
offline plan of each shipped stack, run once per test process."""

from __future__ import annotations

import atexit
from collections.abc import Iterator
from functools import cache
import os
from pathlib import Path
import shutil
import tempfile
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from infra.offline.engine import RunResult
    from infra.offline.plan import PlanOutcome
    from infra.plan.stack import StackPlan

REPO = Path(__file__).resolve().parents[1]

# The offline mirrors of released charts and CRDs beside the checkout (as make and CI set
# them), and no plan may leave a Helm release unrendered (docs/charts.md).
for _var, _folder in (("TFPLAT_CHART_MIRROR", "charts"), ("TFPLAT_CRD_MIRROR", "crds")):
    if not os.environ.get(_var) and (REPO.parent / "shared" / _folder).is_dir():
        os.environ[_var] = str(REPO.parent / "shared" / _folder)
os.environ.setdefault("TFPLAT_REQUIRE_CHARTS", "1")
CONFIG_DIRS = ("models", "stacks")
STACKS = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in (REPO / "stacks").glob("Pulumi.*.yaml"))


def copy_config(dest: Path) -> Path:
    """models/, stacks/ and Pulumi.yaml copied to `dest` (code and schemas stay shared)."""
    for name in CONFIG_DIRS:
        shutil.copytree(REPO / name, dest / name, ignore=shutil.ignore_patterns("samples"))
    shutil.copy(REPO / "Pulumi.yaml", dest / "Pulumi.yaml")
    return dest


def versions_file(dest: Path, **sections: object) -> Path:
    """images/versions.yaml with whole sections replaced (a str is read as YAML), written to
    dest/versions.yaml: every other section stays real, so the file still meets its schema
    except where a test breaks it on purpose."""
    import yaml

    data = yaml.safe_load((REPO / "images" / "versions.yaml").read_text(encoding="utf-8"))
    for key, value in sections.items():
        data[key] = yaml.safe_load(value) if isinstance(value, str) else value
    path = dest / "versions.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def repo_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A writable copy of the config; TFPLAT_ROOT points the loader and CLI at it."""
    root = copy_config(tmp_path / "repo")
    monkeypatch.setenv("TFPLAT_ROOT", str(root))
    yield root


def shared_run(stack: str) -> tuple[StackPlan, RunResult]:
    """The plan and mock-engine run of a shipped stack (stacks/ as committed): shared_plan's,
    computed once per test process and shared by every test that reads it. Read-only: a test
    that changes config plans its own copy (repo_copy, run_offline)."""
    outcome, _ = shared_plan(stack)
    return outcome.plan, outcome.result


@cache
def shared_plan(stack: str) -> tuple[PlanOutcome, Path]:
    """`make plan` of a shipped stack, scan included: (outcome, the folder holding <stack>/),
    computed once per test process and read by every test of the offline plan's files, charts,
    policies and scan. Read-only, like shared_run."""
    from infra.offline.plan import offline_plan

    out = Path(tempfile.mkdtemp(prefix=f"tfplat-shared-{stack}-"))
    atexit.register(shutil.rmtree, out, True)
    return offline_plan(REPO, stack, out, scan=True), out


def pytest_configure(config: pytest.Config) -> None:
    from tests.gc_policy import pace_collections

    pace_collections()


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """`-n N` (xdist's default, --dist load): the clock groups first, each on its own worker
    (tests/clock_scheduling.py). Any other --dist is xdist's own."""
    if config.getoption("dist") != "load":
        return None
    from tests.clock_scheduling import make_scheduler

    return make_scheduler(config, log)
