"""Custom resources against the CRDs that will serve them: schema and CEL rules.

Each test starts from an object the platform renders and breaks it the way a change to the
planner could, asserting the plan-time validator names the object, the field and the rule;
the messages are the CRDs' own (the API server's), evaluated by CEL, not restated here.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

import pytest

from infra.config.loader import load
from infra.engines.crds import CrdCatalog
from infra.offline.charts import default_catalog
from infra.offline.crd_validate import validate_custom
from infra.plan.manifests import traffic as tr
from infra.plan.stack import plan_stack
from tests.conftest import REPO


@cache
def _catalog() -> CrdCatalog:
    return default_catalog()


def _traffic(stack: str) -> tr.TrafficPlan:
    return plan_stack(load(REPO, stack)).traffic


def _messages(obj: dict[str, Any]) -> list[str]:
    return [f"{p.path}: {p.message}" for p in validate_custom({"x.yaml": obj}, _catalog())]


def test_the_catalog_holds_the_pinned_charts_crds_and_gateway_api() -> None:
    sources = {v.source for v in _catalog().versions.values()}
    assert {"kube-prometheus-stack 81.4.3", "aws-load-balancer-controller 3.5.0", "Gateway API v1.4.1"} <= sources
    assert _catalog().versions[("monitoring.coreos.com/v1", "PodMonitor")].source == "kube-prometheus-stack 81.4.3"


@pytest.mark.parametrize("stack", ["prod", "prod-aws", "dev"])
def test_rendered_gateways_pass_the_crd_rules(stack: str) -> None:
    assert _messages(tr.gateway(_traffic(stack))) == []


def test_a_terminate_listener_without_certificates_is_refused() -> None:
    gw = tr.gateway(_traffic("prod"))
    gw["spec"]["listeners"][1]["tls"] = {"mode": "Terminate", "certificateRefs": [], "options": {}}
    assert _messages(gw) == [
        "spec.listeners.1.tls: certificateRefs or options must be specified when mode is Terminate"]


def test_a_rule_reading_an_absent_field_refuses_the_object() -> None:
    # As the API server does: the rule's size(self.certificateRefs) fails on the missing key.
    gw = tr.gateway(_traffic("prod"))
    gw["spec"]["listeners"][1]["tls"] = {"mode": "Terminate"}
    [message] = _messages(gw)
    assert message.startswith('spec.listeners.1.tls: NOT_FOUND: Key not found in map : "certificateRefs" '
                              "evaluating rule: self.mode == 'Terminate'")


def test_the_default_tls_mode_is_applied_before_the_rules() -> None:
    # mode defaults to Terminate in the CRD: without defaulting, the rule would not fire.
    gw = tr.gateway(_traffic("prod"))
    gw["spec"]["listeners"][1]["tls"] = {"certificateRefs": [], "options": {}}
    assert _messages(gw) == [
        "spec.listeners.1.tls: certificateRefs or options must be specified when mode is Terminate"]


def test_tls_on_a_plain_http_listener_is_refused() -> None:
    gw = tr.gateway(_traffic("prod"))
    gw["spec"]["listeners"][0]["tls"] = copy.deepcopy(gw["spec"]["listeners"][1]["tls"])
    assert _messages(gw) == ["spec.listeners: tls must not be specified for protocols ['HTTP', 'TCP', 'UDP']"]


def test_duplicate_listeners_are_refused() -> None:
    gw = tr.gateway(_traffic("dev"))
    gw["spec"]["listeners"].append(copy.deepcopy(gw["spec"]["listeners"][0]))
    assert _messages(gw) == [
        "spec.listeners: Listener name must be unique within the Gateway",
        "spec.listeners: Combination of port, protocol and hostname must be unique for each listener"]


def test_an_httproute_rule_with_a_bad_path_match_is_refused() -> None:
    route = next(o for o in tr.routes(plan_stack(load(REPO, "dev")).fleets[0], _traffic("dev"))
                 if o["kind"] == "HTTPRoute")
    route["spec"]["rules"][0]["matches"] = [{"path": {"type": "PathPrefix", "value": "no-slash"}}]
    found = _messages(route)
    assert found and all(m.startswith("spec.rules.0.matches.0.path") for m in found)
    assert any("must be an absolute path" in m for m in found)


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


def test_only_a_charts_own_crds_folder_is_read_as_plain_crds() -> None:
    """Helm installs <chart>/crds/ (and a subchart's) untemplated; KEDA keeps its CRDs in
    templates/crds/, which are templates (the render yields them), not YAML to parse."""
    from infra.engines.crds import archive_crds
    from infra.plan import charts as pins
    from tests.conftest import REPO

    mirror = REPO.parent / "shared" / "charts"
    keda = pins.chart(pins.KEDA)
    assert archive_crds(mirror / f"{keda.chart}-{keda.version}.tgz") == []
    kps = pins.chart(pins.KUBE_PROMETHEUS_STACK)  # its CRDs live in a subchart's crds/ folder
    kinds = {c["spec"]["names"]["kind"] for c in archive_crds(mirror / f"{kps.chart}-{kps.version}.tgz")}
    assert {"PodMonitor", "PrometheusRule", "ServiceMonitor"} <= kinds
