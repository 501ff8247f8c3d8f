"""Cluster rules: the versions a stack may ask for, and the zones pools default to."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from infra.config.loader import load
from infra.engines.schema import available_versions
from infra.rules.cluster import SUPPORTED_KUBERNETES_VERSIONS, default_zones, zone_in_region

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


@pytest.mark.parametrize(("cloud", "region", "zone", "ok"), [
    ("gcp", "us-central1", "us-central1-a", True),
    ("gcp", "us-central1", "us-central1a", False),
    ("gcp", "us-central1", "us-east1-b", False),
    ("aws", "us-east-1", "us-east-1a", True),
    ("aws", "us-east-1", "us-east-1-bos-1a", True),  # a Local Zone
    ("aws", "us-east-1", "us-east-1-a", False),
    ("aws", "us-east-1", "us-west-2a", False),
    ("aws", "eu-west-1", "eu-west-1", False),
])
def test_zone_in_region_follows_each_clouds_naming(cloud: str, region: str, zone: str, ok: bool) -> None:
    assert zone_in_region(cloud, region, zone) is ok


def test_an_aws_pool_may_name_its_own_zones(repo_copy: Path) -> None:
    path = repo_copy / "stacks" / "Pulumi.prod-aws.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("      machine_type: c6i.2xlarge\n",
                                 "      machine_type: c6i.2xlarge\n      zones: [us-east-1a, us-east-1b]\n"),
                    encoding="utf-8")
    pool = load(repo_copy, "prod-aws").stack.node_pools["cpu"]
    assert pool.zones == ("us-east-1a", "us-east-1b")
