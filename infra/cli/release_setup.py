"""Where `tfplat release` reads metrics (tfplat:release.metrics_source, or --prometheus-url),
and the check before anything moves that every query of the policy is answered."""

from __future__ import annotations

from collections.abc import Callable
import os

from infra.config.errors import ConfigError, ConfigIssue
from infra.config.loader import LoadedConfig
from infra.plan.monitoring.scope import FleetScope
from infra.plan.monitoring.values import prometheus_url
from infra.plan.release_policy import ReleasePolicy
from infra.release.metrics_source import (
    MetricsSource,
    MetricsUnavailable,
    PrometheusApi,
    QueryRejected,
    Request,
    Signer,
    amp_base,
    bearer,
    gmp_base,
    google_signer,
    sigv4_signer,
    single,
)
from infra.release.reading import queries
from infra.rules.rollout import Rollout

TOKEN_ENV = "TFPLAT_PROMETHEUS_TOKEN"  # optional bearer token for a Prometheus behind a proxy


def in_cluster_url(namespace: str) -> str:
    """The monitoring layer's Prometheus Service (kube-prometheus-stack, fullname kps)."""
    return prometheus_url(namespace)


def _lazy(make: Callable[[], Signer]) -> Signer:
    """A signer built on first use: missing credentials surface as an unavailable source
    when a query is made (the preflight reports it before anything moves)."""
    made: list[Signer] = []

    def sign(req: Request) -> Request:
        if not made:
            made.append(make())
        return made[0](req)
    return sign


def metrics_source_for(loaded: LoadedConfig, url: str | None) -> PrometheusApi:
    stack, spec = loaded.stack, loaded.stack.metrics_source
    token = os.environ.get(TOKEN_ENV)
    plain = bearer(token) if token else None
    if url:
        return PrometheusApi(url, signer=plain, description=f"Prometheus at {url} (--prometheus-url)")
    if spec.kind == "in-cluster":
        if not stack.monitoring.enabled:
            raise ConfigError([ConfigIssue(
                file=stack.file, path="config.tfplat:release.metrics_source.kind", value=spec.kind,
                message="the stack installs no Prometheus (tfplat:monitoring.enabled is false)",
                hint="point the release at your Prometheus: metrics_source: {kind: prometheus, url: ...}, "
                     "gmp or amp, or pass --prometheus-url")])
        base = in_cluster_url(stack.monitoring.namespace)
        return PrometheusApi(base, signer=plain, description=f"the stack's Prometheus at {base}")
    if spec.kind == "prometheus":
        assert spec.url is not None, "the schema requires url for kind prometheus"
        return PrometheusApi(spec.url, signer=plain, description=f"Prometheus at {spec.url}")
    if spec.kind == "gmp":
        project = spec.project or (stack.gcp.project if stack.gcp else None)
        if project is None:
            raise ConfigError([ConfigIssue(file=stack.file, path="config.tfplat:release.metrics_source.project",
                                           message="Managed Service for Prometheus needs a project",
                                           hint="set metrics_source.project: <Google Cloud project id>")])
        return PrometheusApi(gmp_base(project), signer=_lazy(google_signer),
                             description=f"Google Cloud Managed Service for Prometheus (project {project})")
    region = spec.region or stack.region
    assert spec.workspace is not None, "the schema requires workspace for kind amp"
    return PrometheusApi(amp_base(region, spec.workspace), signer=_lazy(lambda: sigv4_signer(region)),
                         description=f"Amazon Managed Service for Prometheus ({spec.workspace}, {region})")


def preflight_metrics(policy: ReleasePolicy, scope: FleetScope, source: MetricsSource, r: Rollout,
                      loaded: LoadedConfig) -> str | None:
    """Ask every query once about the live color: the source answers and accepts them all.
    None when fine; a message when the source cannot be read (nothing has changed yet).
    A query the source refuses is a config mistake (ConfigError)."""
    for name, expr in queries(policy, scope, r.live).items():
        try:
            single(source.query(expr))
        except MetricsUnavailable as err:
            return (f"cannot read metrics before the release starts: {err}\n    fix: check the URL and "
                    "credentials (tfplat:release.metrics_source, or --prometheus-url with a kubectl port-forward)")
        except QueryRejected as err:
            custom = next((g for g in policy.gates if g.name == name and g.kind == "custom"), None)
            file = loaded.models[scope.model].file if custom else loaded.stack.file
            path = f"release.gates.custom.{name}.query" if custom else "config.tfplat:release.metrics_source"
            raise ConfigError([ConfigIssue(file=file, path=path, value=expr, message=f"{source.description} "
                                           f"refuses the {name} query: {err}",
                                           hint="fix the query (it must return one value per color)" if custom
                                           else "point metrics_source at a Prometheus-compatible query API")]) \
                from None
    return None
