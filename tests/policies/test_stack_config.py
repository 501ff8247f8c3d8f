"""config-secrets-encrypted: the stack file check (offline only)."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.config.checks import plaintext_secrets
from policies.tfplat_policies import check_stack_file
from tests.conftest import REPO, STACKS

SECURE_KEY = """          pagerduty_routing_key:
            secure: v1:cGxhY2Vob2xkZXI=:cmVwbGFjZSB3aXRoIHB1bHVtaSBjb25maWcgc2V0IC0tc2VjcmV0
"""
PLAIN_KEY = """          pagerduty_routing_key: R0ut1ngK3y
"""


@pytest.mark.parametrize("stack", STACKS)
def test_shipped_stack_files_keep_their_secrets_encrypted(stack: str) -> None:
    assert check_stack_file(REPO, stack) == []


def test_a_plaintext_secret_in_the_stack_file_fails_at_the_stacks_tier(repo_copy: Path) -> None:
    path = repo_copy / "stacks" / "Pulumi.prod-aws.yaml"
    text = path.read_text()
    assert SECURE_KEY in text
    path.write_text(text.replace(SECURE_KEY, PLAIN_KEY))
    [violation] = check_stack_file(repo_copy, "prod-aws")
    assert violation.policy == "config-secrets-encrypted"
    assert violation.enforcement == "mandatory"  # tfplat:environment: prod
    assert violation.name == "tfplat:monitoring.alertmanager.receivers.oncall.pagerduty_routing_key"
    key_line = text[:text.index(SECURE_KEY)].count("\n") + 1  # the line that names the key
    assert violation.urn == f"stacks/Pulumi.prod-aws.yaml:{key_line}"
    assert violation.message == ("tfplat:monitoring.alertmanager.receivers.oncall.pagerduty_routing_key is a secret "
                                 "stored in plain text in the stack file")
    assert violation.fix.endswith("pulumi config set --secret --path "
                                  "'tfplat:monitoring.alertmanager.receivers.oncall.pagerduty_routing_key' -s prod-aws")
    assert "R0ut1ngK3y" not in violation.render()
    # the same file judged as a dev stack is only advisory
    assert [v.enforcement for v in check_stack_file(repo_copy, "prod-aws", environment="dev")] == ["advisory"]


def test_a_secret_inside_an_encrypted_parent_counts_as_encrypted() -> None:
    marked = [("config", "tfplat:monitoring", "grafana", "admin_password"), ("config", "tfplat:edge", "key")]
    secure = {("config", "tfplat:monitoring")}
    assert plaintext_secrets(marked, secure) == [("config", "tfplat:edge", "key")]
