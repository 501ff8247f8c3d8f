"""The CrossGuard adapter: tfplat's pure policies as pulumi_policy policies.

The only module that imports pulumi_policy. It converts what the SDK hands a policy into
the plain data the checks take: proxies into dicts and lists, the SDK's unknown sentinels
into UNKNOWN, `pulumi_policy.Secret` into SECRET, PolicyResource links into URNs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
import json
import os
from typing import Any, cast

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Secret,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy import proxy as sdk_proxy
from pulumi_policy.policy import ResourceRemediation

from . import model
from .enforcement import PACK_DEFAULT, STACK_ENVIRONMENT, stack_waivers
from .registry import POLICIES
from .secrets import rewrap

PACK_NAME = "tfplat"
PACK_DEFAULT_LEVEL = EnforcementLevel(PACK_DEFAULT)
_UNKNOWNS = frozenset({sdk_proxy.UNKNOWN_BOOLEAN_VALUE, sdk_proxy.UNKNOWN_NUMBER_VALUE, sdk_proxy.UNKNOWN_STRING_VALUE,
                       sdk_proxy.UNKNOWN_ARRAY_VALUE, sdk_proxy.UNKNOWN_ASSET_VALUE, sdk_proxy.UNKNOWN_ARCHIVE_VALUE,
                       sdk_proxy.UNKNOWN_OBJECT_VALUE})


def raw(value: Any) -> Any:
    """The data behind the SDK's proxies (which raise on unknowns or unwrap secrets on access),
    as plain dicts and lists, keeping Secret objects and unknown sentinels as they are."""
    target: Any = value
    if isinstance(value, (Mapping, Sequence)) and not isinstance(value, (dict, list, str)):
        target = target["__target"]  # the SDK's proxies hand out what they wrap under this key
    if isinstance(target, Secret):
        return Secret(raw(target.value))
    if isinstance(target, Mapping):
        return {str(k): raw(v) for k, v in target.items()}
    if isinstance(target, Sequence) and not isinstance(target, str):
        return [raw(v) for v in target]
    return target


def plain(value: Any) -> Any:
    """What a check sees: SECRET for a secret, UNKNOWN for a value a preview cannot know,
    whole numbers as int (the wire's Struct carries every number as a double)."""
    value = raw(value)
    if isinstance(value, Secret):
        return model.SECRET
    if isinstance(value, str) and value in _UNKNOWNS:
        return model.UNKNOWN
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def to_resource(r: PolicyResource) -> model.Resource:
    return model.Resource(
        urn=r.urn, type=r.resource_type, name=r.name, props=plain(r.props), parent=r.parent.urn if r.parent else None,
        dependencies=tuple(d.urn for d in r.dependencies),
        property_dependencies={k: tuple(d.urn for d in v) for k, v in r.property_dependencies.items()})


def stack_config() -> dict[str, Any]:
    """The stack's config: the engine passes a pack the stack config in PULUMI_CONFIG."""
    try:
        config = json.loads(os.environ.get("PULUMI_CONFIG") or "{}")
    except json.JSONDecodeError:
        return {}
    return config if isinstance(config, dict) else {}


def stack_environment() -> str | None:
    """The stack's tfplat:environment."""
    value = stack_config().get("tfplat:environment")
    return value if isinstance(value, str) else None


def waived(policy: model.Policy) -> bool:
    """The stack's config waives the policy with a written reason (the offline plan lists
    the waived findings; CrossGuard has no level below advisory, so it reports none)."""
    return policy.id in stack_waivers(stack_config())


def _message(finding: model.Finding) -> str:
    return f"{finding.message}.\nFix: {finding.fix}."


def _common(policy: model.Policy) -> dict[str, Any]:
    schema = PolicyConfigSchema(properties={k: dict(v) for k, v in policy.config_schema.items()}) \
        if policy.config_schema else None
    return {"name": policy.id, "description": policy.description, "config_schema": schema,
            "severity": Severity(policy.severity), "remediation_steps": policy.remediation, "tags": ["tfplat"]}


def resource_policy(policy: model.ResourcePolicy) -> ResourceValidationPolicy:
    repair = policy.wrap_in_crossguard
    if repair is not None:
        # Validations receive properties with secret markers stripped (the SDK deserializes
        # them without Secret wrappers), so this rule can only be seen, and fixed, here.
        def remediate(args: ResourceValidationArgs) -> Mapping[str, Any] | None:
            props = raw(args.props)
            paths = repair(args.resource_type, plain(props))
            fixed: Mapping[str, Any] | None = rewrap(props, paths, Secret) if paths else None
            return fixed

        # The SDK annotates remediations as async only; it runs plain functions alike.
        return ResourceValidationPolicy(remediate=cast("ResourceRemediation", remediate), **_common(policy))

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        settings = {**policy.defaults(), **args.get_config()}
        props = plain(args.props)
        if model.exemption(policy.id, props) is not None or waived(policy):
            return
        for finding in policy.check(args.resource_type, props, settings):
            report_violation(_message(finding), None)

    return ResourceValidationPolicy(validate=validate, **_common(policy))


def stack_policy(policy: model.StackPolicy) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        if waived(policy):
            return
        settings = {**policy.defaults(), **args.get_config(), STACK_ENVIRONMENT: stack_environment()}
        for finding in policy.check([to_resource(r) for r in args.resources], settings):
            if finding.resource is not None and model.exemption(policy.id, finding.resource.props) is not None:
                continue
            report_violation(_message(finding), finding.resource.urn if finding.resource else None)

    return StackValidationPolicy(validate=validate, **_common(policy))


def build_policies() -> list[Policy]:
    """Every policy CrossGuard can evaluate, in registry order."""
    out: list[Policy] = []
    for policy in POLICIES:
        if not policy.crossguard:
            continue
        if isinstance(policy, model.ResourcePolicy):
            out.append(resource_policy(policy))
        elif isinstance(policy, model.StackPolicy):
            out.append(stack_policy(policy))
    return out
