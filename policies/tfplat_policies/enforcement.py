"""Enforcement per tier, read from the same files CrossGuard reads.

`pulumi preview --policy-pack policies --policy-pack-config policies/config/<tier>.json`
and the offline plan both take a policy's level and settings from policies/config/<tier>.json,
where the tier is the stack's tfplat:environment. The file format is CrossGuard's:
{"all": <level>, "<policy id>": <level> | {"enforcementLevel": <level>, <setting>: <value>}}.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
import json
from pathlib import Path
from typing import Any, Final, Literal

from .model import Finding, Level, Policy, Resource, Settings, StackPolicy

CONFIG_DIR: Final = Path(__file__).resolve().parents[1] / "config"
TIERS: Final = ("dev", "staging", "prod")
#: The pack's level where no config file says otherwise: strict, so a forgotten
#: --policy-pack-config never turns production checks into warnings.
PACK_DEFAULT: Final = "mandatory"
LEVELS: Final = ("advisory", "mandatory", "remediate", "disabled")
ConfiguredLevel = Literal["advisory", "mandatory", "remediate", "disabled"]
STACK_ENVIRONMENT: Final = "stackEnvironment"  # injected into settings, never configured
#: Policies a stack waives in its own config, each with the written reason. Only what a
#: stack file can say on purpose: `tfplat:cluster.endpoint.public_waiver` waives
#: cluster-endpoint-private (a public API endpoint in prod). Never a tier-wide setting.
WAIVABLE: Final = {"cluster-endpoint-private": ("tfplat:cluster", ("endpoint", "public_waiver"))}
#: The size bound every config file tfplat reads has (infra/bounded_yaml.py; this package
#: imports nothing of infra, so the pack runs on its own under CrossGuard).
MAX_CONFIG_BYTES: Final = 128 * 1024


class TierConfigError(ValueError):
    pass


@dataclass(frozen=True)
class TierConfig:
    tier: str
    levels: Mapping[str, ConfiguredLevel]
    settings: Mapping[str, Mapping[str, Any]]
    default: ConfiguredLevel

    def level(self, policy_id: str) -> ConfiguredLevel:
        return self.levels.get(policy_id, self.default)

    def offline_level(self, policy_id: str) -> Level | None:
        """The level the offline plan reports at; None when the policy is disabled.

        "remediate" means CrossGuard repairs the resource itself; the offline plan cannot,
        so it reports the violation at the tier's base level to have it fixed at the source.
        """
        level = self.level(policy_id)
        if level == "remediate":
            level = self.default if self.default in ("advisory", "mandatory") else "mandatory"
        if level == "disabled":
            return None
        return "advisory" if level == "advisory" else "mandatory"

    def settings_for(self, policy: Policy) -> dict[str, Any]:
        return {**policy.defaults(), **self.settings.get(policy.id, {})}


def _level(value: Any, where: str) -> ConfiguredLevel:
    if value not in LEVELS:
        raise TierConfigError(f"{where}: enforcement level {value!r} is not one of {', '.join(LEVELS)}")
    level: ConfiguredLevel = value
    return level


def parse_tier_config(tier: str, data: Mapping[str, Any], where: str = "") -> TierConfig:
    where = where or f"tier {tier}"
    default = _level(data.get("all", PACK_DEFAULT), f"{where}: all")
    levels: dict[str, ConfiguredLevel] = {}
    settings: dict[str, dict[str, Any]] = {}
    for key, value in data.items():
        if key == "all":
            continue
        if isinstance(value, Mapping):
            if "enforcementLevel" in value:
                levels[key] = _level(value["enforcementLevel"], f"{where}: {key}")
            settings[key] = {k: v for k, v in value.items() if k != "enforcementLevel"}
        else:
            levels[key] = _level(value, f"{where}: {key}")
    return TierConfig(tier=tier, levels=levels, settings=settings, default=default)


def load_tier(environment: str, config_dir: Path = CONFIG_DIR) -> TierConfig:
    """The tier config of a stack whose tfplat:environment is `environment`."""
    if environment not in TIERS:
        raise TierConfigError(f"environment {environment!r} has no policy tier; use one of {', '.join(TIERS)} "
                              "(tfplat:environment in the stack file)")
    path = config_dir / f"{environment}.json"
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_CONFIG_BYTES + 1)
        if len(raw) > MAX_CONFIG_BYTES:
            raise TierConfigError(f"{path}: the file is larger than {MAX_CONFIG_BYTES // 1024} KiB, too large to be "
                                  "a policy config")
        data = json.loads(raw.decode("utf-8"))
    except RecursionError:  # json's parser recurses once per level of nesting
        raise TierConfigError(f"{path}: nested too deeply to be a policy config (a flat object of "
                              "policy id -> level or settings)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TierConfigError(f"{path}: cannot read the {environment} policy config: {exc}") from exc
    if not isinstance(data, Mapping):
        raise TierConfigError(f"{path}: expected a JSON object of policy id -> level")
    return parse_tier_config(environment, data, str(path))


def stack_waivers(config: Mapping[str, Any]) -> dict[str, str]:
    """{policy id: reason} a stack's config waives. `config` is the stack config as the engine
    passes it (PULUMI_CONFIG, or the stack file's values), objects as JSON strings or mappings."""
    out: dict[str, str] = {}
    for policy_id, (key, path) in WAIVABLE.items():
        value: Any = config.get(key)
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                continue
        for step in path:
            value = value.get(step) if isinstance(value, Mapping) else None
        if isinstance(value, str) and value.strip():
            out[policy_id] = value.strip()
    return out


def check_tier(resources: Sequence[Resource], settings: Settings) -> list[Finding]:
    """The config file passed to CrossGuard is the one for the stack's environment."""
    tier, environment = settings.get("tier"), settings.get(STACK_ENVIRONMENT)
    if tier is not None and tier == environment:
        return []
    return [Finding(f"the policy config is for tier {tier!r} but the stack's tfplat:environment is {environment!r}, "
                    "so the wrong enforcement levels apply",
                    f"run with --policy-pack-config policies/config/{environment or '<environment>'}.json")]


TIER_POLICY = StackPolicy(
    id="tier-config-matches-stack", severity="critical", check=check_tier, offline=False,
    description="The policy config file passed to the pack is the one for the stack's tfplat:environment.",
    remediation="Pass --policy-pack-config policies/config/<tfplat:environment>.json.",
    config_schema={"tier": {"type": "string", "enum": list(TIERS),
                            "description": "The tier this config file is for."}})
