"""The metrics source: a real HTTP exchange with a local server for each way of asking.

- any Prometheus-compatible endpoint: the form POST, NaN / +Inf / scalars, and every way
  of failing (refused, 5xx, not JSON: unavailable; 400: the query is refused);
- Amazon Managed Service for Prometheus: the server recomputes the SigV4 signature of the
  request it received, with botocore's own signer and the request's own timestamp, so a
  client that signed something other than what it sent (host, body, headers) fails;
- Google Cloud Managed Service for Prometheus: google-auth's service-account flow against a
  local token endpoint (a JWT signed with a key made here, checked by the server), then the
  bearer token on the query.
What cannot run here (the real AWS and Google endpoints) is covered by the URL shapes below
and docs/releases.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
import contextlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import json
import math
from pathlib import Path
import threading
from typing import Any
import urllib.parse

import pytest

from infra.cli.release_setup import in_cluster_url, metrics_source_for
from infra.config.loader import load
from infra.release.metrics_source import (
    GMP_SCOPE,
    MetricsUnavailable,
    PrometheusApi,
    QueryRejected,
    amp_base,
    gmp_base,
    google_signer,
    sigv4_signer,
    single,
)

Reply = Callable[[dict[str, Any]], tuple[int, Any]]  # request -> (status, JSON body or raw str)


@dataclass
class Server:
    url: str
    seen: list[dict[str, Any]] = field(default_factory=list)


@contextlib.contextmanager
def server(reply: Reply) -> Iterator[Server]:
    state = Server("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            req = {"method": "POST", "path": self.path, "headers": dict(self.headers.items()), "body": body}
            state.seen.append(req)
            status, doc = reply(req)
            data = doc.encode() if isinstance(doc, str) else json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


def vector(*values: str) -> dict[str, Any]:
    return {"status": "success", "data": {"resultType": "vector",
                                          "result": [{"metric": {"color": "green"}, "value": [1.0, v]}
                                                     for v in values]}}


def test_a_query_is_a_form_post_and_values_keep_nan_and_inf() -> None:
    with server(lambda req: (200, vector("NaN"))) as s:
        api = PrometheusApi(s.url)
        assert math.isnan(single(api.query('sum(rate(x{color="green"}[2m]))')) or 0)
        req = s.seen[0]
        assert req["path"] == "/api/v1/query" and req["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
        assert urllib.parse.parse_qs(req["body"].decode()) == {"query": ['sum(rate(x{color="green"}[2m]))']}
    with server(lambda req: (200, vector("+Inf", "0.5"))) as s:
        values = [x.value for x in PrometheusApi(s.url).query("x")]
        assert values == [math.inf, 0.5]
        with pytest.raises(QueryRejected, match="expected one series, got 2"):
            single(PrometheusApi(s.url).query("x"))
    scalar = {"status": "success", "data": {"resultType": "scalar", "result": [1.0, "3"]}}
    with server(lambda req: (200, scalar)) as s:
        assert single(PrometheusApi(s.url).query("1+2")) == 3.0
    with server(lambda req: (200, vector())) as s:
        assert single(PrometheusApi(s.url).query("x")) is None  # an empty result is no data, never 0


def test_rewrite_changes_only_what_is_sent() -> None:
    with server(lambda req: (200, vector("1"))) as s:
        PrometheusApi(s.url, rewrite=lambda e: e.replace("[2m]", "[4s]")).query("rate(x[2m])")
        assert urllib.parse.parse_qs(s.seen[0]["body"].decode())["query"] == ["rate(x[4s])"]


@pytest.mark.parametrize(("status", "body", "error", "fragment"), [
    (503, "service unavailable", MetricsUnavailable, "answered 503"),
    (502, "bad gateway", MetricsUnavailable, "answered 502"),
    (200, "<html>login</html>", MetricsUnavailable, "not JSON"),
    (400, {"status": "error", "errorType": "bad_data", "error": "parse error"}, QueryRejected, "refused the query"),
    (422, {"status": "error", "errorType": "execution", "error": "many-to-many"}, QueryRejected, "(422)"),
])
def test_failures_are_unavailable_or_rejected(status: int, body: Any, error: type[Exception], fragment: str) -> None:
    with server(lambda req: (status, body)) as s, pytest.raises(error, match=fragment.replace("(", r"\(")
                                                                .replace(")", r"\)")):
        PrometheusApi(s.url).query("x")


def test_an_unreachable_endpoint_is_unavailable() -> None:
    with server(lambda req: (200, vector("1"))) as s:
        url = s.url
    with pytest.raises(MetricsUnavailable, match="unreachable"):
        PrometheusApi(url, timeout_s=2).query("x")


# --------------------------------------------------------------------------- AMP (SigV4)


def _verify_sigv4(req: dict[str, Any], host: str, region: str, creds: Any) -> bool:
    """Recompute the signature of the request as received, with botocore's signer."""
    import botocore.auth
    import botocore.awsrequest

    headers = req["headers"]
    signed = headers["Authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
    received = {k: v for k, v in headers.items() if k.lower() in signed}
    aws = botocore.awsrequest.AWSRequest(method=req["method"], url=f"http://{host}{req['path']}", data=req["body"],
                                         headers=received)
    aws.context["timestamp"] = headers["X-Amz-Date"]
    signer = botocore.auth.SigV4Auth(creds, "aps", region)
    canonical = signer.canonical_request(aws)
    expected = signer.signature(signer.string_to_sign(aws, canonical), aws)
    return bool(headers["Authorization"].endswith(f"Signature={expected}"))


def test_amp_requests_are_signed_for_aps_with_what_is_sent() -> None:
    from botocore.credentials import Credentials

    creds = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token-example")
    results: list[bool] = []

    def reply(req: dict[str, Any]) -> tuple[int, Any]:
        host = req["headers"]["Host"]
        results.append(_verify_sigv4(req, host, "us-east-1", creds))
        return 200, vector("0.002")

    with server(reply) as s:
        api = PrometheusApi(f"{s.url}/workspaces/ws-0123abcd", signer=sigv4_signer("us-east-1", creds))
        assert single(api.query('sum(rate(x{model="resnet50",color="blue"}[2m]))')) == 0.002
        auth = s.seen[0]["headers"]["Authorization"]
        assert auth.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/") and "/us-east-1/aps/aws4_request" in auth
        assert s.seen[0]["headers"]["X-Amz-Security-Token"] == "session-token-example"
        assert s.seen[0]["path"] == "/workspaces/ws-0123abcd/api/v1/query"
    assert results == [True]
    # The check above is not blind: a body changed after signing fails it.
    tampered = {**s.seen[0], "body": s.seen[0]["body"] + b"x"}
    assert not _verify_sigv4(tampered, s.seen[0]["headers"]["Host"], "us-east-1", creds)


def test_amp_and_gmp_urls() -> None:
    assert amp_base("eu-west-1", "ws-1a2b") == "https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1a2b"
    req = PrometheusApi(amp_base("eu-west-1", "ws-1a2b")).request("up")
    assert req.url == "https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1a2b/api/v1/query"
    assert gmp_base("acme-ml-prod") == \
        "https://monitoring.googleapis.com/v1/projects/acme-ml-prod/location/global/prometheus"
    assert in_cluster_url("monitoring") == "http://kps-prometheus.monitoring.svc:9090"


# --------------------------------------------------------------------------- GMP (google-auth)


def test_gmp_queries_carry_the_token_google_auth_got_for_the_service_account() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from google.auth import jwt
    from google.oauth2 import service_account

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    claims: list[dict[str, Any]] = []

    def reply(req: dict[str, Any]) -> tuple[int, Any]:
        if req["path"] == "/token":
            form = urllib.parse.parse_qs(req["body"].decode())
            assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
            # google-auth always addresses the assertion to Google's token endpoint
            google_token = "https://oauth2.googleapis.com/token"
            decoded = jwt.decode(form["assertion"][0], certs=public, audience=google_token)  # type: ignore[no-untyped-call]
            claims.append(decoded)
            return 200, {"access_token": "ya29.local-token", "expires_in": 3600, "token_type": "Bearer"}
        assert req["headers"]["Authorization"] == "Bearer ya29.local-token"
        return 200, vector("0.04")

    with server(reply) as s:
        url = s.url
        creds = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
            {"type": "service_account", "client_email": "release@acme-ml-prod.iam.gserviceaccount.com",
             "private_key": pem, "private_key_id": "k1", "token_uri": f"{url}/token", "project_id": "acme-ml-prod"},
            scopes=[GMP_SCOPE])
        base = f"{url}/v1/projects/acme-ml-prod/location/global/prometheus"
        api = PrometheusApi(base, signer=google_signer(creds))
        assert single(api.query("x")) == 0.04 and single(api.query("x")) == 0.04
        paths = [r["path"] for r in s.seen]
        assert paths == ["/token", "/v1/projects/acme-ml-prod/location/global/prometheus/api/v1/query",
                         "/v1/projects/acme-ml-prod/location/global/prometheus/api/v1/query"]  # one token, reused
    assert claims[0]["scope"] == GMP_SCOPE and claims[0]["iss"] == "release@acme-ml-prod.iam.gserviceaccount.com"


def test_gmp_without_credentials_is_unavailable_not_a_crash(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    from infra.cli.release_setup import _lazy

    api = PrometheusApi(gmp_base("acme-ml-prod"), signer=_lazy(google_signer))
    with pytest.raises(MetricsUnavailable, match="cannot authenticate"):
        api.query("up")


# --------------------------------------------------------------------------- from the stack file


@pytest.mark.parametrize(("setting", "description"), [
    ("", "the stack's Prometheus at http://kps-prometheus.monitoring.svc:9090"),
    ("{kind: prometheus, url: 'https://prom.example.internal'}", "Prometheus at https://prom.example.internal"),
    ("{kind: gmp}", "Google Cloud Managed Service for Prometheus (project acme-ml-dev)"),
    ("{kind: gmp, project: acme-metrics}", "Google Cloud Managed Service for Prometheus (project acme-metrics)"),
    ("{kind: amp, workspace: ws-1a2b}", "Amazon Managed Service for Prometheus (ws-1a2b, us-central1)"),
])
def test_the_stack_file_says_where_metrics_are(repo_copy: Path, setting: str, description: str) -> None:
    if setting:
        path = repo_copy / "stacks" / "Pulumi.dev.yaml"
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace("config:\n", f"config:\n  tfplat:release:\n    metrics_source: {setting}\n", 1),
                        encoding="utf-8")
    source = metrics_source_for(load(repo_copy, "dev"), None)
    assert source.description == description
    assert metrics_source_for(load(repo_copy, "dev"), "http://127.0.0.1:9090").base == "http://127.0.0.1:9090"
