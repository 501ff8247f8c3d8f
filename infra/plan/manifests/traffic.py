"""Gateway API traffic: one Gateway per stack, weighted routes per model, health checks.

Canary weights live in the routes' backendRefs (one per color Service). The managed load
balancers behind both clouds' gateways health-check "/" by default, which TF Serving
answers with 404, so each color Service gets a health-check policy pointing at its
version's /metadata path (200 only once that version is AVAILABLE).

gRPC through an L7 load balancer needs HTTP/2 over TLS from the client, so the gRPC route
exists only when the stack gives the gateway a certificate (HTTPS listener): a Kubernetes
TLS Secret on GKE (listener certificateRefs), an ACM certificate on AWS, where the AWS Load
Balancer Controller ignores certificateRefs and reads the listener's certificate from a
LoadBalancerConfiguration instead. AWS's controller has a GRPCRoute (ALB target groups with
protocol version GRPC); on GKE gRPC is routed as HTTP/2 with an HTTPRoute on the gRPC
service prefix. With a certificate REST is served on the HTTPS listener only, and the
port-80 listener answers every request with a permanent redirect to HTTPS (a RequestRedirect
filter, which both GKE's gateways and the AWS Load Balancer Controller implement); without
one (dev) REST is plain HTTP, which production refuses (infra.config.hardening).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from infra.config.spec import StackSpec
from infra.plan import tfserving
from infra.plan.aws_lbc import GATEWAY_CLASS_NAME as AWS_GATEWAY_CLASS
from infra.plan.fleet import ColorPlan, FleetPlan
from infra.plan.manifests.serving import meta
from infra.rules import names

GATEWAY_API = "gateway.networking.k8s.io/v1"
GATEWAY_NAME = "tfplat"
REDIRECT_ROUTE = "tfplat-https-redirect"
#: GatewayClass defaults: GKE's regional internal L7 LB; on AWS the class the platform
#: creates for the AWS Load Balancer Controller's ALB implementation.
DEFAULT_CLASS = {"gcp": "gke-l7-rilb", "aws": AWS_GATEWAY_CLASS}
GRPC_PREFIX = "/tensorflow.serving."  # every TF Serving gRPC method lives under it
LBC_GROUP = "gateway.k8s.aws"
LBC_API = f"{LBC_GROUP}/v1"
#: TLS 1.3 + 1.2 only, forward-secret ciphers: the ELB policy AWS recommends for HTTPS
#: listeners. The controller's default (ELBSecurityPolicy-2016-08) still accepts TLS 1.0.
ALB_SSL_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
#: ALB's own gRPC health check (the controller's default for GRPC target groups): a call to a
#: method no server implements, answered UNIMPLEMENTED (12) by any live gRPC server. Which
#: model version is loaded is already gated by the pods' readiness probe, so the gRPC target
#: group only has to prove the port speaks gRPC.
ALB_GRPC_HEALTH = {"path": "/AWS.ALB/healthcheck", "grpcCode": "12"}
Manifest = dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class TrafficPlan:
    enabled: bool
    cloud: str
    namespace: str
    class_name: str
    hostname: str  # base: routes answer <model>.<hostname>
    tls_secret: str | None  # GKE: the HTTPS listener's certificate Secret
    certificate_arn: str | None  # AWS: the HTTPS listener's ACM certificate

    def host(self, model: str) -> str:
        return f"{model}.{self.hostname}"

    @property
    def tls(self) -> bool:
        """The gateway has an HTTPS listener (and so a gRPC route)."""
        return bool(self.tls_secret if self.cloud == "gcp" else self.certificate_arn)


def plan_traffic(stack: StackSpec) -> TrafficPlan:
    gw = stack.serving.gateway
    return TrafficPlan(enabled=gw.enabled, cloud=stack.cloud, namespace=stack.serving.namespace,
                       class_name=gw.class_name or DEFAULT_CLASS[stack.cloud],
                       hostname=gw.hostname or f"{stack.name}.tfplat.internal", tls_secret=gw.tls_secret,
                       certificate_arn=gw.certificate_arn)


def _labels(component: str) -> dict[str, str]:
    return {names.LABEL_NAME: "tfplat-gateway", names.LABEL_COMPONENT: component,
            names.LABEL_PART_OF: names.PART_OF, names.LABEL_MANAGED_BY: names.MANAGED_BY}


def gateway(t: TrafficPlan) -> Manifest:
    listeners: list[dict[str, Any]] = [{
        "name": "http", "protocol": "HTTP", "port": 80, "hostname": f"*.{t.hostname}",
        "allowedRoutes": {"namespaces": {"from": "Same"}}}]
    if t.tls:
        https: dict[str, Any] = {
            "name": "https", "protocol": "HTTPS", "port": 443, "hostname": f"*.{t.hostname}",
            "allowedRoutes": {"namespaces": {"from": "Same"}}}
        if t.cloud == "gcp":
            https["tls"] = {"mode": "Terminate", "certificateRefs": [{"kind": "Secret", "name": t.tls_secret}]}
        # AWS: no tls block. Gateway API requires certificateRefs (or options) on a
        # Terminate listener, and the controller ignores both; its certificate comes from
        # the LoadBalancerConfiguration below.
        listeners.append(https)
    spec: dict[str, Any] = {"gatewayClassName": t.class_name, "listeners": listeners}
    if t.cloud == "aws":
        spec["infrastructure"] = {"parametersRef": {
            "group": LBC_GROUP, "kind": "LoadBalancerConfiguration", "name": GATEWAY_NAME}}
    return {"apiVersion": GATEWAY_API, "kind": "Gateway",
            "metadata": meta(GATEWAY_NAME, t.namespace, _labels("gateway")), "spec": spec}


def load_balancer_configuration(t: TrafficPlan) -> Manifest:
    """AWS only: the ALB behind the Gateway, attached through spec.infrastructure.parametersRef.

    Internal (like GKE's gke-l7-rilb), drops requests with invalid header fields (request
    smuggling), and on the HTTPS listener the stack's ACM certificate with a TLS 1.2+ policy."""
    spec: dict[str, Any] = {
        "scheme": "internal",
        "loadBalancerAttributes": [{"key": "routing.http.drop_invalid_header_fields.enabled", "value": "true"}],
    }
    if t.certificate_arn:
        spec["listenerConfigurations"] = [{"protocolPort": "HTTPS:443", "defaultCertificate": t.certificate_arn,
                                           "sslPolicy": ALB_SSL_POLICY}]
    return {"apiVersion": LBC_API, "kind": "LoadBalancerConfiguration",
            "metadata": meta(GATEWAY_NAME, t.namespace, _labels("gateway")), "spec": spec}


def serving_colors(f: FleetPlan) -> list[ColorPlan]:
    """Colors that receive traffic. A staged color joins the routes only with a canary
    share, so staging never touches a route and moving traffic always does."""
    return [c for c in f.colors if c.weight > 0]


def _backends(f: FleetPlan, port: int) -> list[dict[str, Any]]:
    return [{"name": c.service, "port": port, "weight": c.weight} for c in serving_colors(f)]


def _route_meta(f: FleetPlan, name: str, t: TrafficPlan) -> dict[str, Any]:
    labels = names.model_labels(model=f.name, component="route", team=f.model.owner, environment=f.environment)
    weights = ",".join(f"{c.color}={c.weight}" for c in serving_colors(f))
    return meta(name, t.namespace, labels, {"tfplat.dev/weights": weights})


def https_redirect(t: TrafficPlan) -> Manifest:
    """The port-80 listener's only route when the gateway has HTTPS: 301 to https://, same
    host and path."""
    return {"apiVersion": GATEWAY_API, "kind": "HTTPRoute",
            "metadata": meta(REDIRECT_ROUTE, t.namespace, _labels("https-redirect")),
            "spec": {"parentRefs": [{"name": GATEWAY_NAME, "sectionName": "http"}],
                     "hostnames": [f"*.{t.hostname}"],
                     "rules": [{"filters": [{"type": "RequestRedirect",
                                             "requestRedirect": {"scheme": "https", "statusCode": 301}}]}]}}


def rest_route(f: FleetPlan, t: TrafficPlan) -> Manifest:
    listeners = ["https"] if t.tls else ["http"]
    return {"apiVersion": GATEWAY_API, "kind": "HTTPRoute",
            "metadata": _route_meta(f, f"{f.name}-rest", t),
            "spec": {"parentRefs": [{"name": GATEWAY_NAME, "sectionName": s} for s in listeners],
                     "hostnames": [t.host(f.name)],
                     "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": f"/v1/models/{f.name}"}}],
                                "backendRefs": _backends(f, tfserving.REST_PORT)}]}}


def grpc_route_name(f: FleetPlan) -> str:
    return f"{f.name}-grpc"


def grpc_route(f: FleetPlan, t: TrafficPlan) -> Manifest:
    parent = [{"name": GATEWAY_NAME, "sectionName": "https"}]
    backends = _backends(f, tfserving.GRPC_PORT)
    if t.cloud == "aws":
        return {"apiVersion": GATEWAY_API, "kind": "GRPCRoute", "metadata": _route_meta(f, grpc_route_name(f), t),
                "spec": {"parentRefs": parent, "hostnames": [t.host(f.name)],
                         "rules": [{"backendRefs": backends}]}}
    return {"apiVersion": GATEWAY_API, "kind": "HTTPRoute", "metadata": _route_meta(f, grpc_route_name(f), t),
            "spec": {"parentRefs": parent, "hostnames": [t.host(f.name)],
                     "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": GRPC_PREFIX}}],
                                "backendRefs": backends}]}}


def health_check(f: FleetPlan, c: ColorPlan, t: TrafficPlan) -> Manifest:
    path = f"/v1/models/{f.name}/versions/{c.version}/metadata"
    labels = names.model_labels(model=f.name, component="health-check", team=f.model.owner,
                                environment=f.environment, color=c.color, version=c.version)
    if t.cloud == "gcp":
        return {"apiVersion": "networking.gke.io/v1", "kind": "HealthCheckPolicy",
                "metadata": meta(c.service, t.namespace, labels),
                "spec": {"default": {"checkIntervalSec": 10, "timeoutSec": 5, "healthyThreshold": 1,
                                     "unhealthyThreshold": 3, "logConfig": {"enabled": False},
                                     "config": {"type": "HTTP", "httpHealthCheck": {
                                         "port": tfserving.REST_PORT, "requestPath": path}}},
                         "targetRef": {"group": "", "kind": "Service", "name": c.service}}}
    timing = {"healthCheckInterval": 10, "healthCheckTimeout": 5, "healthyThresholdCount": 2,
              "unhealthyThresholdCount": 3}
    spec: dict[str, Any] = {
        "targetReference": {"name": c.service},
        "defaultConfiguration": {"targetType": "ip", "healthCheckConfig": {
            "healthCheckPath": path, "healthCheckPort": str(tfserving.REST_PORT), "healthCheckProtocol": "HTTP",
            **timing, "matcher": {"httpCode": "200"}}}}
    if t.tls:
        # The GRPCRoute's target group (protocol version GRPC) would otherwise inherit the
        # REST check above and send a gRPC probe to the REST port, matching a gRPC code
        # against an HTTP path: every target unhealthy.
        spec["routeConfigurations"] = [{
            "routeIdentifier": {"kind": "GRPCRoute", "namespace": t.namespace, "name": grpc_route_name(f)},
            "targetGroupProps": {"targetType": "ip", "protocolVersion": "GRPC", "healthCheckConfig": {
                "healthCheckPath": ALB_GRPC_HEALTH["path"], "healthCheckPort": str(tfserving.GRPC_PORT),
                "healthCheckProtocol": "HTTP", **timing, "matcher": {"grpcCode": ALB_GRPC_HEALTH["grpcCode"]}}}}]
    return {"apiVersion": LBC_API, "kind": "TargetGroupConfiguration",
            "metadata": meta(c.service, t.namespace, labels), "spec": spec}


def routes(f: FleetPlan, t: TrafficPlan) -> list[Manifest]:
    out = [rest_route(f, t)]
    if t.tls:
        out.append(grpc_route(f, t))
    return out
