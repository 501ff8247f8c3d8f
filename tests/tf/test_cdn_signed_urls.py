"""Devices behind GCP Cloud CDN with signed URLs: one signed URL prefix token for the whole repository.

The known answers are Google's own (the Cloud CDN samples' tests). End to end, an HTTPS server
(tests/tf/edge_proxy.py, with a certificate devices trust through ca_file) stands in for the
CDN: it checks every request's signature with its own code (below, written from the
documented format, not from modelkit's signer) and only then serves the object from the moto
bucket. Tokens go only over https and never show in a message.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
import hashlib
import hmac
import os
from pathlib import Path
import subprocess
import sys
import time

from conftest import S3
from edge_proxy import Answer, Proxy, self_signed
from edgekit import TestStack
import pytest

from modelkit.device.client import EdgeClient
from modelkit.edge.cdn import decode_key, sign_url_prefix

KEY = bytes(range(16))
KEY_NAME = "tfplat-edgetest-edge-key"


def test_signatures_match_googles_published_examples() -> None:
    """GoogleCloudPlatform/python-docs-samples, cdn/snippets_test.py, test_sign_url_prefix: the
    same key, key name, expiry and prefixes give these URLPrefix/Signature values."""
    key = decode_key("nZtRohdNF9m3cKM24IcK4w==", "sample key")
    assert sign_url_prefix("http://35.186.234.33/", key_name="my-key", key=key, expires=1549751401) == (
        "URLPrefix=aHR0cDovLzM1LjE4Ni4yMzQuMzMv&Expires=1549751401&KeyName=my-key"
        "&Signature=j7HYgoQ8dIOVsW3Rw4cpkjWfRMA=")
    assert sign_url_prefix("http://www.example.com/some/", key_name="my-key", key=key, expires=1549751401) == (
        "URLPrefix=aHR0cDovL3d3dy5leGFtcGxlLmNvbS9zb21lLw==&Expires=1549751401&KeyName=my-key"
        "&Signature=3th4ThmpS95I1TAKYyYSCSq3dnQ=")


def cdn_admits(url: str, key: bytes, key_name: str, now: float) -> str | None:
    """None if Cloud CDN would serve `url`, else why not. The signed bytes are the raw query up
    to "&Signature=" (nothing is re-encoded), the prefix must start the URL, Expires be ahead."""
    base, _, query = url.partition("?")
    signed, marker, signature = query.rpartition("&Signature=")
    if not marker or not signed.startswith("URLPrefix="):
        return "not signed"
    fields = dict(item.split("=", 1) for item in signed.split("&"))
    if sorted(fields) != ["Expires", "KeyName", "URLPrefix"] or fields["KeyName"] != key_name:
        return f"fields {sorted(fields)}"
    digest = hmac.new(key, signed.encode(), hashlib.sha1).digest()
    if not hmac.compare_digest(base64.urlsafe_b64decode(signature.encode()), digest):
        return "bad signature"
    if int(fields["Expires"]) <= now:
        return "expired"
    if not base.startswith(base64.urlsafe_b64decode(fields["URLPrefix"].encode()).decode()):
        return "outside the prefix"
    return None


class FakeCdn:
    """An HTTPS Cloud CDN stand-in in front of the bucket: refuses (403) every request it would refuse."""

    def __init__(self, s3: S3, bucket: str, certs: Path) -> None:
        self.refusals: list[str | None] = []
        self.cert, key = self_signed(certs)
        self.proxy = Proxy(origin=f"{s3.endpoint}/{bucket}")

        def gate(path: str, query: str) -> Answer | None:
            refusal = cdn_admits(f"{self.proxy.url}{path}?{query}", KEY, KEY_NAME, time.time())
            self.refusals.append(refusal)
            return Answer(status=403, body=refusal.encode()) if refusal else None

        self.proxy.gate = gate
        self.proxy.start(cert=(self.cert, key))
        self.url = self.proxy.url


@pytest.fixture
def cdn(edge_stack: TestStack, s3: S3, builds: object, tmp_path: Path) -> Iterator[FakeCdn]:
    bucket = s3.new_bucket()
    edge_stack.write(stable=1).publish(bucket)
    fake = FakeCdn(s3, bucket, tmp_path / "certs")
    yield fake
    fake.proxy.stop()


def token(cdn: FakeCdn, *, prefix: str | None = None, key: bytes = KEY, expires_in: int = 3600) -> str:
    return sign_url_prefix(prefix or f"{cdn.url}/edge/", key_name=KEY_NAME, key=key,
                           expires=int(time.time()) + expires_in)


def behind(cdn: FakeCdn, stack: TestStack, store: Path, url_token: str | None = None) -> EdgeClient:
    return EdgeClient(base_url=f"{cdn.url}/edge", model="tiny", device_id="device-1", store=store,
                      trusted_root=stack.root_bytes(), url_token=url_token, ca_file=str(cdn.cert))


def test_a_device_with_a_prefix_token_fetches_everything_through_the_cdn(edge_stack: TestStack, cdn: FakeCdn,
                                                                         tmp_path: Path) -> None:
    result = behind(cdn, edge_stack, tmp_path / "unsigned").update()
    assert result.status == "kept" and "HTTP 403" in (result.error or "")

    client = behind(cdn, edge_stack, tmp_path / "signed", token(cdn))
    cdn.refusals.clear()
    cdn.proxy.log.clear()
    result = client.update()
    assert result.error is None and result.installed is not None and result.installed.version == 1
    assert cdn.refusals == [None] * len(cdn.refusals)  # every request signed and admitted
    paths = {p for p, _ in cdn.proxy.log}
    assert {"/edge/metadata/timestamp.json", "/edge/metadata/1.snapshot.json"} <= paths
    assert any(p.startswith("/edge/targets/tiny/1/") for p in paths)


def test_wrong_foreign_or_expired_tokens_keep_the_last_good_model(edge_stack: TestStack, cdn: FakeCdn,
                                                                  tmp_path: Path) -> None:
    client = behind(cdn, edge_stack, tmp_path, token(cdn))
    assert client.update().status == "updated"
    good = token(cdn)
    forged = good[:-6] + ("AAAAA=" if not good.endswith("AAAAA=") else "BBBBB=")
    for bad in (forged, token(cdn, key=bytes(16))):
        client.set_url_token(bad)
        cdn.refusals.clear()
        result = client.update()
        assert result.status == "kept" and "HTTP 403" in (result.error or "")
        assert cdn.refusals[0] == "bad signature"
        assert result.installed is not None and result.installed.version == 1
        assert "Signature=" not in (result.error or "") and bad not in (result.error or "")  # never in a message

    client.set_url_token(token(cdn, expires_in=-1))
    cdn.refusals.clear()
    result = client.update()
    assert result.status == "kept" and "URL token expired" in (result.error or "")
    assert cdn.refusals == []  # refused before asking

    with pytest.raises(ValueError, match="does not cover"):
        client.set_url_token(token(cdn, prefix=f"{cdn.url}/edge/targets/"))  # metadata is outside it
    with pytest.raises(ValueError, match="a URL token is URLPrefix="):
        client.set_url_token("Expires=1&KeyName=k&Signature=x")


def test_a_token_is_never_sent_over_plain_http(edge_stack: TestStack, tmp_path: Path) -> None:
    http_token = sign_url_prefix("http://edge.example.com/", key_name=KEY_NAME, key=KEY,
                                 expires=int(time.time()) + 60)
    with pytest.raises(ValueError, match="URL tokens are only sent over https"):
        EdgeClient(base_url="http://edge.example.com", model="tiny", device_id="d", store=tmp_path,
                   trusted_root=edge_stack.root_bytes(), url_token=http_token)


def cli(stack: TestStack, *args: str, extra_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    run_env = {**os.environ, "TFPLAT_ROOT": str(stack.env.root), **extra_env}
    return subprocess.run([sys.executable, "-m", "modelkit.cli.main", *args], capture_output=True, text=True,
                          timeout=120, env=run_env, check=False)


def test_operator_mints_a_token_and_the_fetch_demo_uses_it(edge_stack: TestStack, cdn: FakeCdn,
                                                           tmp_path: Path) -> None:
    key_file = tmp_path / "url-key"
    key_file.write_text(base64.urlsafe_b64encode(KEY).decode() + "\n")
    proc = cli(edge_stack, "edge", "sign-url-prefix", "--prefix", f"{cdn.url}/edge/", "--key-name", KEY_NAME,
               "--expires-in", "10m", extra_env={"TFPLAT_CDN_URL_SIGNING_KEY_FILE": str(key_file)})
    assert proc.returncode == 0, proc.stderr
    minted = proc.stdout.strip()
    assert base64.urlsafe_b64encode(KEY).decode() not in proc.stdout + proc.stderr
    assert cdn_admits(f"{cdn.url}/edge/metadata/timestamp.json?{minted}", KEY, KEY_NAME, time.time()) is None
    assert cdn_admits(f"{cdn.url}/edge/x?{minted}", KEY, KEY_NAME, time.time() + 601) == "expired"

    fetch = ("edge", "fetch", "--model", "tiny", "--base-url", f"{cdn.url}/edge", "--device-id", "d1",
             "--store", str(tmp_path / "dev"), "--stack", "edgetest", "--ca-file", str(cdn.cert))
    proc = cli(edge_stack, *fetch, extra_env={"TFPLAT_EDGE_URL_TOKEN": minted})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert '"status": "updated"' in proc.stdout and "Signature=" not in proc.stdout + proc.stderr


@pytest.mark.parametrize(("args", "extra_env", "expected"), [
    (("--prefix", "https://edge.example.com/", "--key-name", KEY_NAME), {},
     "TFPLAT_CDN_URL_SIGNING_KEY: no URL-signing key given"),
    (("--prefix", "https://edge.example.com/", "--key-name", KEY_NAME), {"TFPLAT_CDN_URL_SIGNING_KEY": "c2hvcnQ="},
     'a Cloud CDN URL-signing key is 16 bytes (got "5 bytes")'),
    (("--prefix", "edge.example.com/", "--key-name", KEY_NAME), {}, "--prefix: not a URL prefix Cloud CDN can sign"),
    (("--prefix", "https://edge.example.com/", "--key-name", "Key_1"), {}, "--key-name: not a Cloud CDN key name"),
    (("--prefix", "https://edge.example.com/", "--key-name", KEY_NAME, "--expires-in", "soon"), {},
     '--expires-in: not a positive duration (got "soon")'),
])
def test_signing_mistakes_exit_2_with_a_fix(edge_stack: TestStack, args: tuple[str, ...], extra_env: dict[str, str],
                                            expected: str) -> None:
    proc = cli(edge_stack, "edge", "sign-url-prefix", *args,
               extra_env={"TFPLAT_CDN_URL_SIGNING_KEY": "", "TFPLAT_CDN_URL_SIGNING_KEY_FILE": "", **extra_env})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert expected in proc.stderr and "fix:" in proc.stderr and "Traceback" not in proc.stderr
