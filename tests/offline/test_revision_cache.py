"""`tfplat diff` plans a committed tree once per machine: read back while nothing it depends on
changed, planned again when anything did, never kept when the plan failed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
import subprocess

import pytest

from infra.cli import diff_cmd, revision_cache
from infra.cli.main import main
from tests.offline.test_diff import git_repo  # noqa: F401 (fixture)

GIT = ("-c", "user.name=t", "-c", "user.email=t@t")
PlanFn = Callable[[Path, Path, str, str, dict[str, str]], tuple[str, str | None]]


@pytest.fixture
def planned(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """Every revision the diff really planned, in this process (its code is the running code)
    or in its own (`own:`): the real plans run; this only counts them."""
    monkeypatch.setenv("TFPLAT_ENGINE_CACHE", str(tmp_path / "cache"))
    runs: list[str] = []

    def counting(real: PlanFn, prefix: str) -> PlanFn:
        def plan(src: Path, out: Path, rev: str, stack: str, env: dict[str, str]) -> tuple[str, str | None]:
            runs.append(f"{prefix}{rev[:12]}/{stack}")
            return real(src, out, rev, stack, env)
        return plan

    monkeypatch.setattr(diff_cmd, "_plan_here", counting(diff_cmd._plan_here, ""))
    monkeypatch.setattr(diff_cmd, "_plan_exported", counting(diff_cmd._plan_exported, "own:"))
    return runs


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *GIT, *args], capture_output=True, text=True,
                          check=True).stdout.strip()


def _diff(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["diff", "--stack", "dev", *args]) == 0
    return capsys.readouterr().out


def test_a_tree_is_planned_once_and_read_back_the_same(git_repo: Path, planned: list[str],  # noqa: F811
                                                       capsys: pytest.CaptureFixture[str],
                                                       tmp_path: Path) -> None:
    head = _git(git_repo, "rev-parse", "HEAD")
    first = _diff(capsys, "--base", "HEAD", "--head", "HEAD")
    assert planned == [f"{head[:12]}/dev"]  # base and head are one tree: planned once
    assert "`HEAD` -> `HEAD`: **no changes**" in first
    assert len(list((tmp_path / "cache" / "plans").glob("*.json"))) == 1

    _git(git_repo, "commit", "-q", "--allow-empty", "-m", "same tree, another commit")
    assert "`HEAD` -> `HEAD~1`: **no changes**" in _diff(capsys, "--base", "HEAD", "--head", "HEAD~1")
    assert planned == [f"{head[:12]}/dev"]  # a commit is not the key: its tree is


def test_a_changed_tree_or_setting_is_planned_again(git_repo: Path, planned: list[str],  # noqa: F811
                                                    capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    _diff(capsys, "--base", "HEAD", "--head", "HEAD")
    assert len(planned) == 1
    monkeypatch.setenv("TFPLAT_CHART_PULL", "0")  # a setting the plan reads: another key
    _diff(capsys, "--base", "HEAD", "--head", "HEAD")
    assert len(planned) == 2

    assert main(["switch", "resnet50", "--stack", "dev"]) == 0
    _git(git_repo, "commit", "-qam", "switch")
    capsys.readouterr()
    out = _diff(capsys, "--base", "HEAD~1", "--head", "HEAD")
    assert len(planned) == 3  # HEAD~1's tree was read back; the new tree was planned
    assert "- resnet50: live green v8 -> blue v7" in out
    assert not any(p.startswith("own:") for p in planned)  # config changes only: planned here

    code = git_repo / "infra" / "plan" / "stack.py"
    code.write_text(code.read_text() + "# a code change: the revision runs its own code\n")
    _git(git_repo, "commit", "-qam", "code")
    _diff(capsys, "--base", "HEAD~1", "--head", "HEAD")
    assert planned[3:] == [f"own:{_git(git_repo, 'rev-parse', 'HEAD')[:12]}/dev"]


def test_a_plan_that_failed_is_not_kept(git_repo: Path, planned: list[str],  # noqa: F811
                                        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    stack = git_repo / "stacks" / "Pulumi.dev.yaml"
    stack.write_text(stack.read_text().replace("tfplat:region: us-central1", "tfplat:region: us-central-1"))
    _git(git_repo, "commit", "-qam", "broken")
    stack.write_text(stack.read_text().replace("tfplat:region: us-central-1", "tfplat:region: us-central1"))
    for _ in range(2):
        out = _diff(capsys, "--base", "HEAD")
        assert "could not be planned (2 configuration errors:); compared with nothing" in out
    assert len(planned) == 2  # the broken base both times
    kept = list((tmp_path / "cache" / "plans").glob("*.json"))
    assert len(kept) == 1 and "serving-resnet50" in kept[0].read_text()  # the working tree's plan only


def test_the_key_covers_the_tools_and_settings_but_not_the_root(tmp_path: Path) -> None:
    helm = tmp_path / "helm"
    helm.write_bytes(b"v1")
    env = {"TFPLAT_HELM": str(helm), "TFPLAT_ROOT": "/a", "HOME": "/h"}
    key = revision_cache.entry("t" * 40, "dev", env)
    assert revision_cache.entry("t" * 40, "dev", {**env, "TFPLAT_ROOT": "/b", "HOME": "/x"}) == key
    assert revision_cache.entry("u" * 40, "dev", env) != key
    assert revision_cache.entry("t" * 40, "prod", env) != key
    assert revision_cache.entry("t" * 40, "dev", {**env, "PULUMI_CONFIG_PASSPHRASE": "p"}) != key
    helm.write_bytes(b"v2-upgraded")  # the same path, another binary
    assert revision_cache.entry("t" * 40, "dev", env) != key


def test_a_planned_working_tree_is_read_back_once_committed(git_repo: Path,  # noqa: F811
                                                            capsys: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The working tree's plan is kept as the plan of the tree it would commit: the next diff on
    it, and the diff whose base is that commit, plan nothing again."""
    from infra.offline import plan as offline

    monkeypatch.setenv("TFPLAT_ENGINE_CACHE", str(tmp_path / "cache"))
    plans: list[str] = []
    real = offline.offline_plan

    def counting(root: Path, stack: str, out: Path, **kw: bool) -> offline.PlanOutcome:
        plans.append(f"{root.name}/{stack}")
        return real(root, stack, out, **kw)

    monkeypatch.setattr(offline, "offline_plan", counting)
    assert main(["switch", "resnet50", "--stack", "dev"]) == 0
    capsys.readouterr()
    first = _diff(capsys)
    assert "- resnet50: live green v8 -> blue v7" in first
    assert len(plans) == 2  # the base (in this process: config-only difference) and the working tree
    assert _diff(capsys) == first and len(plans) == 2  # nothing changed: both read back

    _git(git_repo, "commit", "-qam", "switch")
    assert "**no changes**" in _diff(capsys, "--base", "HEAD")
    assert len(plans) == 2  # the commit's tree is the tree the working tree's plan was kept as

    (git_repo / ".git" / "info" / "exclude").write_text("stacks/Pulumi.local.yaml\n")
    (git_repo / "stacks" / "Pulumi.local.yaml").write_text("config: {}\n")  # read by no dev plan, but ignored
    _diff(capsys, "--base", "HEAD")
    _diff(capsys, "--base", "HEAD")
    assert plans[2:] == ["repo/dev", "repo/dev"]  # a config file the tree leaves out: never kept
