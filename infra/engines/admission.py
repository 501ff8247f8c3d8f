"""ValidatingAdmissionPolicy expressions run as the API server runs them, with the CEL
runtime of infra.engines.cel.

The API server's order for one request: every matchCondition must be true or the policy
does not apply; variables are evaluated in their order, each seeing the ones before it as
`variables.<name>`; then each validation's expression must be true, and a false one fails
with its messageExpression (or message). Resource matching (matchConstraints, the
binding's matchResources) is the API server's routing and not evaluated here: callers
choose what request to judge. `authorizer` and `params` are not bound (tfplat's policies
use neither), so an expression that needs them fails to compile, loudly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from infra.engines import cel

#: What a policy's expressions may name (tfplat's policies: object, request, variables).
VARIABLES = ("namespaceObject", "object", "oldObject", "request", "variables")


@dataclass(frozen=True)
class Verdict:
    applies: bool  # every matchCondition held
    failures: list[str] = field(default_factory=list)  # the failed validations' messages

    @property
    def allowed(self) -> bool:
        return not self.failures


def _plain(value: Any) -> Any:
    """A CEL value as plain Python (cel.evaluate hands out list and map items as accessors),
    so the next expression can take it as a variable."""
    if hasattr(value, "plain_value"):
        return value.plain_value()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _expressions(policy: Mapping[str, Any]) -> list[tuple[str, str]]:
    spec = policy.get("spec") or {}
    out = [(f"matchConditions[{c['name']}]", c["expression"]) for c in spec.get("matchConditions") or []]
    out += [(f"variables[{v['name']}]", v["expression"]) for v in spec.get("variables") or []]
    for i, v in enumerate(spec.get("validations") or []):
        out.append((f"validations[{i}].expression", v["expression"]))
        if v.get("messageExpression"):
            out.append((f"validations[{i}].messageExpression", v["messageExpression"]))
    return out


def compile_problems(policy: Mapping[str, Any]) -> list[str]:
    """Every expression of the policy that does not compile, as '<where>: <error>'."""
    problems = []
    for where, expression in _expressions(policy):
        try:
            cel.compile_expression(expression, VARIABLES)
        except cel.CelError as exc:
            problems.append(f"spec.{where}: {exc}")
    return problems


def evaluate(policy: Mapping[str, Any], obj: Mapping[str, Any], *, namespace: str, operation: str = "CREATE",
             old: Mapping[str, Any] | None = None, namespace_object: Mapping[str, Any] | None = None) -> Verdict:
    """The policy's verdict on admitting `obj` (a Pod, as the API server sees it) into `namespace`."""
    spec = policy.get("spec") or {}
    request = {"namespace": namespace, "operation": operation, "name": (obj.get("metadata") or {}).get("name", ""),
               "kind": {"group": "", "version": "v1", "kind": obj.get("kind", "")}}
    base: dict[str, Any] = {"object": dict(obj), "oldObject": dict(old) if old is not None else None,
                            "request": request, "namespaceObject": dict(namespace_object or {})}
    known: dict[str, Any] = {}
    scope = {**base, "variables": known}
    for condition in spec.get("matchConditions") or []:
        if cel.evaluate(condition["expression"], scope) is not True:
            return Verdict(applies=False)
    for variable in spec.get("variables") or []:
        known[variable["name"]] = _plain(cel.evaluate(variable["expression"], {**base, "variables": dict(known)}))
    scope = {**base, "variables": known}
    failures = []
    for validation in spec.get("validations") or []:
        if cel.evaluate(validation["expression"], scope) is True:
            continue
        message = validation.get("message") or f"failed expression: {validation['expression']}"
        if validation.get("messageExpression"):
            message = str(cel.evaluate(validation["messageExpression"], scope))
        failures.append(message)
    return Verdict(applies=True, failures=failures)
