"""The real applier: `pulumi up` through pulumi.automation, with the policy pack.

Here (no Pulumi CLI): a release with --applier pulumi stops before any change and says why.
Opt-in (marker cloud, TFPLAT_CLOUD_TESTS=1, the Pulumi CLI logged in to the state backend,
cloud credentials, PULUMI_CONFIG_PASSPHRASE): TFPLAT_TEST_STACK names a deployed stack of
this checkout; the applier brings it to its committed stack file (an up with nothing to
change on a deployed stack). With TFPLAT_TEST_RELEASE_VERSION and TFPLAT_TEST_PROMETHEUS_URL
as well, a whole release of TFPLAT_TEST_MODEL runs against that stack (in a scratch clone).
"""

from __future__ import annotations

import os
from pathlib import Path
import shutil
import subprocess

import pytest

from infra.release.appliers import PulumiApplier
from tests.conftest import REPO
from tests.release.test_cli_release import run

CLOUD = os.environ.get("TFPLAT_CLOUD_TESTS") == "1" and shutil.which("pulumi") is not None


def test_without_the_pulumi_cli_a_release_stops_before_any_change(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.release import scenarios as s

    root = s.release_repo(tmp_path / "repo", {})
    (root / "policies").mkdir()
    (root / "policies" / "PulumiPolicy.yaml").write_text("runtime: python\n")
    monkeypatch.setenv("TFPLAT_ROOT", str(root))
    bin_dir = tmp_path / "bin"  # git, and no pulumi
    bin_dir.mkdir()
    git = shutil.which("git")
    assert git is not None
    (bin_dir / "git").symlink_to(git)
    monkeypatch.setenv("PATH", str(bin_dir))
    assert PulumiApplier().problem(root, "dev") is not None
    code, _, err = run("release", "bert-ranker", "3", "--stack", "dev", "--skip-preflight",
                       "--prometheus-url", "http://127.0.0.1:9")
    assert code == 1 and "the Pulumi CLI is not installed" in err and "nothing was changed" in err
    monkeypatch.undo()
    assert s.git(root, "log", "--oneline").count("\n") == 0


@pytest.mark.cloud
@pytest.mark.skipif(not (CLOUD and os.environ.get("TFPLAT_TEST_STACK")),
                    reason="opt-in: TFPLAT_CLOUD_TESTS=1, the Pulumi CLI, TFPLAT_TEST_STACK (a deployed stack)")
def test_pulumi_up_of_the_committed_stack_file() -> None:
    stack = os.environ["TFPLAT_TEST_STACK"]
    applier = PulumiApplier(on_output=print)
    assert applier.problem(REPO, stack) is None
    from infra.config.loader import load

    summary = applier.apply(REPO, stack, load(REPO, stack).stack.environment, "tfplat test: pulumi up, no change")
    assert summary.startswith(f"pulumi up -s {stack}: succeeded"), summary


@pytest.mark.cloud
@pytest.mark.skipif(not (CLOUD and all(os.environ.get(k) for k in (
        "TFPLAT_TEST_STACK", "TFPLAT_TEST_MODEL", "TFPLAT_TEST_RELEASE_VERSION", "TFPLAT_TEST_PROMETHEUS_URL"))),
                    reason="opt-in: TFPLAT_CLOUD_TESTS=1, the Pulumi CLI, TFPLAT_TEST_STACK, TFPLAT_TEST_MODEL, "
                           "TFPLAT_TEST_RELEASE_VERSION, TFPLAT_TEST_PROMETHEUS_URL")
def test_a_whole_release_on_a_real_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clone = tmp_path / "checkout"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    monkeypatch.setenv("TFPLAT_ROOT", str(clone))
    code, out, err = run("release", os.environ["TFPLAT_TEST_MODEL"], os.environ["TFPLAT_TEST_RELEASE_VERSION"],
                         "--stack", os.environ["TFPLAT_TEST_STACK"], "--applier", "pulumi",
                         "--prometheus-url", os.environ["TFPLAT_TEST_PROMETHEUS_URL"])
    assert code == 0, out + err
