"""tfplat:edge.signing.kms_key: a key in AWS KMS or Cloud KMS signs instead of a private key secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.cli.main import main
from infra.offline.plan import run_offline
from tests.config.corpus import apply_case

ARN = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
VERSION = "projects/acme-ml-dev/locations/us-central1/keyRings/edge/cryptoKeys/signing/cryptoKeyVersions/3"


def _sign_with_kms(root: Path, stack: str, kms_key: str) -> None:
    apply_case(root, {"edits": [{"file": f"stacks/Pulumi.{stack}.yaml",
                                 "set": {"config.tfplat:edge.signing.kms_key": kms_key},
                                 "delete": ["config.tfplat:edge.signing.private_key"]}]})


@pytest.mark.parametrize(("stack", "key"), [("dev", VERSION), ("prod-aws", ARN), ("dev", ARN)])
def test_a_kms_key_instead_of_a_private_key_plans_and_is_exported(repo_copy: Path, stack: str, key: str) -> None:
    _sign_with_kms(repo_copy, stack, key)
    plan, result = run_offline(repo_copy, stack)
    assert plan.edge is not None and plan.edge.kms_key == key
    edge = result.outputs["edge"]
    assert edge["kmsKey"] == key and edge["keyId"] == plan.stack.edge.key_id


def test_stacks_without_a_kms_key_export_none(repo_copy: Path) -> None:
    _, result = run_offline(repo_copy, "dev")
    assert result.outputs["edge"]["kmsKey"] is None


@pytest.mark.parametrize("bad", ["alias/edge-signing",  # no region: the publisher could not tell where to call
                                 "arn:aws:kms:eu-west-1:1111:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                                 "arn:aws:s3:::acme-edge",
                                 VERSION.rsplit("/cryptoKeyVersions/", 1)[0]])  # signing needs a key version
def test_a_kms_key_that_is_not_a_kms_key_arn_is_a_config_error(repo_copy: Path, bad: str,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    _sign_with_kms(repo_copy, "prod-aws", bad)
    assert main(["validate", "--stack", "prod-aws"]) == 2
    err = capsys.readouterr().err
    assert "stacks/Pulumi.prod-aws.yaml:" in err
    assert "config.tfplat:edge.signing.kms_key: neither an AWS KMS key ARN nor a Cloud KMS key version" in err
    assert f'(got "{bad}")' in err and "fix: AWS: the ARN of a key" in err and "Traceback" not in err
