"""Where a release reads its metrics: any Prometheus-compatible instant-query API.

One client (`PrometheusApi`: a form POST to <base>/api/v1/query, as Prometheus documents
it, so long queries never hit URL limits) with three ways to authenticate:

- none (or a bearer token): the in-cluster Prometheus the monitoring layer installs, at
  its Service or through `kubectl port-forward`, or any Prometheus-compatible endpoint;
- Google Cloud Managed Service for Prometheus: application default credentials
  (google-auth), an OAuth token with the monitoring.read scope, at
  https://monitoring.googleapis.com/v1/projects/<project>/location/global/prometheus;
- Amazon Managed Service for Prometheus: the AWS credential chain (botocore), each
  request signed with SigV4 for the service "aps", at
  https://aps-workspaces.<region>.amazonaws.com/workspaces/<workspace>.

What fails to answer raises MetricsUnavailable (the release counts or pauses on it, never
reads it as healthy); a query Prometheus refuses raises QueryRejected (a mistake in a
gate, reported before anything moves).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
import json
import math
from typing import Any, Protocol
import urllib.error
import urllib.parse
import urllib.request

FORM = "application/x-www-form-urlencoded"
GMP_BASE = "https://monitoring.googleapis.com/v1/projects/{project}/location/global/prometheus"
GMP_SCOPE = "https://www.googleapis.com/auth/monitoring.read"
AMP_BASE = "https://aps-workspaces.{region}.amazonaws.com/workspaces/{workspace}"
AMP_SERVICE = "aps"


class MetricsUnavailable(Exception):  # noqa: N818 - a state, not a bug: the release waits or counts it
    """The endpoint did not answer, or answered with a server error."""


class QueryRejected(Exception):  # noqa: N818
    """The endpoint refused the query itself (bad PromQL, an unknown function)."""


@dataclass(frozen=True)
class Sample:
    labels: Mapping[str, str]
    value: float  # NaN and +-Inf as Prometheus reports them


class MetricsSource(Protocol):
    description: str

    def query(self, expr: str) -> list[Sample]: ...


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes


Signer = Callable[[Request], Request]  # adds authentication to a request about to be sent


def parse_value(text: str) -> float:
    """Prometheus writes sample values as strings: "1.5", "NaN", "+Inf", "-Inf"."""
    return float(text)  # float() reads all four forms exactly


def samples(doc: Any) -> list[Sample]:
    """The samples of an instant-query response ({"status": "success", "data": ...})."""
    data = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(data, dict):
        raise MetricsUnavailable(f"not a Prometheus query response: {str(doc)[:200]}")
    kind, result = data.get("resultType"), data.get("result")
    if kind == "scalar" and isinstance(result, list):
        return [Sample({}, parse_value(result[1]))]
    if kind != "vector" or not isinstance(result, list):
        raise QueryRejected(f"expected an instant vector, got {kind}")
    return [Sample(dict(r.get("metric") or {}), parse_value(r["value"][1])) for r in result]


class PrometheusApi:
    """Instant queries against <base>/api/v1/query. `rewrite` transforms each expression
    before it is sent (the test harness scales its durations, tests/harness/timescale.py)."""

    def __init__(self, base: str, *, signer: Signer | None = None, timeout_s: float = 15.0,
                 description: str | None = None, rewrite: Callable[[str], str] | None = None) -> None:
        self.base = base.rstrip("/")
        self.signer = signer
        self.timeout_s = timeout_s
        self.description = description or self.base
        self.rewrite = rewrite

    def request(self, expr: str) -> Request:
        """The request for `expr`, authenticated (exactly what `query` sends)."""
        query = self.rewrite(expr) if self.rewrite else expr
        req = Request("POST", f"{self.base}/api/v1/query", {"Content-Type": FORM},
                      urllib.parse.urlencode({"query": query}).encode())
        return self.signer(req) if self.signer else req

    def query(self, expr: str) -> list[Sample]:
        try:
            req = self.request(expr)
        except Exception as err:
            raise MetricsUnavailable(f"cannot authenticate to {self.description}: {type(err).__name__}: {err}") \
                from err
        http = urllib.request.Request(req.url, data=req.body, headers=dict(req.headers), method=req.method)
        try:
            with urllib.request.urlopen(http, timeout=self.timeout_s) as resp:
                doc = json.load(resp)
        except urllib.error.HTTPError as err:
            body = err.read().decode("utf-8", "replace")[:300]
            if err.code in (400, 422):
                raise QueryRejected(f"{self.description} refused the query ({err.code}): {body}") from err
            raise MetricsUnavailable(f"{self.description} answered {err.code}: {body}") from err
        except (urllib.error.URLError, ConnectionError, TimeoutError) as err:
            raise MetricsUnavailable(f"{self.description} is unreachable: {err}") from err
        except (ValueError, json.JSONDecodeError) as err:
            raise MetricsUnavailable(f"{self.description} sent something that is not JSON: {err}") from err
        if doc.get("status") != "success":
            raise QueryRejected(f"{self.description}: {doc.get('errorType')}: {doc.get('error')}")
        return samples(doc)


def single(result: list[Sample]) -> float | None:
    """The one value of an aggregated query; None for an empty result."""
    if not result:
        return None
    if len(result) > 1:
        raise QueryRejected(f"expected one series, got {len(result)} ({[dict(s.labels) for s in result[:3]]})")
    return result[0].value


def is_number(value: float | None) -> bool:
    return value is not None and not math.isnan(value)


# --------------------------------------------------------------------------- signers


def bearer(token: str) -> Signer:
    def sign(req: Request) -> Request:
        return Request(req.method, req.url, {**req.headers, "Authorization": f"Bearer {token}"}, req.body)
    return sign


def google_signer(credentials: Any = None) -> Signer:
    """Google OAuth: application default credentials (or the given ones), refreshed as they expire."""
    import google.auth
    import google.auth.transport.requests

    creds = credentials
    if creds is None:
        creds, _ = google.auth.default(scopes=[GMP_SCOPE])
    session = google.auth.transport.requests.Request()

    def sign(req: Request) -> Request:
        if not creds.valid:
            creds.refresh(session)
        headers: dict[str, str] = dict(req.headers)
        creds.apply(headers)
        return Request(req.method, req.url, headers, req.body)
    return sign


def sigv4_signer(region: str, credentials: Any = None) -> Signer:
    """AWS SigV4 for Amazon Managed Service for Prometheus, with botocore's own signer and
    credential chain (environment, profile, SSO, web identity, instance/pod roles)."""
    import botocore.auth
    import botocore.awsrequest
    import botocore.session

    creds = credentials
    if creds is None:
        creds = botocore.session.get_session().get_credentials()
        if creds is None:
            raise MetricsUnavailable("no AWS credentials found (the AWS credential chain is empty)")

    def sign(req: Request) -> Request:
        aws = botocore.awsrequest.AWSRequest(method=req.method, url=req.url, data=req.body, headers=dict(req.headers))
        botocore.auth.SigV4Auth(creds.get_frozen_credentials() if hasattr(creds, "get_frozen_credentials")
                                else creds, AMP_SERVICE, region).add_auth(aws)
        return Request(req.method, req.url, {k: str(v) for k, v in aws.headers.items()}, req.body)
    return sign


def gmp_base(project: str) -> str:
    return GMP_BASE.format(project=project)


def amp_base(region: str, workspace: str) -> str:
    return AMP_BASE.format(region=region, workspace=workspace)
