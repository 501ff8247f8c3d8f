"""CEL expressions as Kubernetes evaluates them, with Google's CEL runtime (cel-expr-python).

Reusable for any CEL Kubernetes runs: CRD validation rules (x-kubernetes-validations,
`self`/`oldSelf`), ValidatingAdmissionPolicy expressions (`object`, `oldObject`, `params`,
`request`, ...). Expressions compile once per (expression, variables) and are evaluated on
plain JSON values.

Why cel-expr-python: it wraps cel-cpp, Google's reference runtime, and ships the strings
extension Kubernetes enables (`split`, `lowerAscii`, `join`, ...) and optional types; it
compiles all 233 Gateway API v1.4.1 rules about three times faster than cel-python (a pure
Python interpreter that parses them too, but lacks the strings extension at run time) and has
no dependencies to clash with the project's pins.

What it lacks are Kubernetes' own CEL libraries (cel-go code in k8s.io/apiserver): lists
(`isSorted`, `sum`, `min`, `max`, `indexOf`), regex (`find`, `findAll`), URLs (`url`,
`isURL`), IP/CIDR (`ip`, `cidr`, `isIP`), quantities (`quantity`, `isQuantity`), `format`
and authz. An expression that calls one fails to compile with CelUnsupportedError naming the
function; callers report it as not evaluated (infra.engines.crds keeps a hand-written
equivalent for such a rule where tfplat needs one). None of the CRDs tfplat deploys today
(Gateway API, prometheus-operator, the AWS LBC's) calls any of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
import re
from typing import Any

from cel_expr_python import cel
from cel_expr_python.ext import ext_strings

# Kubernetes' CEL library functions (k8s.io/apiserver/pkg/cel/library) cel-cpp does not have.
KUBERNETES_ONLY = frozenset({
    "isSorted", "sum", "min", "max", "indexOf", "lastIndexOf", "find", "findAll", "url", "isURL", "getScheme",
    "getHost", "getHostname", "getPort", "getEscapedPath", "getQuery", "ip", "isIP", "cidr", "isCIDR",
    "quantity", "isQuantity", "format", "authorizer", "semver", "isSemver"})


class CelError(Exception):
    pass


class CelUnsupportedError(CelError):
    """The expression needs a Kubernetes CEL library function this runtime lacks."""

    def __init__(self, expression: str, functions: Sequence[str], detail: str) -> None:
        self.expression, self.functions = expression, tuple(functions)
        super().__init__(f"needs Kubernetes CEL function(s) {', '.join(functions) or '?'}: {detail}")


@cache
def _env(variables: tuple[str, ...]) -> Any:
    return cel.NewEnv(variables={v: cel.Type.DYN for v in variables}, extensions=[ext_strings.ExtStrings()])


@cache
def compile_expression(expression: str, variables: tuple[str, ...] = ("self",)) -> Any:
    """A compiled program; CelUnsupportedError (Kubernetes-only function) or CelError."""
    try:
        return _env(variables).compile(expression)
    except (RuntimeError, ValueError) as exc:  # the binding raises these with cel-cpp's text
        text = " ".join(str(exc).split())
        called = {m for m in re.findall(r"\b([A-Za-z_]\w*)\s*\(", expression)}
        missing = sorted(f for f in called & KUBERNETES_ONLY if f in text)
        if missing or "undeclared reference" in text or "no matching overload" in text:
            raise CelUnsupportedError(expression, missing or sorted(called & KUBERNETES_ONLY), text) from None
        raise CelError(f"does not compile: {text}") from None


def evaluate(expression: str, bindings: Mapping[str, Any]) -> Any:
    """The expression's value with `bindings` (plain JSON values) as its variables."""
    program = compile_expression(expression, tuple(sorted(bindings)))
    try:
        result = program.eval(data=dict(bindings))
    except (RuntimeError, ValueError, TypeError) as exc:  # a value the binding cannot convert
        raise CelError(" ".join(str(exc).split())) from None
    value = result.value()
    if result.type() == cel.Type.ERROR:  # an evaluation error is a value, its text cel-cpp's status
        raise CelError(str(value))
    return value
