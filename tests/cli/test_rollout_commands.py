"""Runbook commands edit stack files in place, keep comments and order, refuse unsafe steps."""

from __future__ import annotations

from collections.abc import Iterator
import difflib
from pathlib import Path

import boto3
import pytest

from infra.cli.main import main
from infra.config.loader import load
from tests.storage_servers import gcs_put, gcs_server


def _stack(root: Path, name: str) -> Path:
    return root / "stacks" / f"Pulumi.{name}.yaml"


def test_release_cycle_edits_only_the_model_entry(repo_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _stack(repo_copy, "dev")
    original = path.read_text()
    assert main(["stage", "mobilenet", "5", "--stack", "dev", "--skip-preflight"]) == 0
    assert main(["canary", "mobilenet", "20", "--stack", "dev"]) == 0
    r = load(repo_copy, "dev").stack.models["mobilenet"]
    assert (r.blue, r.green, r.live, r.canary_percent) == (4, 5, "blue", 20)
    assert main(["switch", "mobilenet", "--stack", "dev"]) == 0
    assert main(["retire", "mobilenet", "--stack", "dev"]) == 0
    r = load(repo_copy, "dev").stack.models["mobilenet"]
    assert (r.blue, r.green, r.live, r.canary_percent) == (None, 5, "green", 0)
    text = path.read_text()
    # Comments and every other line survive; only the mobilenet entry changed.
    assert text.splitlines()[:3] == original.splitlines()[:3]
    edits = [d for d in difflib.ndiff(original.splitlines(), text.splitlines()) if d[:2] in ("+ ", "- ")]
    assert edits == ["-       blue: 4", "+       green: 5", "-       live: blue", "+       live: green",
                     "+       canary_percent: 0"]
    assert "then apply with `pulumi up -s dev`" in capsys.readouterr().out


@pytest.mark.parametrize(("argv", "fragment"), [
    (["switch", "mobilenet", "--stack", "dev"], "the idle color green has no version to switch to"),
    (["retire", "bert-ranker", "--stack", "dev"], "the idle color green runs nothing"),
    (["canary", "mobilenet", "30", "--stack", "dev"], "the idle color green has no version"),
    (["stage", "resnet50", "8", "--stack", "dev", "--skip-preflight"], "version 8 is already live in green"),
    (["retire", "mobilenet", "--stack", "staging"], "green receives 20% canary traffic"),
    (["rollback", "bert-ranker", "--stack", "prod"], "nothing to roll back to"),
    (["switch", "mobilenett", "--stack", "dev"], 'did you mean "mobilenet"?'),
    (["switch", "mobilenet", "--stack", "qa"], 'no stack named "qa"'),
])
def test_unsafe_steps_change_nothing(argv: list[str], fragment: str, repo_copy: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    before = {p: p.read_bytes() for p in (repo_copy / "stacks").iterdir()}
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert fragment in err and "nothing was changed" in err and "Traceback" not in err
    assert {p: p.read_bytes() for p in (repo_copy / "stacks").iterdir()} == before


def test_status_lists_every_model(repo_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines()]
    assert ["staging", "mobilenet", "v4", "v5", "blue", "20%", "blue", "80%", "green", "20%"] in rows
    assert ["prod-aws", "resnet50", "-", "v8", "green", "-", "green", "100%"] in rows


@pytest.fixture
def gcs(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The GCS emulator; google-cloud-storage finds it through its own STORAGE_EMULATOR_HOST."""
    with gcs_server() as endpoint:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", endpoint)
        yield endpoint


def test_stage_preflight_finds_the_saved_model(repo_copy: Path, s3: str, capsys: pytest.CaptureFixture[str]) -> None:
    client = boto3.client("s3", endpoint_url=s3, region_name="us-east-1")
    bucket = "tfplat-prod-aws-models-111122223333"
    client.create_bucket(Bucket=bucket)
    for v in (5, 7):
        client.put_object(Bucket=bucket, Key=f"vision/resnet50/{v}/saved_model.pb", Body=b"pb")
    before = _stack(repo_copy, "prod-aws").read_bytes()

    assert main(["stage", "resnet50", "9", "--stack", "prod-aws"]) == 2
    err = capsys.readouterr().err
    assert "preflight failed: version 9 is not in the model bucket" in err
    assert "s3://tfplat-prod-aws-models-111122223333/vision/resnet50/9/saved_model.pb does not exist" in err
    assert "stage one of the versions present: 5, 7" in err
    assert _stack(repo_copy, "prod-aws").read_bytes() == before

    assert main(["stage", "resnet50", "7", "--stack", "prod-aws"]) == 0
    assert "preflight: s3://tfplat-prod-aws-models-111122223333/vision/resnet50/7/saved_model.pb exists" \
        in capsys.readouterr().out
    assert load(repo_copy, "prod-aws").stack.models["resnet50"].blue == 7


def test_stage_preflight_reads_gcs_with_google_s_client(repo_copy: Path, gcs: str,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """GCP stacks: google-cloud-storage, no HMAC keys and no AWS variables involved."""
    bucket = "acme-ml-dev-dev-models"
    for v in (4, 6):
        gcs_put(gcs, bucket, f"vision/mobilenet/{v}/saved_model.pb")
    before = _stack(repo_copy, "dev").read_bytes()
    assert main(["stage", "mobilenet", "5", "--stack", "dev"]) == 2
    err = capsys.readouterr().err
    assert f"gs://{bucket}/vision/mobilenet/5/saved_model.pb does not exist" in err
    assert "stage one of the versions present: 4, 6" in err
    assert _stack(repo_copy, "dev").read_bytes() == before
    assert main(["stage", "mobilenet", "6", "--stack", "dev"]) == 0
    assert f"preflight: gs://{bucket}/vision/mobilenet/6/saved_model.pb exists" in capsys.readouterr().out


def test_stage_preflight_reports_missing_credentials(repo_copy: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN",
                "GOOGLE_APPLICATION_CREDENTIALS", "STORAGE_EMULATOR_HOST", "CLOUDSDK_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    # No gcloud config and no metadata server: application default credentials find nothing.
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(repo_copy / "no-gcloud"))
    monkeypatch.setenv("NO_GCE_CHECK", "True")
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:9")
    monkeypatch.setenv("GCE_METADATA_IP", "127.0.0.1:9")
    assert main(["stage", "resnet50", "9", "--stack", "prod-aws"]) == 2
    err = capsys.readouterr().err
    assert "preflight failed: no AWS credentials to read the model bucket" in err
    assert "AWS_PROFILE" in err and "--skip-preflight" in err
    assert main(["stage", "mobilenet", "5", "--stack", "dev"]) == 2
    err = capsys.readouterr().err
    assert "preflight failed: no Google Cloud credentials to read the model bucket" in err
    assert "gcloud auth application-default login" in err and "HMAC" not in err
