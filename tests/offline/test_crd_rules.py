"""The custom-resource checks that the upstream-generated validators do not make.

Each test starts from an object the platform renders and breaks it the way a change to the
planner could, asserting the plan-time validator names the object, the field and the rule.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from infra.config.loader import load
from infra.offline.crd_validate import gateway_listener_rules, validate_custom
from infra.plan.manifests import traffic as tr
from infra.plan.stack import plan_stack
from tests.conftest import REPO


def _traffic(stack: str) -> tr.TrafficPlan:
    return plan_stack(load(REPO, stack)).traffic


def _messages(obj: dict[str, Any]) -> list[str]:
    return [f"{p.path}: {p.message}" for p in validate_custom({"x.yaml": obj})]


@pytest.mark.parametrize("stack", ["prod", "prod-aws", "dev"])
def test_rendered_gateways_pass_the_listener_rules(stack: str) -> None:
    assert gateway_listener_rules("gw", tr.gateway(_traffic(stack))) == []


def test_a_terminate_listener_without_certificates_is_refused() -> None:
    gw = tr.gateway(_traffic("prod"))
    gw["spec"]["listeners"][1]["tls"] = {"mode": "Terminate"}
    assert _messages(gw) == [
        "spec.listeners.1.tls: certificateRefs or options must be specified when mode is Terminate"]


def test_tls_on_a_plain_http_listener_is_refused() -> None:
    gw = tr.gateway(_traffic("prod"))
    gw["spec"]["listeners"][0]["tls"] = copy.deepcopy(gw["spec"]["listeners"][1]["tls"])
    assert _messages(gw) == ["spec.listeners.0: tls must not be specified for protocols ['HTTP', 'TCP', 'UDP']"]


def test_duplicate_listeners_are_refused() -> None:
    gw = tr.gateway(_traffic("dev"))
    gw["spec"]["listeners"].append(copy.deepcopy(gw["spec"]["listeners"][0]))
    assert _messages(gw) == [
        "spec.listeners: Listener name must be unique within the Gateway",
        "spec.listeners: Combination of port, protocol and hostname must be unique for each listener"]


def test_load_balancer_configuration_fields_are_checked() -> None:
    lbc = tr.load_balancer_configuration(_traffic("prod-aws"))
    assert _messages(lbc) == []
    bad = copy.deepcopy(lbc)
    bad["spec"]["listenerConfigurations"][0]["protocolPort"] = "HTTPS-443"
    bad["spec"]["scheme"] = "private"
    bad["spec"]["listenerConfiguration"] = []
    found = _messages(bad)
    assert any(m.startswith("spec.listenerConfigurations.0.protocolPort: 'HTTPS-443' does not match") for m in found)
    assert "spec.scheme: 'private' is not one of ['internal', 'internet-facing']" in found
    assert any("'listenerConfiguration' was unexpected" in m for m in found)


def test_target_group_route_configurations_are_checked() -> None:
    plan = plan_stack(load(REPO, "prod-aws"))
    fleet = plan.fleets[0]
    tgc = tr.health_check(fleet, fleet.colors[0], plan.traffic)
    assert _messages(tgc) == []
    bad = copy.deepcopy(tgc)
    bad["spec"]["routeConfigurations"][0]["targetGroupProps"]["protocolVersion"] = "gRPC"
    del bad["spec"]["routeConfigurations"][0]["routeIdentifier"]
    found = _messages(bad)
    assert "spec.routeConfigurations.0: 'routeIdentifier' is a required property" in found
    assert any(m.startswith("spec.routeConfigurations.0.targetGroupProps.protocolVersion: 'gRPC' is not one of")
               for m in found)
