"""secret-values-wrapped (the offline side; the CrossGuard remediation is in test_crossguard.py)."""

from __future__ import annotations

from typing import Any

import pytest

from policies.tfplat_policies.model import SECRET, UNKNOWN
from policies.tfplat_policies.secrets import plaintext_paths, rewrap
from tests.policies.factories import K8S, messages, run

PROVIDER = "pulumi:providers:kubernetes"


def _secret(**fields: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "type": "Opaque", **fields}


@pytest.mark.parametrize("props", [
    _secret(stringData={"admin-user": SECRET, "admin-password": SECRET}),
    _secret(stringData=SECRET),  # the whole map wrapped
    _secret(data={"token": UNKNOWN}),  # computed during a preview
    _secret(),  # absent
])
def test_wrapped_or_absent_secret_values_pass(props: dict[str, Any]) -> None:
    assert run("secret-values-wrapped", K8S["Secret"], props) == []


def test_a_plaintext_secret_value_fails() -> None:
    findings = run("secret-values-wrapped", K8S["Secret"],
                   _secret(stringData={"admin-user": "admin", "admin-password": SECRET}, data={"k": "c2VjcmV0"}))
    assert messages(findings) == [
        "data.k is plain text, so it lands unencrypted in the state file and in previews",
        "stringData.admin-user is plain text, so it lands unencrypted in the state file and in previews"]
    assert "pulumi config set --secret" in findings[0].fix


HELM_VALUES = {"grafana": {"admin": {"existingSecret": "tfplat-grafana-admin", "passwordKey": "admin-password"},
                           "adminPassword": SECRET},
               "alertmanager": {"alertmanagerSpec": {"secrets": ["receivers"]}},
               "automountServiceAccountToken": False,
               "receivers": [{"name": "oncall", "pagerduty_routing_key": SECRET}]}


def test_helm_values_that_reference_or_wrap_credentials_pass() -> None:
    assert run("secret-values-wrapped", K8S["Release"], {"chart": "x", "values": HELM_VALUES}) == []


def test_inline_helm_credentials_fail() -> None:
    values = {**HELM_VALUES, "grafana": {"adminPassword": "hunter2"},
              "receivers": [{"name": "oncall", "pagerduty_routing_key": "R0ut1ng"}], "slack": {"api-token": "xoxb"}}
    findings = run("secret-values-wrapped", K8S["Release"], {"chart": "x", "values": values})
    assert messages(findings) == [
        "values.grafana.adminPassword is plain text, so it lands unencrypted in the state file and in previews",
        "values.receivers[0].pagerduty_routing_key is plain text, so it lands unencrypted in the state file and in "
        "previews",
        "values.slack.api-token is plain text, so it lands unencrypted in the state file and in previews"]
    assert "existingSecret" in findings[0].fix


def test_a_plaintext_kubeconfig_fails() -> None:
    assert run("secret-values-wrapped", PROVIDER, {"kubeconfig": SECRET}) == []
    assert messages(run("secret-values-wrapped", PROVIDER, {"kubeconfig": "apiVersion: v1"})) == [
        "kubeconfig is plain text, so it lands unencrypted in the state file and in previews"]


def test_rewrap_wraps_exactly_the_given_leaves() -> None:
    props: dict[str, Any] = {"values": {"a": {"password": "p", "user": "u"}, "list": ["x", "y"]}, "chart": "c"}
    paths = plaintext_paths(K8S["Release"], props)
    assert paths == [("values", "a", "password")]
    wrapped = rewrap(props, [*paths, ("values", "list", 1)], lambda v: ("wrapped", v))
    assert wrapped == {"values": {"a": {"password": ("wrapped", "p"), "user": "u"}, "list": ["x", ("wrapped", "y")]},
                       "chart": "c"}
    assert props["values"]["a"]["password"] == "p"  # a copy, not in place
    assert rewrap(props, [], lambda v: ("wrapped", v)) == props
