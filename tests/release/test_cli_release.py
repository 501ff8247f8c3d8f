"""`tfplat release` and the release policy from the command line: every mistake exits 2 with
file, line, field, value and fix, changing nothing; --dry-run and --abort end to end."""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import io
from pathlib import Path
import subprocess

import pytest

from infra.cli.main import main
from infra.release.appliers import read_applied
from tests.release import scenarios as s


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    root = s.release_repo(tmp_path / "repo", {})
    monkeypatch.setenv("TFPLAT_ROOT", str(root))
    for key, value in s.GIT_ENV.items():
        monkeypatch.setenv(key, value)
    yield root


def _edit(root: Path, rel: str, old: str, new: str) -> None:
    path = root / rel
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {rel}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _unchanged(root: Path) -> None:
    assert s.git(root, "status", "--porcelain", "--", "stacks") == ""
    assert len(s.git(root, "log", "--oneline").splitlines()) == 1


def test_dry_run_prints_policy_steps_and_queries(repo: Path) -> None:
    code, out, err = run("release", "bert-ranker", "3", "--stack", "dev", "--dry-run")
    assert code == 0, err
    assert "| steps | 5% -> 50% -> switch |" in out and "stage v3 in green, wait until Ready" in out
    assert "canary 5%, then 2 passing intervals of 120s" in out
    assert 'click_through: sum(rate(search_clicks_total{model="bert-ranker",color="green"}[2m]))' in out
    assert "Latency precision: TF Serving's latency buckets put 50 ms inside (37.48 ms, 67.47 ms]" in out
    _unchanged(repo)


@pytest.mark.parametrize(("rel", "old", "new", "expected"), [
    ("stacks/Pulumi.dev.yaml", "    analysis_interval: \"2m\"\n", "    analysis_interval: \"30s\"\n",
     'stacks/Pulumi.dev.yaml:6: config.tfplat:release.analysis_interval: an analysis interval needs at least two '
     'scrapes (30s apart), or its rates have nothing to compute from (got "30s")\n    fix: use 1m or more'),
    ("stacks/Pulumi.dev.yaml", "    bake_time: \"4m\"\n", "    bake_time: \"5m\"\n",
     'config.tfplat:release.bake_time: must be a whole number of analysis intervals (2m) (got "5m")\n'
     "    fix: use 4m, or change analysis_interval"),
    ("stacks/Pulumi.dev.yaml", "  tfplat:release:\n", "  tfplat:rollout: {max_canary_step_percent: 30}\n"
                                                       "  tfplat:release:\n",
     "config.tfplat:release.steps: the step from 5% to 50% grows the canary by 45 points; stack dev allows 30 "
     "per change (tfplat:rollout.max_canary_step_percent), so the release would be refused half way (got [5, 50])"
     "\n    fix: add steps so that none grows by more than 30 points, e.g. [5, 35, 50]"),
    ("models/bert-ranker.yaml", "  gates:\n", "  steps: [50, 5]\n  gates:\n",
     "models/bert-ranker.yaml:38: release.steps: canary steps must grow (got [50, 5])\n"
     "    fix: list them in order, e.g. [5, 50]"),
    ("models/bert-ranker.yaml", "search_clicks_total{", "search_click_total{",
     "release.gates.custom.click_through.query: search_click_total is neither in the platform's metric catalog "
     "nor in release.business_metrics"),
    ("models/bert-ranker.yaml", 'color="$color"}[$window]))\n          /', 'colour="$color"}[$window]))\n          /',
     "search_clicks_total has no label 'colour'"),
    ("models/bert-ranker.yaml", "  gates:\n", "  gates:\n    latency_p99: {max_factor_of_live: 1.5}\n",
     "release.gates.latency_p99.max_factor_of_live: must be at least 1.8 (got 1.5)"),
    ("stacks/Pulumi.dev.yaml", "  tfplat:release:\n", "  tfplat:release:\n    metrics_source: {kind: amp}\n",
     'config.tfplat:release.metrics_source.workspace: missing required key "workspace"\n'
     "    fix: kind amp needs workspace"),
])
def test_policy_mistakes_are_config_errors(repo: Path, rel: str, old: str, new: str, expected: str) -> None:
    _edit(repo, rel, old, new)
    for argv in (("validate", "--stack", "dev"), ("release", "bert-ranker", "3", "--stack", "dev", "--dry-run")):
        code, _, err = run(*argv)
        assert code == 2 and expected in err, err
        assert "Traceback" not in err


@pytest.mark.parametrize(("argv", "expected"), [
    (("release", "bert-ranker", "2", "--stack", "dev"), "v2 is already live in blue"),
    (("release", "bert-ranker", "--stack", "dev"), "a release needs the SavedModel version to ship"),
    (("release", "bert-ranker", "--stack", "dev", "--resume"), "no release of bert-ranker is in progress"),
    (("release", "bert-ranker", "--stack", "dev", "--abort"), "no release of bert-ranker is in progress"),
    (("release", "nope", "3", "--stack", "dev"), "model nope is not deployed in stack dev"),
    (("release", "bert-ranker", "3", "--stack", "dev", "--resume", "--abort"), "not allowed with argument"),
])
def test_refusals_change_nothing(repo: Path, argv: tuple[str, ...], expected: str) -> None:
    try:
        code, _, err = run(*argv)
    except SystemExit as exit_:  # argparse usage errors
        code, err = int(exit_.code or 0), ""
        assert code == 2
        return
    assert code == 2 and expected in err, err
    _unchanged(repo)


def test_a_release_starts_only_from_the_committed_stack_file(repo: Path) -> None:
    _edit(repo, "stacks/Pulumi.dev.yaml", "  tfplat:release:\n", "  # an uncommitted edit\n  tfplat:release:\n")
    code, _, err = run("release", "bert-ranker", "3", "--stack", "dev", "--applier", "offline", "--skip-preflight",
                       "--prometheus-url", "http://127.0.0.1:9")
    assert code == 2 and "Pulumi.dev.yaml has uncommitted changes" in err, err


def test_unreachable_metrics_stop_the_release_before_any_change(repo: Path) -> None:
    code, _, err = run("release", "bert-ranker", "3", "--stack", "dev", "--applier", "offline", "--skip-preflight",
                       "--prometheus-url", "http://127.0.0.1:9")
    assert code == 1 and "cannot read metrics before the release starts" in err and "nothing was changed" in err
    _unchanged(repo)


def test_a_stage_of_a_version_missing_from_the_bucket_is_refused(repo: Path) -> None:
    from tests.storage_servers import gcs_server

    with gcs_server() as gcs, pytest.MonkeyPatch.context() as mp:
        mp.setenv("STORAGE_EMULATOR_HOST", gcs)
        code, _, err = run("release", "bert-ranker", "3", "--stack", "dev", "--applier", "offline",
                           "--prometheus-url", "http://127.0.0.1:9")
    assert code == 2 and "preflight failed" in err, err
    _unchanged(repo)


def test_abort_of_an_interrupted_release_from_the_command_line(repo: Path) -> None:
    """A release interrupted after its stage (the marker and green v3 committed): --abort
    retires green and clears the marker, without any metrics, and reports it."""
    _edit(repo, "stacks/Pulumi.dev.yaml", "    bert-ranker:\n      blue: 2\n      live: blue\n",
          "    bert-ranker:\n      blue: 2\n      green: 3\n      live: blue\n      release_in_progress: "
          "{id: 20261207T040000Z-abcdef, version: 3, started: '2026-12-07T04:00:00Z', from: {blue: 2, live: blue}}\n")
    s.git(repo, "commit", "-qam", "release bert-ranker v3 on dev: stage v3 in green")
    code, _, err = run("release", "bert-ranker", "3", "--stack", "dev")
    assert code == 2 and "a release of bert-ranker v3 (20261207T040000Z-abcdef) is in progress" in err
    code, out, _ = run("status", "--stack", "dev")
    assert code == 0 and "release of v3 in progress" in next(ln for ln in out.splitlines() if "bert-ranker" in ln)
    code, out, err = run("release", "bert-ranker", "--stack", "dev", "--abort", "--applier", "offline",
                         "--prometheus-url", "http://127.0.0.1:9")
    assert code == 0, out + err
    assert "step retire green: blue*=v2 green=v3 -> blue*=v2 green=-" in out and "release aborted" in out
    assert s.git(repo, "show", "HEAD~2:stacks/Pulumi.dev.yaml") == \
        (repo / "stacks" / "Pulumi.dev.yaml").read_text(encoding="utf-8").rstrip("\n")
    applied = read_applied(repo / "build" / "releases" / "dev" / "applied")
    assert applied[-1]["models"]["bert-ranker"]["colors"] == {"blue": {"version": 2, "min_replicas": 1}}
    report = (repo / "build" / "releases" / "dev" / "bert-ranker" / "report.md").read_text(encoding="utf-8")
    assert "## Release bert-ranker v3 on dev: aborted" in report and "| retire green |" in report


def test_a_release_that_began_rolling_back_is_only_finished_never_resumed(repo: Path) -> None:
    _edit(repo, "stacks/Pulumi.dev.yaml", "    bert-ranker:\n      blue: 2\n      live: blue\n",
          "    bert-ranker:\n      blue: 2\n      green: 3\n      live: blue\n      canary_percent: 0\n"
          "      release_in_progress: {id: 20261207T040000Z-abcdef, version: 3, started: '2026-12-07T04:00:00Z', "
          "from: {blue: 2, live: blue}, rolling_back: 'gate failed: error_ratio 0.2 beyond limit 0.01'}\n")
    s.git(repo, "commit", "-qam", "release bert-ranker v3 on dev: canary 0%")
    code, _, err = run("release", "bert-ranker", "--stack", "dev", "--resume", "--applier", "offline")
    assert code == 2 and "was rolling back (gate failed: error_ratio 0.2 beyond limit 0.01)" in err, err
    code, out, err = run("release", "bert-ranker", "--stack", "dev", "--abort", "--applier", "offline")
    assert code == 0 and "step retire green" in out, out + err
    text = (repo / "stacks" / "Pulumi.dev.yaml").read_text(encoding="utf-8")
    assert "release_in_progress" not in text and "canary_percent" not in text.split("bert-ranker:")[1][:200]


def test_abort_works_while_the_policy_is_broken(repo: Path) -> None:
    """The way back never depends on the policy being valid."""
    _edit(repo, "stacks/Pulumi.dev.yaml", "    bert-ranker:\n      blue: 2\n      live: blue\n",
          "    bert-ranker:\n      blue: 2\n      green: 3\n      live: blue\n      release_in_progress: "
          "{id: 20261207T040000Z-abcdef, version: 3, started: '2026-12-07T04:00:00Z', from: {blue: 2, live: blue}}\n")
    _edit(repo, "stacks/Pulumi.dev.yaml", '    analysis_interval: "2m"\n', '    analysis_interval: "30s"\n')
    s.git(repo, "commit", "-qam", "a release interrupted, then a bad policy edit")
    assert run("release", "bert-ranker", "--stack", "dev", "--resume", "--applier", "offline")[0] == 2
    code, out, err = run("release", "bert-ranker", "--stack", "dev", "--abort", "--applier", "offline")
    assert code == 0 and "release aborted" in out, out + err


def test_outside_git_a_release_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import copy_config

    root = copy_config(tmp_path / "plain")
    monkeypatch.setenv("TFPLAT_ROOT", str(root))
    code, _, err = run("release", "bert-ranker", "3", "--stack", "dev", "--skip-preflight",
                       "--prometheus-url", "http://127.0.0.1:9")
    assert code == 2 and "is not a git checkout" in err, err
    assert subprocess.run(["git", "-C", str(root), "status"], capture_output=True, check=False).returncode != 0
