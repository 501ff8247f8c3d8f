"""The CEL module: Kubernetes' semantics for CRD rules, and what it cannot evaluate."""

from __future__ import annotations

import pytest

from infra.engines import cel
from infra.engines.crds import CrdCatalog


def test_macros_and_the_strings_extension() -> None:
    listeners = [{"name": "a", "port": 80}, {"name": "b", "port": 443}]
    assert cel.evaluate("self.all(l1, self.exists_one(l2, l1.name == l2.name))", {"self": listeners}) is True
    assert cel.evaluate("self.all(l1, self.exists_one(l2, l1.name == l2.name))",
                        {"self": [*listeners, listeners[0]]}) is False
    assert cel.evaluate("self.split('.').size() == 3 && self.lowerAscii() == 'a.b.c'", {"self": "A.b.c"}) is True
    assert cel.evaluate("duration(self) < duration('1m')", {"self": "30s"}) is True


def test_a_missing_key_is_an_error_as_in_the_api_server() -> None:
    with pytest.raises(cel.CelError, match="certificateRefs"):
        cel.evaluate("size(self.certificateRefs) > 0", {"self": {"mode": "Terminate"}})
    assert cel.evaluate("has(self.certificateRefs)", {"self": {}}) is False


def test_kubernetes_only_functions_are_named_not_guessed() -> None:
    with pytest.raises(cel.CelUnsupportedError) as err:
        cel.compile_expression("isURL(self) && self.size() > 0")
    assert err.value.functions == ("isURL",)
    with pytest.raises(cel.CelError, match="does not compile"):
        cel.compile_expression("self ==")


def test_other_variables_for_admission_policies() -> None:
    pod = {"spec": {"containers": [{"name": "c", "securityContext": {"runAsNonRoot": True}}]}}
    expression = "object.spec.containers.all(c, has(c.securityContext) && c.securityContext.runAsNonRoot)"
    assert cel.evaluate(expression, {"object": pod, "oldObject": None}) is True


def _crd(rules: list[dict[str, str]]) -> dict[str, object]:
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced", "names": {"kind": "Widget", "plural": "widgets"},
                     "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                         "type": "object", "properties": {"spec": {
                             "type": "object", "x-kubernetes-validations": rules,
                             "properties": {"min": {"type": "integer"}, "max": {"type": "integer", "default": 10},
                                            "name": {"type": "string"},
                                            "port": {"x-kubernetes-int-or-string": True}}}}}}}]}}


def _widget(spec: dict[str, object]) -> dict[str, object]:
    return {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": spec}


def test_crd_rules_with_defaults_messages_and_transition_rules() -> None:
    catalog = CrdCatalog()
    catalog.add_objects([_crd([
        {"rule": "self.min <= self.max", "messageExpression": "'min ' + string(self.min) + ' above max'"},
        {"rule": "self.name == oldSelf.name", "message": "immutable"},  # needs the stored object: skipped
        {"rule": "isURL(self.name)", "message": "a URL"},  # a Kubernetes-only function: reported
    ])], "test")
    assert catalog.validate({"w": _widget({"min": 3, "name": "x", "port": "http"})}) == []
    [problem] = catalog.validate({"w": _widget({"min": 30, "name": "x", "port": 80})})
    assert (problem.where, problem.path, problem.message) == ("w", "spec", "min 30 above max")  # max defaulted
    assert list(catalog.unsupported) == ["isURL(self.name)"]


def test_unknown_fields_and_wrong_types_are_refused() -> None:
    catalog = CrdCatalog()
    catalog.add_objects([_crd([])], "test")
    found = {(p.path, p.message) for p in catalog.validate({"w": _widget({"min": "3", "colour": "red"})})}
    assert ("spec.min", "'3' is not of type 'integer'") in found
    assert ("spec", "Additional properties are not allowed ('colour' was unexpected)") in found
    assert [p.message for p in catalog.validate({"w": {**_widget({}), "kind": "Gadget"}})] == [
        "no CRD serves example.com/v1 Gadget"]
