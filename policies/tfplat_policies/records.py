"""Run the policies over an offline plan: the lead's entry point is check_records."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .enforcement import STACK_ENVIRONMENT, TierConfig, load_tier
from .model import Resource, ResourcePolicy, StackPolicy, Violation, exemption
from .registry import POLICIES


def resource_from_record(record: Mapping[str, Any]) -> Resource:
    """A build/<stack>/resources.json "resources" entry (or Record fields) -> Resource."""
    depends = record.get("dependsOn", record.get("depends_on")) or ()
    return Resource(urn=str(record["urn"]), type=str(record["type"]), name=str(record["name"]),
                    props=record.get("inputs") or {}, options=record.get("options") or {},
                    parent=record.get("parent"), dependencies=tuple(str(d) for d in depends))


def check_resources(resources: Sequence[Resource], tier: TierConfig) -> list[Violation]:
    """Every offline policy over `resources` at `tier`: mandatory first, then by policy and URN."""
    out: list[Violation] = []
    for policy in POLICIES:
        level = tier.offline_level(policy.id)
        if not policy.offline or level is None:
            continue
        settings = {**tier.settings_for(policy), STACK_ENVIRONMENT: tier.tier}
        if isinstance(policy, ResourcePolicy):
            for r in resources:
                out += [Violation(policy=policy.id, enforcement=level, urn=r.urn, name=r.name, type=r.type,
                                  message=f.message, fix=f.fix)
                        for f in policy.check(r.type, r.props, settings) if exemption(policy.id, r.props) is None]
        elif isinstance(policy, StackPolicy):
            for f in policy.check(resources, settings):
                at = f.resource
                out.append(Violation(policy=policy.id, enforcement=level, urn=at.urn if at else "",
                                     name=at.name if at else "", type=at.type if at else "pulumi:pulumi:Stack",
                                     message=f.message, fix=f.fix))
    return sorted(out, key=lambda v: (v.enforcement != "mandatory", v.policy, v.urn, v.message))


def exemptions(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """Every per-object policy waiver in the plan, for the plan's notes (never silent)."""
    out = []
    for r in map(resource_from_record, records):
        for policy in POLICIES:
            reason = exemption(policy.id, r.props)
            if reason:
                out.append(f"{r.type} {r.name!r} is exempt from {policy.id}: {reason}")
    return sorted(out)


def check_records(records: Sequence[Mapping[str, Any]], *, environment: str) -> list[Violation]:
    """Violations of the stack's registered resources at the tier of `environment`
    (tfplat:environment: dev, staging or prod); raises TierConfigError for another."""
    return check_resources([resource_from_record(r) for r in records], load_tier(environment))
