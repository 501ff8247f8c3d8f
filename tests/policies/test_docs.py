"""docs/policies.md documents every policy under its id and shows how to run each tier."""

from __future__ import annotations

import re

from policies.tfplat_policies import POLICIES, TIERS
from tests.conftest import REPO

DOC = (REPO / "docs" / "policies.md").read_text(encoding="utf-8")


def test_every_policy_has_a_section_in_registry_order() -> None:
    headings = re.findall(r"^### `([a-z0-9-]+)`$", DOC, flags=re.MULTILINE)
    assert headings == [p.id for p in POLICIES]


def test_every_tier_file_is_shown_with_the_cli() -> None:
    for tier in TIERS:
        assert f"--policy-pack policies --policy-pack-config policies/config/{tier}.json" in DOC
