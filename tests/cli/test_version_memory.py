"""`tfplat stage` checks a version's memory need against its container's limit: the SavedModel's
size on the bucket (moto's S3 server over HTTP) x the reload factor, plus runtime and warmup."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from infra.cli.main import main
from infra.config.loader import load
from infra.rules import scaling
from tests.storage_servers import gcs_put, gcs_server

BUCKET = "tfplat-prod-aws-models-111122223333"
MIB = 2**20


def _upload(endpoint: str, version: int, variables_mib: int) -> None:
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    if BUCKET not in [b["Name"] for b in client.list_buckets()["Buckets"]]:
        client.create_bucket(Bucket=BUCKET)
    folder = f"vision/mobilenet/{version}"
    client.put_object(Bucket=BUCKET, Key=f"{folder}/saved_model.pb", Body=b"\0" * MIB)
    client.put_object(Bucket=BUCKET, Key=f"{folder}/variables/variables.data-00000-of-00001",
                      Body=b"\0" * (variables_mib * MIB))


def _small_pods(root: Path) -> None:
    """mobilenet with a 600 MiB limit (no headroom): a version over 43 MiB cannot load in it."""
    path = root / "models" / "mobilenet.yaml"
    small = "    memory: 600Mi\n    memory_headroom_percent: 0\n"
    path.write_text(path.read_text().replace("    memory: 1Gi\n", small))


def test_a_version_too_large_for_its_limit_is_refused(repo_copy: Path, s3: str,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    _small_pods(repo_copy)
    _upload(s3, 6, 60)  # 61 MiB: 2 x 61 + 512 = 634 MiB > 600
    stack = repo_copy / "stacks" / "Pulumi.prod-aws.yaml"
    before = stack.read_bytes()
    assert main(["stage", "mobilenet", "6", "--stack", "prod-aws"]) == 2
    err = capsys.readouterr().err
    assert "models/mobilenet.yaml" in err and "serving.resources.memory" in err
    assert "v6 cannot load within its memory limit: TF Serving needs 0.62 GiB while it loads (2 x the 0.06 GiB " \
           "SavedModel + 512 MiB runtime and warmup), the container's limit is 0.59 GiB (600Mi + 0% headroom)" in err
    need = scaling.version_memory(61 * MIB, 600 * MIB).need_bytes
    assert f"raise serving.resources.memory to {-(-need // MIB)}Mi, or memory_headroom_percent to 6" in err
    assert stack.read_bytes() == before, "a refusal changes nothing"


def test_a_version_that_fits_is_staged(repo_copy: Path, s3: str, capsys: pytest.CaptureFixture[str]) -> None:
    _small_pods(repo_copy)
    _upload(s3, 6, 30)  # 31 MiB: 574 MiB <= 600
    assert main(["stage", "mobilenet", "6", "--stack", "prod-aws"]) == 0
    out = capsys.readouterr().out
    assert "preflight: v6 is 0.03 GiB; loading it needs 0.56 GiB of the 0.59 GiB limit" in out
    rollout = load(repo_copy, "prod-aws").stack.models["mobilenet"]
    assert 6 in (rollout.blue, rollout.green)


def test_gcs_versions_are_measured_the_same_way(repo_copy: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """GCP stacks: google-cloud-storage lists the version folder on the GCS emulator."""
    _small_pods(repo_copy)
    with gcs_server() as endpoint:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", endpoint)
        bucket = "acme-ml-dev-dev-models"
        gcs_put(endpoint, bucket, "vision/mobilenet/6/saved_model.pb", b"\0" * MIB)
        gcs_put(endpoint, bucket, "vision/mobilenet/6/variables/variables.data-00000-of-00001", b"\0" * (60 * MIB))
        assert main(["stage", "mobilenet", "6", "--stack", "dev"]) == 2
    assert "v6 cannot load within its memory limit: TF Serving needs 0.62 GiB" in capsys.readouterr().err


def test_the_rule() -> None:
    need = scaling.version_memory(3 * 2**30, 12 * 2**30)
    assert need.need_bytes == 6 * 2**30 + 512 * MIB and need.fits
    assert not scaling.version_memory(6 * 2**30, 12 * 2**30).fits
    assert scaling.memory_to_fit(13 * 2**30, 50) == -(-13 * 2**30 // 1.5 // MIB) * MIB
    assert scaling.headroom_to_fit(12 * 2**30, 8 * 2**30) == 50
