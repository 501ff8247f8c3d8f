"""tfplat:edge.signing.<role>.kms_key: a key in AWS KMS or Cloud KMS signs instead of a private key secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.cli.main import main
from infra.config.loader import load
from infra.offline.plan import run_offline
from tests.config.corpus import apply_case

ARN = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
VERSION = "projects/acme-ml-dev/locations/us-central1/keyRings/edge/cryptoKeys/signing/cryptoKeyVersions/3"


P256 = ("MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEpDRq1eQwwzGSeIvHhZSD5DoaX29ZMw+SQfRh5c+M8d9y+8lNO1ey8ix7Pvkk"
        "Xs2H1ORfkPrHE6PzM+eala78cw==")


def _sign_with_kms(root: Path, stack: str, kms_key: str, role: str = "online") -> None:
    signing = load(root, stack).stack.edge
    has_secret = (signing.targets if role == "targets" else signing.online).private_key is not None
    apply_case(root, {"edits": [{"file": f"stacks/Pulumi.{stack}.yaml",
                                 "set": {f"config.tfplat:edge.signing.{role}.kms_key": kms_key,
                                         f"config.tfplat:edge.signing.{role}.public_key": P256},
                                 "delete": [f"config.tfplat:edge.signing.{role}.private_key"] if has_secret else []}]})


@pytest.mark.parametrize(("stack", "key", "role"), [("dev", VERSION, "online"), ("prod-aws", ARN, "targets"),
                                                    ("dev", ARN, "targets")])
def test_a_kms_key_instead_of_a_private_key_plans_and_is_exported(repo_copy: Path, stack: str, key: str,
                                                                  role: str) -> None:
    _sign_with_kms(repo_copy, stack, key, role)
    plan, result = run_offline(repo_copy, stack)
    assert plan.edge is not None
    assert (plan.edge.targets_key if role == "targets" else plan.edge.online_key).kms_key == key
    assert result.outputs["edge"]["signing"][role] == {"publicKey": P256, "kmsKey": key}


def test_stacks_without_a_kms_key_export_none(repo_copy: Path) -> None:
    _, result = run_offline(repo_copy, "dev")
    assert result.outputs["edge"]["signing"]["online"]["kmsKey"] is None


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
    assert "config.tfplat:edge.signing.online.kms_key: neither an AWS KMS key ARN nor a Cloud KMS key version" in err
    assert f'(got "{bad}")' in err and "fix: AWS: the ARN of a key" in err and "Traceback" not in err
