"""Tracing: an OpenTelemetry collector receiving OTLP, and Jaeger v2 where traces stay in-cluster.

- storage "memory" (dev): collector -> Jaeger v2 all-in-one (in-memory store, query UI,
  Grafana datasource). Traces vanish when the Jaeger pod restarts; that is the point of dev.
- storage "external" (prod): collector -> the OTLP gRPC endpoint from the stack file, over
  TLS. No in-cluster Jaeger: the backend behind the endpoint stores and shows the traces.

Sampling happens once, in the collector (probabilistic, by trace id, so every span of a
trace shares the decision); instrumented callers should sample with
parentbased_traceidratio at the same ratio (docs/observability.md).

Why the gateway sends no spans here: see docs/observability.md ("Gateway spans").
"""

from __future__ import annotations

from typing import Any

from infra.config.spec import StackSpec, TracingSpec
from infra.plan.monitoring.values import requests_limits
from infra.plan.scan_waivers import PULL_POLICY

COLLECTOR_FULLNAME = "otel-collector"
JAEGER_FULLNAME = "jaeger"
OTLP_GRPC_PORT = 4317
OTLP_HTTP_PORT = 4318
JAEGER_QUERY_PORT = 16686
JAEGER_MAX_TRACES = 100_000  # bounds the in-memory store (and so Jaeger's memory)
COLLECTOR_REPLICAS = {"dev": 1, "staging": 1, "prod": 2}


def collector_endpoint(namespace: str) -> str:
    """Where instrumented workloads send OTLP/gRPC."""
    return f"{COLLECTOR_FULLNAME}.{namespace}.svc.cluster.local:{OTLP_GRPC_PORT}"


def jaeger_query_url(namespace: str) -> str:
    return f"http://{JAEGER_FULLNAME}.{namespace}.svc.cluster.local:{JAEGER_QUERY_PORT}"


def wants_jaeger(tracing: TracingSpec) -> bool:
    return tracing.enabled and tracing.storage == "memory"


def _exporter(tracing: TracingSpec, namespace: str) -> tuple[str, dict[str, Any]]:
    if tracing.storage == "external":
        assert tracing.external_endpoint, "the loader requires an endpoint for external storage"
        return "otlp/backend", {"endpoint": tracing.external_endpoint}  # TLS on (the exporter's default)
    # In-cluster hop to Jaeger on the pod network: plaintext like every other scrape here.
    return "otlp/jaeger", {"endpoint": f"{JAEGER_FULLNAME}.{namespace}.svc.cluster.local:{OTLP_GRPC_PORT}",
                           "tls": {"insecure": True}}


def collector(stack: StackSpec) -> dict[str, Any]:
    """Values of the opentelemetry-collector chart (deployment mode, traces only)."""
    tracing = stack.monitoring.tracing
    namespace = stack.monitoring.namespace
    exporter, exporter_config = _exporter(tracing, namespace)
    return {
        "fullnameOverride": COLLECTOR_FULLNAME,
        "mode": "deployment",
        "replicaCount": COLLECTOR_REPLICAS[stack.environment],
        # The chart names no default image since 0.89; contrib has the probabilistic sampler.
        "image": {"repository": "otel/opentelemetry-collector-contrib", "pullPolicy": PULL_POLICY},
        "command": {"name": "otelcol-contrib"},
        "resources": requests_limits("100m", "256Mi", "1", "512Mi"),
        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001,
                            "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]}},
        "podSecurityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        # The collector calls no Kubernetes API (no k8sattributes processor): no token.
        "serviceAccount": {"automountServiceAccountToken": False},
        # OTLP only: no Service/container ports for the chart's Jaeger and Zipkin receivers.
        "ports": {
            "jaeger-compact": {"enabled": False}, "jaeger-thrift": {"enabled": False},
            "jaeger-grpc": {"enabled": False}, "zipkin": {"enabled": False},
            "metrics": {"enabled": True},
        },
        "serviceMonitor": {"enabled": True},
        # Merged over the chart's default config. Pulumi drops None from inputs, so keys of
        # the default cannot be deleted: its Jaeger/Zipkin/Prometheus receivers stay defined
        # but unused (the collector only starts components a pipeline names), and its
        # metrics/logs pipelines of the collector's own telemetry stay as the chart ships them.
        "config": {
            "receivers": {"otlp": {"protocols": {
                "grpc": {"endpoint": f"${{env:MY_POD_IP}}:{OTLP_GRPC_PORT}"},
                "http": {"endpoint": f"${{env:MY_POD_IP}}:{OTLP_HTTP_PORT}"}}}},
            "processors": {
                "probabilistic_sampler": {"sampling_percentage": round(tracing.sampling_ratio * 100, 4)},
                "batch": {},
            },
            "exporters": {exporter: exporter_config},
            "service": {"pipelines": {
                # memory_limiter is the chart's, sized from the container's memory limit.
                "traces": {"receivers": ["otlp"], "processors": ["memory_limiter", "probabilistic_sampler", "batch"],
                           "exporters": [exporter]},
            }},
        },
    }


def jaeger(stack: StackSpec) -> dict[str, Any]:
    """Values of the Jaeger v2 chart: all-in-one with the in-memory store."""
    return {
        "fullnameOverride": JAEGER_FULLNAME,
        "jaeger": {
            "resources": requests_limits("100m", "256Mi", "500m", "1Gi"),
            "image": {"pullPolicy": PULL_POLICY},
            # Jaeger calls no Kubernetes API: no token.
            "serviceAccount": {"automountServiceAccountToken": False},
            "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                "capabilities": {"drop": ["ALL"]}},
            "podSecurityContext": {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001,
                                   "fsGroup": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
        },
        # The whole Jaeger v2 configuration (it is an OpenTelemetry collector distribution).
        "userconfig": {
            "service": {
                "extensions": ["jaeger_storage", "jaeger_query", "healthcheckv2"],
                "pipelines": {"traces": {"receivers": ["otlp"], "processors": ["batch"],
                                         "exporters": ["jaeger_storage_exporter"]}},
            },
            "extensions": {
                "healthcheckv2": {"use_v2": True, "http": {"endpoint": "0.0.0.0:13133"}},
                "jaeger_query": {"storage": {"traces": "memstore"}},
                "jaeger_storage": {"backends": {"memstore": {"memory": {"max_traces": JAEGER_MAX_TRACES}}}},
            },
            "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": f"0.0.0.0:{OTLP_GRPC_PORT}"},
                                                 "http": {"endpoint": f"0.0.0.0:{OTLP_HTTP_PORT}"}}}},
            "processors": {"batch": {}},
            "exporters": {"jaeger_storage_exporter": {"trace_storage": "memstore"}},
        },
    }
