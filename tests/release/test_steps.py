"""A release step's git record: committed alone, pushed (rebased when the branch moved),
and a rollback step applied even when its push fails."""

from __future__ import annotations

from pathlib import Path
import subprocess
from typing import Any

import pytest

from infra.release import gitops
from infra.release.appliers import OfflineApplier, read_applied
from infra.release.steps import Stepper, unchanged
from infra.rules.rollout import stage
from tests.release import scenarios as s


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key, value in s.GIT_ENV.items():
        monkeypatch.setenv(key, value)
    return s.release_repo(tmp_path / "repo", {})


def _stepper(root: Path, push_to: tuple[str, str] | None, events: list[dict[str, Any]]) -> Stepper:
    return Stepper(root=root, stack=s.STACK, model=s.MODEL, release_id="20261207T040000Z-abcdef", version=3,
                   applier=OfflineApplier(root / "applied"), log=lambda kind, **d: events.append({"kind": kind, **d}),
                   push_to=push_to)


def test_each_step_is_pushed_and_rebased_onto_a_branch_that_moved(checkout: Path, tmp_path: Path) -> None:
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(checkout), str(origin)], check=True)
    s.git(checkout, "remote", "add", "origin", str(origin))
    other = tmp_path / "other"  # someone else merges an unrelated change meanwhile
    subprocess.run(["git", "clone", "-q", str(origin), str(other)], check=True)
    (other / "models" / "mobilenet.yaml").write_text((other / "models" / "mobilenet.yaml").read_text() + "# note\n")
    s.git(other, "commit", "-qam", "an unrelated change")
    s.git(other, "push", "-q", "origin", "main")
    events: list[dict[str, Any]] = []
    _stepper(checkout, ("origin", "main"), events).take("stage v3 in green", lambda r: stage(r, 3))
    log = s.git(checkout, "log", "--format=%s", "origin/main", "-n", "3").splitlines()
    assert log == ["release bert-ranker v3 on dev: stage v3 in green [skip ci]", "an unrelated change",
                   "config under test"]
    body = s.git(checkout, "log", "-1", "--format=%B")
    assert "Tfplat-Release: 20261207T040000Z-abcdef" in body
    assert s.git(checkout, "show", "--stat", "--format=", "HEAD").split("|")[0].strip() == "stacks/Pulumi.dev.yaml"
    assert events[0]["commit"] == s.git(checkout, "rev-parse", "origin/main")


def test_a_failed_push_stops_a_step_forward_but_not_a_rollback(checkout: Path) -> None:
    events: list[dict[str, Any]] = []
    stepper = _stepper(checkout, ("nowhere", "main"), events)
    with pytest.raises(gitops.GitError):
        stepper.take("stage v3 in green", lambda r: stage(r, 3))
    assert read_applied(checkout / "applied") == []  # never applied what the branch does not have
    stepper.take("release ended", unchanged, apply=True, back=True,
                 entry_edit=lambda entry: entry.__setitem__("canary_percent", 0))
    assert len(read_applied(checkout / "applied")) == 1
    assert "nowhere" in events[-1]["unpushed"]
