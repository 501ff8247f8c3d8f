"""The data every check shares: resources, findings, violations and the policy types.

Checks see plain data only: a resource's type and its properties as the engine sends them
(wire names, camelCase), with two stand-ins for what a preview cannot show in clear text:
`UNKNOWN` for a value computed later (an ID, another resource's output) and `SECRET` for a
value wrapped as a Pulumi secret. Nothing here imports Pulumi, so the offline plan, the
tests and the CrossGuard pack all run the same functions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

Props = Mapping[str, Any]
Settings = Mapping[str, Any]  # a policy's configuration properties (from the tier file)
Level = Literal["mandatory", "advisory"]


class _Unknown:
    """A value a preview cannot know yet (rendered `<unknown>`); checks never fail on it."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN: Final = _Unknown()
#: What a secret-wrapped value looks like to a check (the offline plan masks secrets so).
SECRET: Final = "[secret]"


def is_unknown(value: Any) -> bool:
    return value is UNKNOWN


def dig(obj: Any, *path: str | int) -> Any:
    """obj[p0][p1]...; None where a step is missing or not a container, UNKNOWN if unknown."""
    for step in path:
        if obj is UNKNOWN:
            return UNKNOWN
        if isinstance(step, str) and isinstance(obj, Mapping):
            obj = obj.get(step)
        elif isinstance(step, int) and isinstance(obj, Sequence) and not isinstance(obj, str) \
                and -len(obj) <= step < len(obj):
            obj = obj[step]
        else:
            return None
    return obj


def as_map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, Sequence) and not isinstance(value, str) else []


def labels(props: Props) -> Mapping[str, Any]:
    """metadata.labels of a Kubernetes object ({} when absent or unknown)."""
    return as_map(dig(props, "metadata", "labels"))


def namespace(props: Props) -> str:
    ns = dig(props, "metadata", "namespace")
    return ns if isinstance(ns, str) and ns else "default"


def object_name(props: Props) -> str:
    name = dig(props, "metadata", "name")
    return name if isinstance(name, str) else "?"


@dataclass(frozen=True, kw_only=True)
class Resource:
    """One registered resource; `dependencies` and `property_dependencies` hold URNs."""

    urn: str
    type: str
    name: str
    props: Props
    options: Mapping[str, Any] = field(default_factory=dict)
    parent: str | None = None
    dependencies: tuple[str, ...] = ()
    property_dependencies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def depends_on(self, other: Resource, prop: str | None = None) -> bool:
        """Whether this resource takes an input from `other` (through `prop` when the engine
        says which property; otherwise through any)."""
        if prop is not None and prop in self.property_dependencies:
            return other.urn in self.property_dependencies[prop]
        return other.urn in self.dependencies


@dataclass(frozen=True)
class Finding:
    """One broken rule: what is wrong and how to fix it in tfplat terms. Stack checks name
    the offending resource; resource checks leave it to the caller, who knows it."""

    message: str
    fix: str
    resource: Resource | None = None
    #: The CIS items this finding breaks, when its policy covers several (empty: all of them).
    cis: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Violation:
    """A finding with its policy, its enforcement at the stack's tier, and its resource."""

    policy: str
    enforcement: Level
    urn: str
    name: str
    type: str
    message: str
    fix: str

    def render(self) -> str:
        return f"[{self.enforcement}] {self.policy}: {self.type} {self.name!r}: {self.message}\n    fix: {self.fix}"


PropertyPath = tuple[str | int, ...]
ResourceCheck = Callable[[str, Props, Settings], list[Finding]]
PathFinder = Callable[[str, Props], list[PropertyPath]]
StackCheck = Callable[[Sequence[Resource], Settings], list[Finding]]


@dataclass(frozen=True, kw_only=True)
class Policy:
    """Metadata shared by both kinds; `config_schema` is JSON Schema per setting (defaults
    included), exactly what CrossGuard's PolicyConfigSchema takes."""

    id: str
    description: str
    remediation: str
    severity: Literal["low", "medium", "high", "critical"]
    config_schema: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: Runs in the CrossGuard pack / in the offline plan. A policy only one of them can
    #: evaluate says so here, and docs/policies.md says why.
    crossguard: bool = True
    offline: bool = True
    #: The CIS GKE 1.9.0 / EKS 1.8.0 items (as kube-bench numbers them) the policy decides,
    #: e.g. ("GKE 5.5.5", "EKS 4.3.1"); docs/policies.md maps them, policies/tfplat_policies/cis.py
    #: lists every item with the policies or the reason none can.
    cis: tuple[str, ...] = ()

    def defaults(self) -> dict[str, Any]:
        return {k: v["default"] for k, v in self.config_schema.items() if "default" in v}


EXEMPTIONS = "tfplat.dev/policy-exemptions"
EXEMPTION_REASON = "tfplat.dev/policy-exemption-reason"
#: Only rules on Kubernetes workloads and namespaces can be waived per object: a system
#: DaemonSet (the NVIDIA device plugin) must run as root, and the monitoring namespace must
#: admit node-exporter's host access. Never buckets or clusters.
EXEMPTABLE_PREFIX = ("workload-", "namespace-")


def exemption(policy_id: str, props: Props) -> str | None:
    """The written reason if the object exempts itself from `policy_id` (annotations
    tfplat.dev/policy-exemptions: "<id>,<id>" and tfplat.dev/policy-exemption-reason)."""
    if not policy_id.startswith(EXEMPTABLE_PREFIX):
        return None
    meta = props.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, Mapping) else None
    if not isinstance(annotations, Mapping):
        return None
    listed = {p.strip() for p in str(annotations.get(EXEMPTIONS, "")).split(",")}
    reason = str(annotations.get(EXEMPTION_REASON, "")).strip()
    return reason if policy_id in listed and reason else None


@dataclass(frozen=True, kw_only=True)
class ResourcePolicy(Policy):
    """Checks one resource at a time: CrossGuard runs it before the resource is created."""

    check: ResourceCheck
    #: CrossGuard only: validations cannot see what this policy checks (secret markers), so
    #: the pack registers it as a remediation wrapping the values at these paths as secrets.
    wrap_in_crossguard: PathFinder | None = None


@dataclass(frozen=True, kw_only=True)
class StackPolicy(Policy):
    """Checks relations between resources: CrossGuard runs it once every resource is known."""

    check: StackCheck
