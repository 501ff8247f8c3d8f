"""Devices behind GCP Cloud CDN with signed URLs: one signed URL prefix token for the whole layout.

The known answers are Google's own (the Cloud CDN samples' tests). End to end, a local HTTP
server stands in for the CDN: it checks every request's signature with its own code (below,
written from the documented format, not from modelkit's signer) and only then serves the
object from the moto bucket.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
import hashlib
import hmac
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import os
from pathlib import Path
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

from conftest import S3, Env, run_publish, write_stack
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


# --------------------------------------------------------------------------- a stand-in for Cloud CDN


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
    def __init__(self, s3: S3, bucket: str) -> None:
        self.log: list[tuple[str, str | None]] = []  # (path without query, refusal or None)
        cdn = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = f"http://{self.headers['Host']}{self.path}"
                refusal = cdn_admits(url, KEY, KEY_NAME, time.time())
                path = self.path.split("?", 1)[0]
                cdn.log.append((path, refusal))
                if refusal is not None:
                    self.send_error(403, refusal)
                    return
                try:
                    with urllib.request.urlopen(f"{s3.endpoint}/{bucket}{path}", timeout=10) as resp:
                        body = resp.read()
                except urllib.error.HTTPError as exc:
                    self.send_error(exc.code)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def cdn(env: Env, s3: S3, builds: object) -> Iterator[FakeCdn]:
    bucket = s3.new_bucket()
    write_stack(env, stable=1)
    run_publish(env, bucket)
    fake = FakeCdn(s3, bucket)
    yield fake
    fake.server.shutdown()


def token(cdn: FakeCdn, *, prefix: str | None = None, key: bytes = KEY, expires_in: int = 3600) -> str:
    return sign_url_prefix(prefix or f"{cdn.url}/edge/", key_name=KEY_NAME, key=key,
                           expires=int(time.time()) + expires_in)


def behind(cdn: FakeCdn, env: Env, store: Path, url_token: str | None = None) -> EdgeClient:
    return EdgeClient(base_url=f"{cdn.url}/edge", model="tiny", device_id="device-1", store=store,
                      trusted_keys={env.key_id: env.key.public_b64}, url_token=url_token)


def test_a_device_with_a_prefix_token_fetches_everything_through_the_cdn(env: Env, cdn: FakeCdn,
                                                                         tmp_path: Path) -> None:
    result = behind(cdn, env, tmp_path / "unsigned").update()
    assert result.status == "kept" and "HTTP 403" in (result.error or "")

    client = behind(cdn, env, tmp_path / "signed", token(cdn))
    cdn.log.clear()
    result = client.update()
    assert result.error is None and result.installed is not None and result.installed.version == 1
    paths = [p for p, _ in cdn.log]
    assert [r for _, r in cdn.log] == [None] * len(cdn.log)  # every request signed and admitted
    assert {"/edge/channels/tiny/stable.json", "/edge/manifests/tiny/1.json"} <= set(paths)
    assert any(p.startswith("/edge/blobs/sha256/") for p in paths)


def test_wrong_foreign_or_expired_tokens_keep_the_last_good_model(env: Env, cdn: FakeCdn, tmp_path: Path) -> None:
    client = behind(cdn, env, tmp_path, token(cdn))
    assert client.update().status == "updated"

    good = token(cdn)
    forged = good[:-6] + ("AAAAA=" if not good.endswith("AAAAA=") else "BBBBB=")
    for bad in (forged, token(cdn, key=bytes(16))):
        client.set_url_token(bad)
        cdn.log.clear()
        result = client.update()
        assert result.status == "kept" and "HTTP 403" in (result.error or "")
        assert cdn.log[0][1] == "bad signature"
        assert result.installed is not None and result.installed.version == 1

    client.set_url_token(token(cdn, expires_in=-1))
    cdn.log.clear()
    result = client.update()
    assert result.status == "kept" and "URL token expired" in (result.error or "")
    assert cdn.log == []  # refused before asking

    with pytest.raises(ValueError, match="does not cover"):
        client.set_url_token(token(cdn, prefix=f"{cdn.url}/edge/blobs/"))  # pointers are outside it
    with pytest.raises(ValueError, match="a URL token is URLPrefix="):
        client.set_url_token("Expires=1&KeyName=k&Signature=x")


def cli(env: Env, *args: str, extra_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    run_env = {**os.environ, "TFPLAT_ROOT": str(env.root), **extra_env}
    return subprocess.run([sys.executable, "-m", "modelkit.cli.main", *args], capture_output=True, text=True,
                          timeout=120, env=run_env, check=False)


def test_operator_mints_a_token_and_the_fetch_demo_uses_it(env: Env, cdn: FakeCdn, tmp_path: Path) -> None:
    key_file = tmp_path / "url-key"
    key_file.write_text(base64.urlsafe_b64encode(KEY).decode() + "\n")
    proc = cli(env, "edge", "sign-url-prefix", "--prefix", f"{cdn.url}/edge/", "--key-name", KEY_NAME,
               "--expires-in", "10m", extra_env={"TFPLAT_CDN_URL_SIGNING_KEY_FILE": str(key_file)})
    assert proc.returncode == 0, proc.stderr
    minted = proc.stdout.strip()
    assert base64.urlsafe_b64encode(KEY).decode() not in proc.stdout + proc.stderr
    assert cdn_admits(f"{cdn.url}/edge/channels/tiny/stable.json?{minted}", KEY, KEY_NAME, time.time()) is None
    assert cdn_admits(f"{cdn.url}/edge/x?{minted}", KEY, KEY_NAME, time.time() + 601) == "expired"

    fetch = ("edge", "fetch", "--model", "tiny", "--base-url", f"{cdn.url}/edge", "--device-id", "d1",
             "--store", str(tmp_path / "dev"), "--stack", "edgetest")
    proc = cli(env, *fetch, extra_env={"TFPLAT_EDGE_URL_TOKEN": minted})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert '"status": "updated"' in proc.stdout


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
def test_signing_mistakes_exit_2_with_a_fix(env: Env, args: tuple[str, ...], extra_env: dict[str, str],
                                            expected: str) -> None:
    proc = cli(env, "edge", "sign-url-prefix", *args,
               extra_env={"TFPLAT_CDN_URL_SIGNING_KEY": "", "TFPLAT_CDN_URL_SIGNING_KEY_FILE": "", **extra_env})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert expected in proc.stderr and "fix:" in proc.stderr and "Traceback" not in proc.stderr
