"""A release killed mid-step (SIGKILL, in a child process): the stack file records where it
was; `--resume` carries on from there, `--abort` restores where it started. Meanwhile no
second release of the model can start: the stack file's marker refuses a new one, the
lock (held by the running process) refuses a second run of the same one."""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import json
import multiprocessing
import os
from pathlib import Path
import signal
import time

import pytest

from infra.cli.release_cmd import execute, preflight, prepare
from infra.config.errors import ConfigError
from infra.release.appliers import OfflineApplier
from tests.conftest import REPO
from tests.harness.harness import Harness, rig
from tests.harness.release import FRONTEND_JOB, Follower, ScaledClock, scaled_source
from tests.release import child
from tests.release import scenarios as s


@contextlib.contextmanager
def _killed_mid_step(tmp_path: Path) -> Iterator[tuple[Harness, Path, Follower]]:
    """A release killed while it analyses its 5% step; yields the rig still running."""
    plan, mon, cfg = rig(REPO, s.STACK)
    root = s.release_repo(tmp_path / "repo", {})
    h = Harness(tmp_path / "harness", plan, mon, cfg, extra_jobs=[FRONTEND_JOB])
    follower = Follower(h, root / "build" / "releases" / s.STACK / "applied", s.MODEL)
    follower.deploy("blue", s.FROM_VERSION, live=True, at=s.WARM)
    with h:
        follower.start()
        s.wait_for_scrapes(h, plan)
        words = ["release", s.MODEL, str(s.VERSION), "--stack", s.STACK, "--applier", "offline", "--skip-preflight"]
        proc = multiprocessing.get_context("spawn").Process(
            target=child.run_release, args=(str(root), h.prometheus.url, h.factor, words))
        proc.start()
        try:
            _wait(lambda: any(e["kind"] == "interval" and e["phase"] == "canary 5%" for e in _events(root)),
                  120, "the child's first interval at 5%")
            _while_running(root, h)
            os.kill(proc.pid or 0, signal.SIGKILL)
            proc.join(timeout=30)
            assert proc.exitcode == -signal.SIGKILL
            yield h, root, follower
        finally:
            if proc.is_alive():
                proc.kill()
            follower.stop()


def _while_running(root: Path, h: Harness) -> None:
    """Concurrency: a new release is refused by the marker, the same one by the lock."""
    with pytest.raises(ConfigError, match="is in progress since"):
        prepare(s.release_args(), root, scaled_source(h))
    resumed = prepare(s.release_args("--resume", version=None), root, scaled_source(h))
    with pytest.raises(ConfigError, match="another release of bert-ranker runs on this machine"):
        execute(resumed, applier=OfflineApplier(root / "unused"), clock=ScaledClock(h.factor), echo=lambda _: None)


def _events(root: Path) -> list[dict[str, object]]:
    out = []
    for path in (root / "build" / "releases" / s.STACK / s.MODEL).glob("*/journal.jsonl"):
        out += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return out


def _wait(check: object, timeout_s: float, what: str) -> None:
    assert callable(check)
    end = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > end:
            raise TimeoutError(what)
        time.sleep(0.1)


def _stack(root: Path) -> str:
    return (root / "stacks" / f"Pulumi.{s.STACK}.yaml").read_text(encoding="utf-8")


def test_resume_continues_a_killed_release(tmp_path: Path) -> None:
    with _killed_mid_step(tmp_path) as (h, root, follower):
        text = _stack(root)
        assert "release_in_progress: {id: " in text and "canary_percent: 5" in text
        p = prepare(s.release_args("--resume", version=None), root, scaled_source(h))
        applier = OfflineApplier(root / "build" / "releases" / s.STACK / "applied")
        assert preflight(p, applier) is None
        lines: list[str] = []
        outcome = execute(p, applier=applier, clock=ScaledClock(h.factor), echo=lines.append)
        assert outcome.status == "released", "\n".join(lines)
        time.sleep(0.3)
    assert lines[1].startswith("resume: ")
    kinds = [e["kind"] for e in _events(root)]
    assert kinds.count("start") == 2 and "resume" in kinds and kinds[-1] == "end"
    phases = [e["phase"] for e in _events(root) if e["kind"] == "interval"]
    assert "canary 5% (resumed)" in phases and "canary 50%" in phases
    last = follower.applied[-1]["models"][s.MODEL]  # type: ignore[index]
    assert last["live"] == "green" and last["weights"] == {"green": 100}
    assert "release_in_progress" not in _stack(root)


def test_abort_restores_the_last_good_state(tmp_path: Path) -> None:
    with _killed_mid_step(tmp_path) as (h, root, follower):
        p = prepare(s.release_args("--abort", version=None), root, scaled_source(h))
        applier = OfflineApplier(root / "build" / "releases" / s.STACK / "applied")
        assert preflight(p, applier) is None
        outcome = execute(p, applier=applier, clock=ScaledClock(h.factor), echo=lambda _: None)
        assert outcome.status == "aborted"
        time.sleep(0.3)
    last = follower.applied[-1]["models"][s.MODEL]  # type: ignore[index]
    assert last["live"] == "blue" and last["weights"] == {"blue": 100} and set(last["colors"]) == {"blue"}
    before = s.git(root, "show", f"HEAD~4:stacks/Pulumi.{s.STACK}.yaml")  # before stage, canary 5, canary 0, retire
    assert _stack(root).rstrip("\n") == before  # byte for byte (git show output stripped)
