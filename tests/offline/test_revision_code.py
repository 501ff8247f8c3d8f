"""`tfplat diff` plans a revision in its own process only when the revision's code is the
running code: a config-only difference says yes; any other byte, mode, extra or missing file
says no. And a revision planned here prints what its own process would print."""

from __future__ import annotations

import os
from pathlib import Path
import shutil

import pytest

from infra.cli import diff_cmd
from infra.cli.revision_code import runs_this_code
from tests.offline.test_diff import git_repo  # noqa: F401 (fixture)
from tests.offline.test_revision_cache import _git

FILES = {"infra/a.py": "A = 1\n", "schemas/s.json": "{}\n", "tools/run.sh": "#!/bin/sh\n",
         "models/m.yaml": "name: m\n", "stacks/Pulumi.dev.yaml": "config: {}\n", "Pulumi.yaml": "name: p\n",
         ".gitignore": "ignored/\n"}


def _repo(path: Path) -> Path:
    for rel, text in FILES.items():
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_text(text)
    (path / "tools" / "run.sh").chmod(0o755)
    (path / "infra" / "link.py").symlink_to("a.py")
    _git(path, "init", "-q", "-b", "main")
    _git(path, "add", "-A")
    _git(path, "commit", "-qm", "base")
    return path


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    """(a project repository, the checkout the code runs from): the same files, two clones."""
    return _repo(tmp_path / "project"), _repo(tmp_path / "code")


def _same(project: Path, code: Path) -> bool:
    return runs_this_code(project, _git(project, "rev-parse", "HEAD^{tree}"), code)


def test_config_only_differences_run_here(pair: tuple[Path, Path]) -> None:
    project, code = pair
    assert _same(project, code)
    for rel in ("models/m.yaml", "stacks/Pulumi.dev.yaml", "Pulumi.yaml"):
        (project / rel).write_text("changed: true\n")
    (project / "models" / "new.yaml").write_text("name: new\n")
    (code / "stacks" / "Pulumi.qa.yaml").write_text("config: {}\n")  # an untracked stack of the checkout
    (code / "ignored").mkdir()
    (code / "ignored" / "x.py").write_text("ignored by git\n")
    _git(project, "add", "-A")
    _git(project, "commit", "-qm", "config")
    assert _same(project, code)


@pytest.mark.parametrize("change", ["edited", "executable", "extra-untracked", "deleted-on-disk", "relinked",
                                    "missing-in-revision"])
def test_any_code_difference_runs_the_revision_s_own_code(pair: tuple[Path, Path], change: str) -> None:
    project, code = pair
    if change == "edited":
        (code / "schemas" / "s.json").write_text('{"type": "object"}\n')  # uncommitted: what runs counts
    elif change == "executable":
        (code / "tools" / "run.sh").chmod(0o644)
    elif change == "extra-untracked":
        (code / "infra" / "b.py").write_text("B = 2\n")
    elif change == "deleted-on-disk":
        (code / "infra" / "a.py").unlink()
    elif change == "relinked":
        (code / "infra" / "link.py").unlink()
        (code / "infra" / "link.py").symlink_to("../schemas/s.json")
    else:
        _git(project, "rm", "-q", "tools/run.sh")
        _git(project, "commit", "-qm", "drop a tool")
    assert not _same(project, code)


def test_a_code_root_outside_git_is_never_taken_as_the_same(pair: tuple[Path, Path], tmp_path: Path) -> None:
    project, code = pair
    shutil.rmtree(code / ".git")
    assert not _same(project, code)


def test_a_revision_planned_here_prints_what_its_own_process_prints(git_repo: Path,  # noqa: F811
                                                                    tmp_path: Path) -> None:
    """The soundness of the shortcut: the same exported revision, planned in this process and
    by `python -m infra.cli plan` in a fresh one, gives the same resources.json, byte for byte."""
    rev = _git(git_repo, "rev-parse", "HEAD")
    src = tmp_path / "src"
    src.mkdir()
    diff_cmd._export(git_repo, rev, src)
    env = {**os.environ, **diff_cmd._tool_env()}
    here, note_here = diff_cmd._plan_here(src, tmp_path / "out-here", rev, "prod", env)
    there, note_there = diff_cmd._plan_exported(src, tmp_path / "out-there", rev, "prod", env)
    assert (note_here, note_there) == (None, None)
    assert here and here == there


def test_a_broken_revision_is_a_note_here_as_in_its_own_process(git_repo: Path, tmp_path: Path) -> None:  # noqa: F811
    stack = git_repo / "stacks" / "Pulumi.dev.yaml"
    stack.write_text(stack.read_text().replace("tfplat:region: us-central1", "tfplat:region: us-central-1"))
    _git(git_repo, "commit", "-qam", "broken")
    rev = _git(git_repo, "rev-parse", "HEAD")
    src = tmp_path / "src"
    src.mkdir()
    diff_cmd._export(git_repo, rev, src)
    assert diff_cmd._plan_here(src, tmp_path / "out", rev, "dev", {}) == (
        "", f"{rev[:12]} could not be planned (2 configuration errors:); compared with nothing")
    assert diff_cmd._plan_here(src, tmp_path / "out", rev, "qa", {}) == ("", f"stack qa does not exist at {rev[:12]}")
