"""The gateway's HTTPS listener and gRPC routes on both clouds, under the mock engine.

GKE takes the listener certificate from a Kubernetes Secret (certificateRefs); the AWS Load
Balancer Controller ignores certificateRefs and reads an ACM certificate from the
LoadBalancerConfiguration the Gateway points at. Either way gRPC gets a route on the HTTPS
listener, with the same weights as REST, and on AWS a gRPC health check of its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from infra.offline.engine import Record
from infra.offline.plan import run_offline
from infra.plan import tfserving
from infra.plan.manifests import traffic as tr
from tests.conftest import REPO, shared_run
from tests.program.records import Run, of_type, one_of_type

GW = "kubernetes:gateway.networking.k8s.io/v1:Gateway"
GRPC_ROUTE = "kubernetes:gateway.networking.k8s.io/v1:GRPCRoute"
HTTP_ROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
LB_CONFIG = "kubernetes:gateway.k8s.aws/v1:LoadBalancerConfiguration"
TG_CONFIG = "kubernetes:gateway.k8s.aws/v1:TargetGroupConfiguration"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def _by_name(records: list[Record]) -> dict[str, Record]:
    return {r.inputs["metadata"]["name"]: r for r in records}


def _stack_config(stack: str) -> dict[str, Any]:
    doc = YAML(typ="safe").load((REPO / "stacks" / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8"))
    config: dict[str, Any] = doc["config"]
    return config


@pytest.fixture(scope="module")
def aws() -> Run:
    return shared_run("prod-aws")


@pytest.fixture(scope="module")
def gcp() -> Run:
    return shared_run("prod")


def test_aws_https_listener_takes_its_certificate_from_acm(aws: Run) -> None:
    gateway = one_of_type(aws, GW)
    lbc = one_of_type(aws, LB_CONFIG)
    listeners = {x["name"]: x for x in gateway.inputs["spec"]["listeners"]}
    assert listeners["https"]["protocol"] == "HTTPS" and listeners["https"]["port"] == 443
    # Gateway API rejects a Terminate listener without certificateRefs, and the controller
    # ignores them: the AWS listener carries no tls block at all.
    assert "tls" not in listeners["https"]
    ref = gateway.inputs["spec"]["infrastructure"]["parametersRef"]
    assert ref == {"group": "gateway.k8s.aws", "kind": "LoadBalancerConfiguration",
                   "name": lbc.inputs["metadata"]["name"]}
    assert lbc.inputs["metadata"]["namespace"] == gateway.inputs["metadata"]["namespace"]
    arn = _stack_config("prod-aws")["tfplat:serving"]["gateway"]["certificate_arn"]
    [https] = lbc.inputs["spec"]["listenerConfigurations"]
    assert https == {"protocolPort": "HTTPS:443", "defaultCertificate": arn,
                     "sslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06"}
    assert lbc.inputs["spec"]["scheme"] == "internal"
    assert lbc.urn in gateway.depends_on  # the ALB's settings exist before the controller sees the Gateway


def test_aws_grpc_routes_carry_the_rest_weights_and_wait_for_their_colors(aws: Run) -> None:
    plan, _ = aws
    grpc = _by_name(of_type(aws, GRPC_ROUTE))
    rest = _by_name(of_type(aws, HTTP_ROUTE))
    deployments = _by_name(of_type(aws, DEPLOYMENT))
    gateway = one_of_type(aws, GW)
    assert set(grpc) == {f"{f.name}-grpc" for f in plan.fleets}
    for fleet in plan.fleets:
        route = grpc[f"{fleet.name}-grpc"].inputs["spec"]
        assert route["parentRefs"] == [{"name": "tfplat", "sectionName": "https"}]
        assert route["hostnames"] == [plan.traffic.host(fleet.name)]
        backends = {b["name"]: (b["port"], b["weight"]) for b in route["rules"][0]["backendRefs"]}
        assert backends == {c.service: (tfserving.GRPC_PORT, c.weight) for c in tr.serving_colors(fleet)}
        rest_spec = rest[f"{fleet.name}-rest"].inputs["spec"]
        assert [p["sectionName"] for p in rest_spec["parentRefs"]] == ["https"]  # port 80 only redirects
        assert {b["name"]: b["weight"] for b in rest_spec["rules"][0]["backendRefs"]} == \
            {s: w for s, (_, w) in backends.items()}
        needs = grpc[f"{fleet.name}-grpc"].depends_on
        assert gateway.urn in needs
        for color in tr.serving_colors(fleet):
            assert deployments[color.deployment].urn in needs


def test_aws_grpc_target_groups_get_a_grpc_health_check_on_the_grpc_port(aws: Run) -> None:
    plan, _ = aws
    grpc_routes = {(r.inputs["metadata"]["namespace"], r.inputs["metadata"]["name"]) for r in of_type(aws, GRPC_ROUTE)}
    tgcs = _by_name(of_type(aws, TG_CONFIG))
    for fleet in plan.fleets:
        for color in fleet.colors:
            spec = tgcs[color.service].inputs["spec"]
            rest_check = spec["defaultConfiguration"]["healthCheckConfig"]
            assert rest_check["healthCheckPath"] == f"/v1/models/{fleet.name}/versions/{color.version}/metadata"
            assert rest_check["healthCheckPort"] == str(tfserving.REST_PORT)
            [route_config] = spec["routeConfigurations"]
            ident = route_config["routeIdentifier"]
            # the identifier must name the GRPCRoute exactly, or the controller falls back
            # to the REST check above and marks every gRPC target unhealthy
            assert ident["kind"] == "GRPCRoute"
            assert (ident["namespace"], ident["name"]) in grpc_routes
            props = route_config["targetGroupProps"]
            assert props["protocolVersion"] == "GRPC" and props["targetType"] == "ip"
            check = props["healthCheckConfig"]
            assert check["healthCheckPort"] == str(tfserving.GRPC_PORT)
            assert check["matcher"] == {"grpcCode": "12"} and "httpCode" not in check["matcher"]
            assert check["healthCheckPath"].startswith("/")


def test_gke_https_listener_uses_the_tls_secret(gcp: Run) -> None:
    plan, _ = gcp
    gateway = one_of_type(gcp, GW)
    https = {x["name"]: x for x in gateway.inputs["spec"]["listeners"]}["https"]
    secret = _stack_config("prod")["tfplat:serving"]["gateway"]["tls_secret"]
    assert https["tls"] == {"mode": "Terminate", "certificateRefs": [{"kind": "Secret", "name": secret}]}
    assert "infrastructure" not in gateway.inputs["spec"]
    assert of_type(gcp, LB_CONFIG) == [] and of_type(gcp, GRPC_ROUTE) == []
    grpc = _by_name(of_type(gcp, HTTP_ROUTE))
    for fleet in plan.fleets:
        rule = grpc[f"{fleet.name}-grpc"].inputs["spec"]["rules"][0]
        assert rule["matches"] == [{"path": {"type": "PathPrefix", "value": "/tensorflow.serving."}}]


def test_aws_without_a_certificate_serves_rest_only(repo_copy: Path) -> None:
    path = repo_copy / "stacks" / "Pulumi.prod-aws.yaml"
    yaml = YAML()
    doc = yaml.load(path.read_text(encoding="utf-8"))
    del doc["config"]["tfplat:serving"]["gateway"]["certificate_arn"]
    doc["config"]["tfplat:environment"] = "staging"  # production refuses a gateway without HTTPS
    with path.open("w", encoding="utf-8") as fh:
        yaml.dump(doc, fh)
    run = run_offline(repo_copy, "prod-aws")
    gateway = one_of_type(run, GW)
    assert [x["name"] for x in gateway.inputs["spec"]["listeners"]] == ["http"]
    assert "listenerConfigurations" not in one_of_type(run, LB_CONFIG).inputs["spec"]
    assert of_type(run, GRPC_ROUTE) == []
    for tgc in of_type(run, TG_CONFIG):
        assert "routeConfigurations" not in tgc.inputs["spec"]
    for route in of_type(run, HTTP_ROUTE):
        assert [p["sectionName"] for p in route.inputs["spec"]["parentRefs"]] == ["http"]
