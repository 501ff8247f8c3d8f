"""Cluster rules: the versions a stack may ask for, and the zones pools default to."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from infra.config.loader import load
from infra.offline.validate import available_versions
from infra.rules.cluster import SUPPORTED_KUBERNETES_VERSIONS, default_zones

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("version", SUPPORTED_KUBERNETES_VERSIONS)
def test_every_supported_version_can_be_validated_offline(version: str) -> None:
    # The offline plan validates built-in objects against this version's OpenAPI schemas.
    assert version in available_versions()


def test_default_zones_are_the_stacks_own_else_the_regions_first_three() -> None:
    dev, prod, aws = (load(REPO, s).stack for s in ("dev", "prod", "prod-aws"))
    assert default_zones(dev) == ("us-central1-a",)  # tfplat:gcp.zones
    assert default_zones(prod) == ("us-central1-a", "us-central1-b", "us-central1-c")
    assert aws.aws is not None
    assert default_zones(aws) == ("us-east-1a", "us-east-1b", "us-east-1c")  # tfplat:aws.availability_zones
    bare = replace(aws, aws=replace(aws.aws, availability_zones=()))
    assert default_zones(bare) == ("us-east-1a", "us-east-1b", "us-east-1c")  # AWS zone names: no dash
