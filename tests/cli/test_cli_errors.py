"""Errors instead of tracebacks, Ctrl-C, and the read-only views (issue 13, "Credentials and errors")."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

from infra.cli.main import main
from tests.conftest import REPO


def _snapshot(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and ".git" not in p.parts}


def test_plan_from_a_subdirectory_writes_build_at_the_root(repo_copy: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("TFPLAT_ROOT", raising=False)
    monkeypatch.chdir(repo_copy / "stacks")
    assert main(["plan", "--stack", "dev"]) == 0
    out = capsys.readouterr().out
    assert (repo_copy / "build" / "dev" / "resources.json").is_file()
    assert not (repo_copy / "stacks" / "build").exists()
    assert f"wrote {repo_copy / 'build' / 'dev'}/resources.json, " in out
    assert f"manifests in {repo_copy / 'build' / 'dev' / 'manifests'} " in out


def test_an_unwritable_build_folder_is_a_clear_error(repo_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Tests run as root, for whom permissions do not stop a write: a file where the build
    folder should be fails the same way (OSError) as a read-only folder does for a user."""
    (repo_copy / "build").write_text("not a folder\n")
    before = _snapshot(repo_copy)
    assert main(["plan", "--stack", "dev"]) == 2
    err = capsys.readouterr().err
    assert re.search(rf"error: cannot write the plan: .* \({re.escape(str(repo_copy / 'build'))}\S*\); "
                     "nothing was written", err), err
    assert f"fix: make {repo_copy / 'build'} writable (or remove it), or pass --out <a writable folder>" in err
    assert "Traceback" not in err
    assert _snapshot(repo_copy) == before


def test_diff_without_the_crd_validator_explains_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from infra.offline import crd_validate

    root = tmp_path / "repo"
    for name in ("models", "stacks", "schemas", "images", "Pulumi.yaml"):
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, root / name)
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "base"], check=True)
    monkeypatch.setenv("TFPLAT_ROOT", str(root))
    monkeypatch.setattr(crd_validate, "TOOL_DIR", tmp_path / "no-crd-validate")
    assert main(["diff", "--stack", "dev"]) == 1
    err = capsys.readouterr().err
    assert "error: a tool the plan needs is missing: custom resources cannot be validated: run `make setup`" in err
    assert "Traceback" not in err


def test_the_plan_benchmark_shows_the_child_s_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("plan_bench", REPO / "bench" / "plan_bench.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    real = bench.make_root

    def broken_root(n: int, where: Path) -> Path:
        root: Path = real(n, where)
        stack = root / "stacks" / "Pulumi.bench.yaml"
        stack.write_text(stack.read_text().replace("tfplat:region: us-central1", "tfplat:region: us-central-1"))
        return root

    monkeypatch.setattr(bench, "make_root", broken_root)
    monkeypatch.setattr(sys, "argv", ["plan_bench.py", "--sizes", "1", "--repeat", "1"])
    assert bench.main() == 2
    err = capsys.readouterr().err
    assert "config.tfplat:region: is not a gcp region name" in err  # the child's own message
    assert "error: the 1-model plan failed (exit 2); its output is above." in err
    assert "CalledProcessError" not in err


def test_ctrl_c_stops_a_long_plan_promptly_and_writes_nothing(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("plan_bench", REPO / "bench" / "plan_bench.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    root = bench.make_root(100, tmp_path)  # a plan of ~1,600 resources: many seconds
    # Started as a terminal starts it: a test run in the background of a script (`pytest ... &`)
    # ignores SIGINT, and an ignored signal stays ignored in a child; a handled one does not.
    ignored = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen([sys.executable, "-m", "infra.cli", "plan", "--stack", "bench"], cwd=root,
                                env={**os.environ, "PYTHONPATH": str(REPO), "TFPLAT_ROOT": str(root)},
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    finally:
        signal.signal(signal.SIGINT, ignored)
    time.sleep(4)  # well into the engine run (imports and config take about a second)
    proc.send_signal(signal.SIGINT)
    sent = time.monotonic()
    out, err = proc.communicate(timeout=120)
    stopped_after = time.monotonic() - sent
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted" in err and "Traceback" not in err
    assert "wrote" not in out
    # Nothing half-written: no build/bench, and no staging folder left beside it.
    build = root / "build"
    assert not (build / "bench").exists()
    assert not build.exists() or list(build.iterdir()) == []
    assert stopped_after < 30, f"took {stopped_after:.1f}s to stop"


def test_status_shows_what_it_can_while_a_model_file_is_missing(repo_copy: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    (repo_copy / "models" / "resnet50.yaml").unlink()
    before = _snapshot(repo_copy)
    assert main(["status"]) == 1
    captured = capsys.readouterr()
    rows = [line.split() for line in captured.out.splitlines()]
    assert ["prod", "resnet50", "v7", "v8", "green", "-", "green", "100%", "!", "see", "below"] in rows
    assert ["prod", "mobilenet", "v4", "-", "blue", "-", "blue", "100%", "(unchecked)"] in rows
    assert "stacks/Pulumi.prod.yaml:46: config.tfplat:models.resnet50: no model file models/resnet50.yaml" \
        in captured.err
    assert "rows marked ! or (unchecked) are read from the stack file as written" in captured.err
    assert _snapshot(repo_copy) == before


def test_the_readme_s_sample_error_is_what_the_tool_prints(repo_copy: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    sample = re.search(r"```\n(stacks/Pulumi\.dev\.yaml:\d+: .*\n    fix: .*)\n```", readme)
    assert sample is not None, "the README's sample config error is gone"
    path = repo_copy / "stacks" / "Pulumi.dev.yaml"
    path.write_text(path.read_text().replace("    mobilenet:\n      blue: 4\n      live: blue\n",
                                             "    mobilenet:\n      blue: 4\n      live: green\n"))
    assert main(["validate", "--stack", "dev"]) == 2
    assert sample.group(1) in capsys.readouterr().err


def test_readme_tags_exist_or_are_placeholders() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    tags = subprocess.run(["git", "-C", str(REPO), "tag"], capture_output=True, text=True, check=True).stdout.split()
    for tag in re.findall(r"--base (v[0-9][^ ]*)", readme):
        assert tag in tags, f"the README names tag {tag}, which does not exist"
