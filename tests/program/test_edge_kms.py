"""tfplat:edge.signing.kms_key: an AWS KMS key ARN signs instead of a private key secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.cli.main import main
from infra.offline.plan import run_offline
from tests.config.corpus import apply_case

ARN = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def _sign_with_kms(root: Path, stack: str, kms_key: str) -> None:
    apply_case(root, {"edits": [{"file": f"stacks/Pulumi.{stack}.yaml",
                                 "set": {"config.tfplat:edge.signing.kms_key": kms_key},
                                 "delete": ["config.tfplat:edge.signing.private_key"]}]})


@pytest.mark.parametrize("stack", ["dev", "prod-aws"])
def test_a_kms_key_instead_of_a_private_key_plans_and_is_exported(repo_copy: Path, stack: str) -> None:
    _sign_with_kms(repo_copy, stack, ARN)
    plan, result = run_offline(repo_copy, stack)
    assert plan.edge is not None and plan.edge.kms_key == ARN
    edge = result.outputs["edge"]
    assert edge["kmsKey"] == ARN and edge["keyId"] == plan.stack.edge.key_id


def test_stacks_without_a_kms_key_export_none(repo_copy: Path) -> None:
    _, result = run_offline(repo_copy, "dev")
    assert result.outputs["edge"]["kmsKey"] is None


@pytest.mark.parametrize("bad", ["alias/edge-signing",  # no region: the publisher could not tell where to call
                                 "arn:aws:kms:eu-west-1:1111:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                                 "arn:aws:s3:::acme-edge"])
def test_a_kms_key_that_is_not_a_kms_key_arn_is_a_config_error(repo_copy: Path, bad: str,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    _sign_with_kms(repo_copy, "prod-aws", bad)
    assert main(["validate", "--stack", "prod-aws"]) == 2
    err = capsys.readouterr().err
    assert "stacks/Pulumi.prod-aws.yaml:" in err and "config.tfplat:edge.signing.kms_key: not an AWS KMS key ARN" in err
    assert f'(got "{bad}")' in err and "fix: use the ARN of an AWS KMS key" in err and "Traceback" not in err
