"""Run the policies over an offline plan: the lead's entry point is check_records."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .enforcement import STACK_ENVIRONMENT, TierConfig, load_tier
from .model import Finding, Policy, Resource, ResourcePolicy, Settings, StackPolicy, Violation, exemption
from .registry import POLICIES


def resource_from_record(record: Mapping[str, Any]) -> Resource:
    """A build/<stack>/resources.json "resources" entry (or Record fields) -> Resource."""
    depends = record.get("dependsOn", record.get("depends_on")) or ()
    return Resource(urn=str(record["urn"]), type=str(record["type"]), name=str(record["name"]),
                    props=record.get("inputs") or {}, options=record.get("options") or {},
                    parent=record.get("parent"), dependencies=tuple(str(d) for d in depends))


def findings(policy: Policy, resources: Sequence[Resource], settings: Settings, *,
             exempt: bool = True) -> list[tuple[Resource | None, Finding]]:
    """What one policy finds over `resources`, with the resource at fault; with `exempt`,
    without what objects exempt themselves from (their tfplat.dev/policy-exemptions)."""
    found: list[tuple[Resource | None, Finding]] = []
    if isinstance(policy, ResourcePolicy):
        found = [(r, f) for r in resources for f in policy.check(r.type, r.props, settings)]
    elif isinstance(policy, StackPolicy):
        found = [(f.resource, f) for f in policy.check(resources, settings)]
    return [(r, f) for r, f in found if not exempt or r is None or exemption(policy.id, r.props) is None]


def check_resources(resources: Sequence[Resource], tier: TierConfig,
                    waivers: Mapping[str, str] | None = None) -> list[Violation]:
    """Every offline policy over `resources` at `tier`: mandatory first, then by policy and URN.

    A policy the stack waives (`waivers`, infra: enforcement.stack_waivers) still reports
    every finding, as advisory and with the waiver's reason, so a waiver is never silent."""
    out: list[Violation] = []
    for policy in POLICIES:
        level = tier.offline_level(policy.id)
        if not policy.offline or level is None:
            continue
        settings = {**tier.settings_for(policy), STACK_ENVIRONMENT: tier.tier}
        waived = (waivers or {}).get(policy.id)
        for at, f in findings(policy, resources, settings):
            message = f.message if waived is None else f"waived by the stack ({waived}): {f.message}"
            out.append(Violation(policy=policy.id, enforcement="advisory" if waived else level,
                                 urn=at.urn if at else "", name=at.name if at else "",
                                 type=at.type if at else "pulumi:pulumi:Stack", message=message, fix=f.fix))
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


def check_records(records: Sequence[Mapping[str, Any]], *, environment: str,
                  waivers: Mapping[str, str] | None = None) -> list[Violation]:
    """Violations of the stack's registered resources at the tier of `environment`
    (tfplat:environment: dev, staging or prod); raises TierConfigError for another.
    `waivers`: what the stack's config waives (enforcement.stack_waivers)."""
    return check_resources([resource_from_record(r) for r in records], load_tier(environment), waivers)
