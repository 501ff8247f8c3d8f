"""Tier configs: CrossGuard's file format, one file per tfplat:environment, read the same way offline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from policies.tfplat_policies import BY_ID, POLICIES, TIERS, TierConfigError, load_tier
from policies.tfplat_policies.enforcement import CONFIG_DIR, STACK_ENVIRONMENT, check_tier, parse_tier_config


def test_there_is_one_config_file_per_tier_naming_only_known_policies() -> None:
    assert sorted(p.stem for p in CONFIG_DIR.glob("*.json")) == sorted(TIERS)
    for tier in TIERS:
        data = json.loads((CONFIG_DIR / f"{tier}.json").read_text())
        assert set(data) - {"all"} <= set(BY_ID), tier


def test_prod_is_mandatory_and_dev_and_staging_are_advisory() -> None:
    offline = [p for p in POLICIES if p.offline]
    for policy in offline:
        if policy.id == "fleet-min-replicas":  # a production rule: off below prod
            assert load_tier("dev").offline_level(policy.id) is None
            assert load_tier("staging").offline_level(policy.id) is None
        else:
            assert load_tier("dev").offline_level(policy.id) == "advisory", policy.id
            assert load_tier("staging").offline_level(policy.id) == "advisory", policy.id
        assert load_tier("prod").offline_level(policy.id) == "mandatory", policy.id


def test_every_tier_names_itself_for_the_crossguard_tier_check() -> None:
    for tier in TIERS:
        config = load_tier(tier)
        assert config.level("tier-config-matches-stack") == "mandatory"
        assert config.settings["tier-config-matches-stack"]["tier"] == tier


def test_settings_merge_schema_defaults_with_the_file() -> None:
    policy = BY_ID["fleet-min-replicas"]
    assert load_tier("prod").settings_for(policy) == {"minReplicas": 2}
    custom = parse_tier_config("prod", {"fleet-min-replicas": {"enforcementLevel": "advisory", "minReplicas": 3}})
    assert custom.settings_for(policy) == {"minReplicas": 3}
    assert custom.level("fleet-min-replicas") == "advisory"
    assert custom.level("bucket-private") == "mandatory"  # the pack default without "all"


def test_remediate_is_reported_offline_at_the_tier_base_level() -> None:
    config = parse_tier_config("dev", {"all": "advisory", "secret-values-wrapped": "remediate"})
    assert config.offline_level("secret-values-wrapped") == "advisory"
    config = parse_tier_config("prod", {"all": "mandatory", "secret-values-wrapped": "remediate"})
    assert config.offline_level("secret-values-wrapped") == "mandatory"


def test_bad_configs_are_refused_with_the_place() -> None:
    with pytest.raises(TierConfigError, match=r"tier x: bucket-private: enforcement level 'strict' is not one of"):
        parse_tier_config("x", {"bucket-private": "strict"})
    with pytest.raises(TierConfigError, match="environment 'qa' has no policy tier; use one of dev, staging, prod"):
        load_tier("qa")


def test_an_unreadable_config_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / "dev.json").write_text("{not json")
    with pytest.raises(TierConfigError, match="cannot read the dev policy config"):
        load_tier("dev", tmp_path)


def test_the_tier_check() -> None:
    assert check_tier([], {"tier": "prod", STACK_ENVIRONMENT: "prod"}) == []
    [finding] = check_tier([], {"tier": "dev", STACK_ENVIRONMENT: "prod"})
    assert finding.message == ("the policy config is for tier 'dev' but the stack's tfplat:environment is 'prod', so "
                               "the wrong enforcement levels apply")
    assert finding.fix == "run with --policy-pack-config policies/config/prod.json"
    assert len(check_tier([], {STACK_ENVIRONMENT: "prod"})) == 1  # no config file at all
