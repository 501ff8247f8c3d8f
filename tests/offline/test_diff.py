"""Desired-state diff: the pure comparison, and the command across real git revisions."""

from __future__ import annotations

from pathlib import Path
import shutil
import subprocess

import pytest

from infra.cli.main import main
from infra.offline.diff import changed_paths, describe_rollout, diff_docs
from infra.rules.rollout import Rollout
from tests.conftest import REPO
from tests.delivery.runbooks import repo_files


def test_changed_paths_are_leaf_paths() -> None:
    before = {"spec": {"selector": {"color": "blue"}, "ports": [1, 2]}, "x": 1}
    after = {"spec": {"selector": {"color": "green"}, "ports": [1, 3]}, "y": 1}
    assert list(changed_paths(before, after)) == ["spec.ports[1]", "spec.selector.color", "x", "y"]


@pytest.mark.parametrize(("before", "after", "expected"), [
    (Rollout(blue=7, green=8, live="blue"), Rollout(blue=7, green=8, live="green"),
     ["m: live blue v7 -> green v8"]),
    (Rollout(blue=7, green=None, live="blue"), Rollout(blue=7, green=8, live="blue"), ["m: staged green v8"]),
    (Rollout(blue=7, green=8, live="green"), Rollout(blue=None, green=8, live="green"), ["m: retired blue v7"]),
    (Rollout(blue=7, green=8, live="blue"), Rollout(blue=7, green=8, live="blue", canary_percent=10),
     ["m: canary 0% -> 10% to green v8"]),
    (None, Rollout(blue=1, green=None, live="blue"), ["m: added, live blue v1"]),
])
def test_rollout_sentences(before: Rollout | None, after: Rollout | None, expected: list[str]) -> None:
    assert describe_rollout("m", before, after) == expected


def test_unsafe_move_is_flagged() -> None:
    doc = {"resources": [], "outputs": {"models": {"m": {"live": "blue", "versions": {"blue": 7},
                                                         "weights": {"blue": 100}}}}}
    bad = {"resources": [], "outputs": {"models": {"m": {"live": "blue", "versions": {"blue": 9},
                                                         "weights": {"blue": 100}}}}}
    d = diff_docs("dev", doc, bad)
    assert d.rollouts == ["m: live blue v7 -> blue v9"]
    assert d.warnings and "carries traffic (v7) and would change to v9" in d.warnings[0]


@pytest.fixture
def git_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repository holding this checkout's files (tracked, and untracked ones git does not
    ignore: the code this process runs), one commit on main."""
    root = tmp_path / "repo"
    for rel in repo_files(REPO):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, root / rel)
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "base"], check=True)
    monkeypatch.setenv("TFPLAT_ROOT", str(root))
    return root


def _diff(capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    assert main(["diff", "--stack", "dev", *extra]) == 0
    return capsys.readouterr().out


def test_diff_of_a_switch_is_the_selector_only(git_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["switch", "resnet50", "--stack", "dev"]) == 0
    capsys.readouterr()
    out = _diff(capsys)
    assert "<!-- tfplat-diff:dev -->" in out
    assert "**0 to add, 2 to change, 0 to remove**" in out
    assert "- resnet50: live green v8 -> blue v7" in out
    rows = {line.split("`")[1]: line for line in out.splitlines() if line.startswith("| ~ ")}
    assert set(rows) == {"serving-resnet50", "serving-resnet50-rest"}  # the selector and the route
    assert "`inputs.spec.selector.tfplat.dev/color`" in rows["serving-resnet50"]
    assert "`inputs.spec.rules[0].backendRefs[0].name`" in rows["serving-resnet50-rest"]
    assert "Unsafe" not in out


def test_diff_of_a_stage_is_the_new_color_only(git_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stage", "mobilenet", "5", "--stack", "dev", "--skip-preflight"]) == 0
    capsys.readouterr()
    out = _diff(capsys)
    assert "- mobilenet: staged green v5" in out
    rows = [line for line in out.splitlines() if line[:4] in ("| + ", "| ~ ", "| - ")]
    assert rows and all(r.startswith("| + ") for r in rows), rows
    kinds = sorted(r.split("`")[3] for r in rows)
    assert kinds == ["kubernetes:apps/v1:Deployment", "kubernetes:core/v1:ConfigMap", "kubernetes:core/v1:Service",
                     "kubernetes:keda.sh/v1alpha1:ScaledObject", "kubernetes:networking.gke.io/v1:HealthCheckPolicy",
                     "kubernetes:policy/v1:PodDisruptionBudget"]
    assert all("mobilenet-green" in r for r in rows)


def test_diff_between_two_commits(git_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["canary", "mobilenet", "20", "--stack", "staging"]) == 0
    assert "already blue*=v4 green=v5 canary 20% -> green; nothing to change" in capsys.readouterr().out
    assert main(["canary", "mobilenet", "50", "--stack", "staging"]) == 0
    git = ["git", "-C", str(git_repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "commit", "-qam", "canary 50"], check=True)
    capsys.readouterr()
    assert main(["diff", "--stack", "staging", "--base", "HEAD~1", "--head", "HEAD"]) == 0
    out = capsys.readouterr().out
    assert "mobilenet: canary 20% -> 50% to green v5" in out
    assert "`HEAD~1` -> `HEAD`" in out
