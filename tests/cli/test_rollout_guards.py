"""Traffic moves the rollout commands guard: a canary of 100, a canary jump beyond the stack's
limit, and two steps in one uncommitted change (issue 13, "Traffic moves ...")."""

from __future__ import annotations

from pathlib import Path
import subprocess

import pytest

from infra.cli.main import main
from infra.config.loader import load
from infra.offline.diff import diff_docs
from infra.plan.guards import StepLimits, change_problems
from infra.rules.rollout import Rollout


def _snapshot(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and ".git" not in p.parts}


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                   check=True, capture_output=True)


@pytest.fixture
def committed_copy(repo_copy: Path) -> Path:
    """The config copy as a git repository with everything committed (a clean checkout)."""
    _git(repo_copy, "init", "-q", "-b", "main")
    _git(repo_copy, "add", "-A")
    _git(repo_copy, "commit", "-qm", "base")
    return repo_copy


def _set_canary(root: Path, stack: str, model: str, percent: int) -> None:
    """Commit a canary share as the reviewed, applied state."""
    assert main(["canary", model, str(percent), "--stack", stack]) == 0
    _git(root, "commit", "-qam", f"canary {percent}")


def test_canary_100_is_refused_and_points_to_switch(committed_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _set_canary(committed_copy, "prod", "resnet50", 5)
    capsys.readouterr()
    before = _snapshot(committed_copy)
    assert main(["canary", "resnet50", "100", "--stack", "prod"]) == 2
    err = capsys.readouterr().err
    assert "stacks/Pulumi.prod.yaml: config.tfplat:models.resnet50.canary_percent: a canary of 100% sends all " \
           "gateway traffic to the idle color blue while the live Service, its health checks and tfplat status " \
           "still call green live (got 100)" in err
    assert "fix: use tfplat switch MODEL to make the idle color live" in err
    assert _snapshot(committed_copy) == before


def test_a_hand_written_canary_of_100_is_refused_by_the_loader(repo_copy: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    path = repo_copy / "stacks" / "Pulumi.prod.yaml"
    path.write_text(path.read_text().replace("      live: green\n", "      live: green\n      canary_percent: 100\n"))
    assert main(["validate", "--stack", "prod"]) == 2
    err = capsys.readouterr().err
    assert "stacks/Pulumi.prod.yaml:50: config.tfplat:models.resnet50.canary_percent: a canary of 100%" in err
    assert "fix: make blue live instead (live: blue, canary_percent: 0; tfplat switch does this)" in err


def test_prod_canary_grows_at_most_50_points_per_change(committed_copy: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    _set_canary(committed_copy, "prod", "resnet50", 5)
    capsys.readouterr()
    before = _snapshot(committed_copy)
    assert main(["canary", "resnet50", "60", "--stack", "prod"]) == 2
    err = capsys.readouterr().err
    assert "config.tfplat:models.resnet50.canary_percent: the canary would grow from 5% to 60% in one change; " \
           "this stack allows at most 50 points per step (last commit: blue=v7 green*=v8 canary 5% -> blue) " \
           "(got 60)" in err
    assert "fix: go to 55% or less first, apply it and watch the dashboards" in err
    assert "tfplat:rollout.max_canary_step_percent" in err
    assert _snapshot(committed_copy) == before
    assert main(["canary", "resnet50", "55", "--stack", "prod"]) == 0
    # Two canary commands in one change add up: 5 -> 30 -> 60 is one 55-point step.
    assert main(["canary", "resnet50", "30", "--stack", "prod"]) == 0
    assert main(["canary", "resnet50", "60", "--stack", "prod"]) == 2
    # Lowering a canary is always allowed.
    assert main(["canary", "resnet50", "0", "--stack", "prod"]) == 0


def test_the_step_limit_is_set_per_stack(committed_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = committed_copy / "stacks" / "Pulumi.staging.yaml"
    assert main(["canary", "mobilenet", "90", "--stack", "staging"]) == 0  # staging default: no limit below 100
    _git(committed_copy, "checkout", "--", ".")
    setting = "  tfplat:rollout:\n    max_canary_step_percent: 10\n"
    setting = "  tfplat:rollout:\n    max_canary_step_percent: 10\n"
    path.write_text(path.read_text().replace("  tfplat:models:\n", setting + "  tfplat:models:\n"))
    assert load(committed_copy, "staging").stack.rollout.max_canary_step_percent == 10
    capsys.readouterr()
    assert main(["canary", "mobilenet", "40", "--stack", "staging"]) == 2
    assert "the canary would grow from 20% to 40% in one change; this stack allows at most 10 points" \
        in capsys.readouterr().err
    assert main(["canary", "mobilenet", "30", "--stack", "staging"]) == 0


@pytest.mark.parametrize(("first", "second", "fragment"), [
    (["stage", "resnet50", "9", "--stack", "prod", "--skip-preflight"], ["canary", "resnet50", "10", "--stack", "prod"],
     "traffic would move to blue v9, which is not running yet"),
    (["switch", "resnet50", "--stack", "prod"], ["retire", "resnet50", "--stack", "prod"],
     "green carries traffic (v8) and would change to nothing in the same apply"),
    (["stage", "mobilenet", "5", "--stack", "prod", "--skip-preflight"], ["switch", "mobilenet", "--stack", "prod"],
     "traffic would move to green v5, which is not running yet"),
])
def test_a_second_step_in_one_uncommitted_change_is_refused(first: list[str], second: list[str], fragment: str,
                                                            committed_copy: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(first) == 0
    after_first = _snapshot(committed_copy)
    capsys.readouterr()
    assert main(second) == 2
    err = capsys.readouterr().err
    assert fragment in err and "(last commit: " in err
    assert "fix: commit this change and apply it (pulumi up), wait for it, then take the next step in a new change" \
        in err
    assert _snapshot(committed_copy) == after_first
    # After the first step is committed (and applied), the second one goes through.
    _git(committed_copy, "commit", "-qam", "first step")
    assert main(second) == 0


def test_outside_git_the_commands_say_they_cannot_compare(repo_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stage", "resnet50", "9", "--stack", "prod", "--skip-preflight"]) == 0
    err = capsys.readouterr().err
    assert "is not in a git checkout, so tfplat cannot tell whether stacks/Pulumi.prod.yaml already holds a step " \
           "that is not applied yet: apply each step (pulumi up) before taking the next" in err


def test_guards_are_one_reusable_function() -> None:
    """The release engine calls infra.plan.guards directly, without the CLI."""
    prod = StepLimits.for_stack("prod")
    start = Rollout(blue=7, green=8, live="green", canary_percent=5)
    assert change_problems(start, Rollout(blue=7, green=8, live="green", canary_percent=55), prod) == []
    (problem,) = change_problems(start, Rollout(blue=7, green=8, live="green", canary_percent=56), prod)
    assert problem.field == "canary_percent" and problem.value == 56
    assert change_problems(None, start, prod) == []  # a new model entry: nothing was running
    assert StepLimits.for_stack("dev").max_canary_step == 100
    assert StepLimits.for_stack("prod", 20).max_canary_step == 20


def _doc(live: str, versions: dict[str, int], weights: dict[str, int]) -> dict[str, object]:
    return {"resources": [], "outputs": {"models": {"m": {"live": live, "versions": versions, "weights": weights}}}}


def test_diff_fail_on_unsafe_flags_a_canary_of_100_and_a_big_jump() -> None:
    base = _doc("green", {"blue": 7, "green": 8}, {"blue": 5, "green": 95})
    full = _doc("green", {"blue": 7, "green": 8}, {"blue": 100, "green": 0})
    d = diff_docs("prod", base, full)
    assert any("a canary of 100% sends all gateway traffic to blue" in w for w in d.warnings)
    assert any("the canary would grow from 5% to 100%" in w for w in d.warnings)
    jump = _doc("green", {"blue": 7, "green": 8}, {"blue": 60, "green": 40})
    assert any("grow from 5% to 60%" in w for w in diff_docs("prod", base, jump).warnings)
    assert diff_docs("dev", base, jump, StepLimits.for_stack("dev")).warnings == []
