"""Signing edge documents in a cloud KMS (tfplat:edge.signing.kms_key): AWS KMS, Google Cloud KMS.

moto has no Ed25519 KMS keys, so KMS is botocore's Stubber on a real KMS client: botocore
checks each request's parameter names and types against the real KMS service model, the
Stubber checks each response against it and each request against the exact parameters KMS
must get (MessageType RAW, SigningAlgorithm ED25519_SHA_512, a Message no longer than the
model's maximum, which botocore itself does not enforce), and the signatures come from a
real Ed25519 key the test holds in KMS's place. Devices then verify what was published with
the public key alone. An opt-in test (cloud marker, TFPLAT_CLOUD_TESTS=1 and
TFPLAT_TEST_KMS_KEY_ARN) signs with a real KMS key.

Cloud KMS has neither a local emulator nor a Stubber: a local HTTP server implements its two
documented REST methods for one key version, with a real key, and refuses anything else
(path, body fields, bearer token). An opt-in test (TFPLAT_TEST_GCP_KMS_KEY) uses a real one.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import json
import os
from pathlib import Path
import threading
from typing import Any

from botocore.session import get_session
from botocore.stub import Stubber
from conftest import S3, Env, device, publisher, write_stack
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
import pytest

from modelkit.device.client import (
    CHANNEL_TYPE,
    MANIFEST_TYPE,
    manifest_key,
    open_envelope,
    public_key_from_b64,
    signed_message,
)
from modelkit.edge import publish as pub
from modelkit.edge import signing
from modelkit.edge.kms import AwsKmsSigner, GcpKmsSigner
from modelkit.errors import UserError

ARN = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_ID = "kms-2026-11"


def obj(s3: S3, bucket: str, rel: str) -> bytes:
    body: bytes = s3.client().get_object(Bucket=bucket, Key=f"edge/{rel}")["Body"].read()
    return body


class StubbedKms:
    """A KMS client whose key is `key`: GetPublicKey answers once, Sign for each message."""

    def __init__(self, key: Ed25519PrivateKey, *, public_der: bytes | None = None,
                 key_spec: str = "ECC_NIST_EDWARDS25519") -> None:
        self.client: Any = get_session().create_client("kms", region_name="eu-west-1", aws_access_key_id="test",
                                                       aws_secret_access_key="test")
        self.stub = Stubber(self.client)
        self.messages: list[bytes] = []
        der = public_der or key.public_key().public_bytes(serialization.Encoding.DER,
                                                          serialization.PublicFormat.SubjectPublicKeyInfo)
        self.stub.add_response("get_public_key", {
            "KeyId": ARN, "PublicKey": der, "KeySpec": key_spec, "KeyUsage": "SIGN_VERIFY",
            "SigningAlgorithms": ["ED25519_SHA_512", "ED25519_PH_SHA_512"]}, {"KeyId": ARN})

        limit = self.client.meta.service_model.operation_model("Sign").input_shape.members["Message"].metadata["max"]

        def answer_sign(params: dict[str, Any], **_: Any) -> None:
            # Queued just in time, with the request KMS must receive: pure Ed25519 over the raw message.
            message = params["Message"]
            assert len(message) <= limit, f"KMS refuses messages over {limit} bytes (got {len(message)})"
            self.messages.append(message)
            self.stub.add_response(
                "sign", {"KeyId": ARN, "Signature": key.sign(message), "SigningAlgorithm": "ED25519_SHA_512"},
                {"KeyId": ARN, "Message": message, "MessageType": "RAW", "SigningAlgorithm": "ED25519_SHA_512"})

        # provide-client-params comes before the Stubber's own checks (before-parameter-build).
        self.client.meta.events.register("provide-client-params.kms.Sign", answer_sign)
        self.stub.activate()


def kms_stack(env: Env, key: Ed25519PrivateKey, **kw: Any) -> None:
    write_stack(env, stable=1, key_id=KEY_ID, kms_key=ARN, public_keys={KEY_ID: signing.public_b64(key)}, **kw)


def test_kms_signed_documents_verify_on_a_device(env: Env, s3: S3, builds: object, tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    kms = StubbedKms(key)
    kms_stack(env, key)
    bucket = s3.new_bucket()
    try:
        signer = AwsKmsSigner(ARN, stack_file="stacks/Pulumi.edgetest.yaml", client=kms.client)
        p = publisher(env, bucket, signer=signer)
        first = pub.publish(publisher=p, build_root=env.build)
        assert manifest_key("tiny", 1) in first.uploaded
        result = device(env, s3, bucket, tmp_path, keys={KEY_ID: signing.public_b64(key)}).update()
        assert result.error is None and result.installed is not None and result.installed.version == 1

        manifest = json.loads(obj(s3, bucket, manifest_key("tiny", 1)))
        assert (manifest["key_id"], manifest["digest"]) == (KEY_ID, "sha512")
        # What KMS signed is the v2 message of each document, and its signature is plain RFC 8032.
        assert signed_message(MANIFEST_TYPE, manifest["payload"].encode(), "sha512") in kms.messages
        key.public_key().verify(base64.b64decode(manifest["signature"]),
                                signed_message(MANIFEST_TYPE, manifest["payload"].encode(), "sha512"))
        assert all(m.startswith(b"tfplat-edge-v2\x00") and len(m) < 200 for m in kms.messages)
        kms.stub.assert_no_pending_responses()

        signed_so_far = len(kms.messages)
        p = publisher(env, bucket, signer=AwsKmsSigner(ARN, stack_file="stacks/Pulumi.edgetest.yaml",
                                                        client=StubbedKms(key).client))
        again = pub.publish(publisher=p, build_root=env.build)
        assert again.uploaded_bytes == 0 and again.uploaded == []  # nothing re-signed, nothing sent
        assert len(kms.messages) == signed_so_far
    finally:
        write_stack(env, stable=1)


def test_a_kms_key_that_is_not_the_pinned_one_is_refused(env: Env, s3: S3) -> None:
    key = Ed25519PrivateKey.generate()
    write_stack(env, stable=1, key_id=KEY_ID, kms_key=ARN, public_keys={KEY_ID: env.key.public_b64})
    try:
        signer = AwsKmsSigner(ARN, stack_file="stacks/Pulumi.edgetest.yaml", client=StubbedKms(key).client)
        with pytest.raises(UserError, match=f"the signing key from AWS KMS key {ARN} is not the key pinned"):
            publisher(env, s3.new_bucket(), signer=signer)
    finally:
        write_stack(env, stable=1)


def test_unusable_kms_keys_are_user_errors_naming_the_stack_field() -> None:
    key = Ed25519PrivateKey.generate()
    with pytest.raises(UserError, match="not an Ed25519 signing key \\(KeySpec ECC_NIST_P256") as info:
        AwsKmsSigner(ARN, stack_file="stacks/Pulumi.x.yaml", client=StubbedKms(key, key_spec="ECC_NIST_P256").client)
    assert "config.tfplat:edge.signing.kms_key" in info.value.render() and "fix: create one" in info.value.render()

    p256 = generate_private_key(SECP256R1()).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(UserError, match=r"its public key is \w+, not Ed25519"):
        AwsKmsSigner(ARN, stack_file="stacks/Pulumi.x.yaml", client=StubbedKms(key, public_der=p256).client)

    client = get_session().create_client("kms", region_name="eu-west-1", aws_access_key_id="t",
                                         aws_secret_access_key="t")
    stub = Stubber(client)
    stub.add_client_error("get_public_key", service_error_code="AccessDeniedException",
                          service_message="not authorized to perform: kms:GetPublicKey", http_status_code=400)
    stub.activate()
    with pytest.raises(UserError, match=r"cannot read the key's public key .*AccessDeniedException") as info:
        AwsKmsSigner(ARN, stack_file="stacks/Pulumi.x.yaml", client=client)
    assert "kms:GetPublicKey and kms:Sign" in info.value.render()


def test_documents_longer_than_kms_takes_are_signed_through_their_digest() -> None:
    """KMS signs at most 4096 bytes (the service model's maximum, checked by the stub); a
    manifest with many variants and ops is longer, and still signs and verifies."""
    key = Ed25519PrivateKey.generate()
    kms = StubbedKms(key)
    signer = AwsKmsSigner(ARN, stack_file="stacks/Pulumi.x.yaml", client=kms.client)
    variants = {f"v{i}": {"builtin_ops": ["CONV_2D"] * 200} for i in range(4)}
    payload = {"model": "big", "version": 3, "variants": variants}
    raw = signing.envelope(payload, MANIFEST_TYPE, signer, KEY_ID)
    assert len(signed_message(MANIFEST_TYPE, json.loads(raw)["payload"].encode())) > 4096
    assert open_envelope(raw, MANIFEST_TYPE, {KEY_ID: public_key_from_b64(signing.public_b64(key))}) == payload
    assert len(kms.messages) == 1 and len(kms.messages[0]) < 200
    with pytest.raises(AssertionError, match="KMS refuses messages over 4096 bytes"):  # what v1 would meet
        kms.client.sign(KeyId=ARN, Message=b"x" * 4097, MessageType="RAW", SigningAlgorithm="ED25519_SHA_512")


def test_v2_envelopes_are_checked_like_v1(env: Env) -> None:
    key = Ed25519PrivateKey.generate()
    trusted = {KEY_ID: public_key_from_b64(signing.public_b64(key))}
    signer = AwsKmsSigner(ARN, stack_file="stacks/Pulumi.x.yaml", client=StubbedKms(key).client)
    raw = json.loads(signing.envelope({"model": "tiny", "channel": "stable"}, CHANNEL_TYPE, signer, KEY_ID))
    tampered = {**raw, "payload": raw["payload"].replace("stable", "canary")}
    for doc, expected in [(tampered, "bad signature"), ({**raw, "digest": None}, "bad signature"),
                          ({**raw, "digest": "md5"}, "unknown envelope digest 'md5'")]:
        with pytest.raises(Exception, match=expected):
            open_envelope(json.dumps(doc).encode(), CHANNEL_TYPE, trusted)
    with pytest.raises(Exception, match="document type"):  # the type is still bound in
        open_envelope(json.dumps(raw).encode(), MANIFEST_TYPE, trusted)


def test_a_key_file_for_a_kms_stack_is_refused(env: Env) -> None:
    key = Ed25519PrivateKey.generate()
    kms_stack(env, key)
    try:
        from modelkit.config import load_stack_edge

        edge, stack_file = load_stack_edge("edgetest", env.root)
        with pytest.raises(UserError, match="signs with the KMS key"):
            signing.signer_for(edge, stack_file, "/tmp/some.pem")
    finally:
        write_stack(env, stable=1)


@pytest.mark.cloud
@pytest.mark.skipif(not (os.environ.get("TFPLAT_CLOUD_TESTS") == "1" and os.environ.get("TFPLAT_TEST_KMS_KEY_ARN")),
                    reason="opt-in: TFPLAT_CLOUD_TESTS=1 and TFPLAT_TEST_KMS_KEY_ARN (an Ed25519 SIGN_VERIFY key)")
def test_a_real_aws_kms_key_signs_what_devices_verify() -> None:
    arn = os.environ["TFPLAT_TEST_KMS_KEY_ARN"]
    signer = AwsKmsSigner(arn, stack_file="(TFPLAT_TEST_KMS_KEY_ARN)")
    raw = signing.envelope({"model": "tiny", "version": 1}, MANIFEST_TYPE, signer, KEY_ID)
    assert open_envelope(raw, MANIFEST_TYPE, {KEY_ID: public_key_from_b64(signer.public_b64)}) == {
        "model": "tiny", "version": 1}
    # RFC 8032 signatures are deterministic, which an unchanged re-publish relies on.
    assert signing.envelope({"model": "tiny", "version": 1}, MANIFEST_TYPE, signer, KEY_ID) == raw


# --------------------------------------------------------------------------- Google Cloud KMS

VERSION = "projects/acme-ml-prod/locations/global/keyRings/edge/cryptoKeys/signing/cryptoKeyVersions/1"
TOKEN = "ya29.test-token"


class FakeCloudKms:
    """Cloud KMS's REST API as documented (cryptoKeyVersions.getPublicKey and .asymmetricSign),
    answering for one EC_SIGN_ED25519 key version with a real key; anything else is an error."""

    def __init__(self, key: Ed25519PrivateKey, algorithm: str = "EC_SIGN_ED25519") -> None:
        self.signed: list[bytes] = []
        fake = self
        pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo).decode()

        class Handler(BaseHTTPRequestHandler):
            def reply(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def authorized(self) -> bool:
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    self.reply(401, {"error": {"code": 401, "status": "UNAUTHENTICATED"}})
                    return False
                return True

            def do_GET(self) -> None:
                if self.authorized():
                    if self.path != f"/v1/{VERSION}/publicKey":
                        self.reply(404, {"error": {"code": 404, "status": "NOT_FOUND"}})
                        return
                    self.reply(200, {"pem": pem, "algorithm": algorithm, "name": VERSION,
                                     "protectionLevel": "HSM"})

            def do_POST(self) -> None:
                if self.authorized():
                    body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                    if self.path != f"/v1/{VERSION}:asymmetricSign" or set(body) != {"data"}:
                        self.reply(400, {"error": {"code": 400, "status": "INVALID_ARGUMENT"}})
                        return
                    data = base64.b64decode(body["data"], validate=True)
                    fake.signed.append(data)
                    self.reply(200, {"signature": base64.b64encode(key.sign(data)).decode(), "name": VERSION,
                                     "protectionLevel": "HSM"})

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def cloud_kms(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeCloudKms, Ed25519PrivateKey]]:
    key = Ed25519PrivateKey.generate()
    fake = FakeCloudKms(key)
    monkeypatch.setenv("TFPLAT_GCP_KMS_ENDPOINT", fake.endpoint)
    monkeypatch.setenv("TFPLAT_GCP_ACCESS_TOKEN", TOKEN)
    yield fake, key
    fake.server.shutdown()


def test_cloud_kms_signed_documents_verify_on_a_device(env: Env, s3: S3, builds: object, tmp_path: Path,
                                                      cloud_kms: tuple[FakeCloudKms, Ed25519PrivateKey]) -> None:
    fake, key = cloud_kms
    write_stack(env, stable=1, key_id=KEY_ID, kms_key=VERSION, public_keys={KEY_ID: signing.public_b64(key)})
    bucket = s3.new_bucket()
    try:
        from modelkit.config import load_stack_edge

        edge, stack_file = load_stack_edge("edgetest", env.root)
        signer = signing.signer_for(edge, stack_file, None)
        assert isinstance(signer, GcpKmsSigner) and signer.public_b64 == signing.public_b64(key)
        pub.publish(publisher=publisher(env, bucket, signer=signer), build_root=env.build)
        result = device(env, s3, bucket, tmp_path, keys={KEY_ID: signing.public_b64(key)}).update()
        assert result.error is None and result.installed is not None and result.installed.version == 1
        manifest = json.loads(obj(s3, bucket, manifest_key("tiny", 1)))
        assert manifest["digest"] == "sha512"
        assert signed_message(MANIFEST_TYPE, manifest["payload"].encode(), "sha512") in fake.signed
    finally:
        write_stack(env, stable=1)


def test_cloud_kms_mistakes_are_user_errors(monkeypatch: pytest.MonkeyPatch,
                                            cloud_kms: tuple[FakeCloudKms, Ed25519PrivateKey]) -> None:
    fake, _ = cloud_kms
    with pytest.raises(UserError, match="answered HTTP 404") as info:
        GcpKmsSigner(VERSION.replace("/1", "/2"), stack_file="stacks/Pulumi.x.yaml")
    assert "roles/cloudkms.signerVerifier" in info.value.render()
    monkeypatch.setenv("TFPLAT_GCP_ACCESS_TOKEN", "expired")
    with pytest.raises(UserError, match="answered HTTP 401"):
        GcpKmsSigner(VERSION, stack_file="stacks/Pulumi.x.yaml")

    other = FakeCloudKms(Ed25519PrivateKey.generate(), algorithm="EC_SIGN_P256_SHA256")
    monkeypatch.setenv("TFPLAT_GCP_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("TFPLAT_GCP_KMS_ENDPOINT", other.endpoint)
    try:
        with pytest.raises(UserError, match="not an Ed25519 signing key version"):
            GcpKmsSigner(VERSION, stack_file="stacks/Pulumi.x.yaml")
    finally:
        other.server.shutdown()

    monkeypatch.delenv("TFPLAT_GCP_ACCESS_TOKEN")
    monkeypatch.setattr("modelkit.edge.kms.METADATA_TOKEN_URL", f"{fake.endpoint}/no-metadata-server-here")
    with pytest.raises(UserError, match="no Google Cloud access token") as info:
        GcpKmsSigner(VERSION, stack_file="stacks/Pulumi.x.yaml")
    assert "gcloud auth print-access-token" in info.value.render()


@pytest.mark.cloud
@pytest.mark.skipif(not (os.environ.get("TFPLAT_CLOUD_TESTS") == "1" and os.environ.get("TFPLAT_TEST_GCP_KMS_KEY")),
                    reason="opt-in: TFPLAT_CLOUD_TESTS=1, TFPLAT_TEST_GCP_KMS_KEY (an EC_SIGN_ED25519 key version) "
                           "and a token ($TFPLAT_GCP_ACCESS_TOKEN or a metadata server)")
def test_a_real_cloud_kms_key_signs_what_devices_verify() -> None:
    signer = GcpKmsSigner(os.environ["TFPLAT_TEST_GCP_KMS_KEY"], stack_file="(TFPLAT_TEST_GCP_KMS_KEY)")
    raw = signing.envelope({"model": "tiny", "version": 1}, MANIFEST_TYPE, signer, KEY_ID)
    assert open_envelope(raw, MANIFEST_TYPE, {KEY_ID: public_key_from_b64(signer.public_b64)}) == {
        "model": "tiny", "version": 1}
