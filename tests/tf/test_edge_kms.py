"""Keys in a cloud KMS: TUF role keys (signing.<role>.kms_key) and the legacy key that signs the bootstrap root.

moto has no KMS signing, so AWS KMS is botocore's Stubber on a real KMS client:
securesystemslib's AWSSigner (under modelkit.edge.kms.AwsKmsSigner) makes real requests,
which botocore checks against the KMS service model and the Stubber against the exact
parameters KMS must get (MessageType DIGEST, SigningAlgorithm ECDSA_SHA_256, the SHA-256 of
the metadata); the signatures come from a real ECDSA P-256 key held in KMS's place. Devices
then verify the published metadata with the public key alone.

Cloud KMS has neither an emulator nor a Stubber: a local HTTP server implements its two
documented REST methods for one key version, with a real key, and refuses anything else
(path, body fields, bearer token). Opt-in tests (cloud marker, TFPLAT_CLOUD_TESTS=1 and
TFPLAT_TEST_KMS_KEY_ARN or TFPLAT_TEST_GCP_KMS_KEY) use real keys.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
import hashlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import json
import os
from pathlib import Path
import threading
from typing import Any

from botocore.session import get_session
from botocore.stub import Stubber
from conftest import S3, Env
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from edgekit import TestStack, signer
import pytest
from securesystemslib.signer import SSlibKey
from tuf.api.metadata import Metadata, Timestamp

from modelkit.config import load_stack
from modelkit.device.legacy import bootstrap_root
from modelkit.edge import legacy
from modelkit.edge.build import BuildResult
from modelkit.edge.keys import role_signer, sign_metadata
from modelkit.edge.kms import AwsKmsSigner, GcpKmsSigner
from modelkit.errors import UserError

ARN = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
FIELD = "config.tfplat:edge.signing.online.kms_key"


def spki(public: Any) -> str:
    return base64.b64encode(public.public_bytes(serialization.Encoding.DER,
                                                serialization.PublicFormat.SubjectPublicKeyInfo)).decode()


class StubbedKms:
    """A KMS client whose key is `key`: GetPublicKey answers, then Sign for each message."""

    def __init__(self, key: Any, *, key_spec: str = "ECC_NIST_P256", answers: int = 1) -> None:
        self.client: Any = get_session().create_client("kms", region_name="eu-west-1", aws_access_key_id="test",
                                                       aws_secret_access_key="test")
        self.stub = Stubber(self.client)
        self.messages: list[bytes] = []
        ed = isinstance(key, Ed25519PrivateKey)
        for _ in range(answers):
            self.stub.add_response("get_public_key", {
                "KeyId": ARN, "PublicKey": key.public_key().public_bytes(
                    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo),
                "KeySpec": key_spec, "KeyUsage": "SIGN_VERIFY",
                "SigningAlgorithms": ["ED25519_SHA_512"] if ed else ["ECDSA_SHA_256"]}, {"KeyId": ARN})

        def answer_sign(params: dict[str, Any], **_: Any) -> None:
            # Queued just in time, with the request KMS must receive.
            message = params["Message"]
            self.messages.append(message)
            if ed:  # legacy: pure Ed25519 over the raw (v2 envelope) message
                expected = {"KeyId": ARN, "Message": message, "MessageType": "RAW",
                            "SigningAlgorithm": "ED25519_SHA_512"}
                signature, algorithm = key.sign(message), "ED25519_SHA_512"
            else:  # TUF: ECDSA over the SHA-256 digest securesystemslib computed
                assert len(message) == 32
                expected = {"KeyId": ARN, "Message": message, "MessageType": "DIGEST",
                            "SigningAlgorithm": "ECDSA_SHA_256"}
                signature, algorithm = key.sign(message, ec.ECDSA(Prehashed(hashes.SHA256()))), "ECDSA_SHA_256"
            self.stub.add_response("sign", {"KeyId": ARN, "Signature": signature, "SigningAlgorithm": algorithm},
                                   expected)

        # provide-client-params comes before the Stubber's own checks (before-parameter-build).
        self.client.meta.events.register("provide-client-params.kms.Sign", answer_sign)
        self.stub.activate()


def test_an_online_key_in_aws_kms_signs_what_devices_verify(env: Env, s3: S3, builds: dict[int, BuildResult],
                                                           tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    stack = TestStack(env, "edgeawskms", online_kms=(ARN, spki(key.public_key()))).write(stable=1)
    stack.ceremony()
    spec_edge = load_stack(stack.name).edge
    kms = StubbedKms(key)
    online = role_signer("online", spec_edge.online, str(stack.file), kms_client=kms.client)
    assert isinstance(online, AwsKmsSigner) and online.public_key.scheme == "ecdsa-sha2-nistp256"
    bucket = s3.new_bucket()
    first = stack.publish(bucket, signers={"online": online, "targets": signer(stack.keys.targets)})
    assert "snapshot v1" in first.signed and "timestamp v1" in first.signed
    timestamp = Metadata.from_bytes(s3.get(bucket, "metadata/timestamp.json"))
    assert hashlib.sha256(timestamp.signed_bytes).digest() in kms.messages
    result = stack.device(s3, bucket, tmp_path).update()
    assert result.error is None and result.installed is not None and result.installed.version == 1
    kms.stub.assert_no_pending_responses()

    signed_so_far = len(kms.messages)
    again = stack.publish(bucket, signers={"online": AwsKmsSigner.for_key(ARN, stack_file="s", field=FIELD,
                                                                          client=StubbedKms(key).client),
                                           "targets": signer(stack.keys.targets)})
    assert again.uploaded_bytes == 0 and again.signed == [] and len(kms.messages) == signed_so_far


def test_a_kms_key_other_than_the_pinned_one_never_signs(env: Env) -> None:
    stack = TestStack(env, "edgeawskms2", online_kms=(ARN, spki(ec.generate_private_key(ec.SECP256R1())
                                                               .public_key()))).write(stable=1)
    edge = load_stack(stack.name).edge
    other = StubbedKms(ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(UserError, match=f"the KMS key {ARN} is not the online key the stack pins"):
        role_signer("online", edge.online, str(stack.file), kms_client=other.client)


def test_unusable_aws_kms_keys_are_user_errors_naming_the_stack_field() -> None:
    with pytest.raises(UserError, match=r"not an ECDSA signing key \(KeySpec ECC_NIST_EDWARDS25519") as info:
        AwsKmsSigner.for_key(ARN, stack_file="stacks/Pulumi.x.yaml", field=FIELD,
                             client=StubbedKms(Ed25519PrivateKey.generate(), key_spec="ECC_NIST_EDWARDS25519").client)
    assert FIELD in info.value.render() and "--key-spec ECC_NIST_P256" in info.value.render()
    client = get_session().create_client("kms", region_name="eu-west-1", aws_access_key_id="t",
                                         aws_secret_access_key="t")
    stub = Stubber(client)
    stub.add_client_error("get_public_key", service_error_code="AccessDeniedException",
                          service_message="not authorized to perform: kms:GetPublicKey", http_status_code=400)
    stub.activate()
    with pytest.raises(UserError, match=r"cannot read the key's public key .*AccessDeniedException") as info:
        AwsKmsSigner.for_key(ARN, stack_file="stacks/Pulumi.x.yaml", field=FIELD, client=client)
    assert "kms:GetPublicKey and kms:Sign" in info.value.render()


def test_a_kms_signature_that_does_not_verify_never_goes_up() -> None:
    key, liar = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    kms = StubbedKms(key)
    aws = AwsKmsSigner.for_key(ARN, stack_file="s", field=FIELD, client=kms.client)
    aws._public_key = SSlibKey.from_crypto(liar.public_key())
    md = Metadata(Timestamp())
    with pytest.raises(UserError, match="KMS returned a signature that its own public key does not verify"):
        sign_metadata(md, aws)  # as publish signs: the UserError reaches the CLI, not python-tuf's wrapper


# --------------------------------------------------------------------------- Google Cloud KMS

VERSION = "projects/acme-ml-prod/locations/global/keyRings/edge/cryptoKeys/signing/cryptoKeyVersions/1"
TOKEN = "ya29.test-token"


class FakeCloudKms:
    """Cloud KMS's REST API as documented (cryptoKeyVersions.getPublicKey and .asymmetricSign),
    answering for one key version with a real key; anything else is an error."""

    def __init__(self, key: Any, algorithm: str) -> None:
        self.requests: list[dict[str, Any]] = []
        fake = self
        pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        digest_field = {"EC_SIGN_P256_SHA256": "sha256", "EC_SIGN_P384_SHA384": "sha384"}.get(algorithm)

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
                    self.reply(200, {"pem": pem, "algorithm": algorithm, "name": VERSION, "protectionLevel": "HSM"})

            def do_POST(self) -> None:
                if not self.authorized():
                    return
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append(body)
                wanted = {"digest"} if digest_field else {"data"}
                if self.path != f"/v1/{VERSION}:asymmetricSign" or set(body) != wanted:
                    self.reply(400, {"error": {"code": 400, "status": "INVALID_ARGUMENT"}})
                    return
                if digest_field:
                    if set(body["digest"]) != {digest_field}:
                        self.reply(400, {"error": {"code": 400, "status": "INVALID_ARGUMENT"}})
                        return
                    digest = base64.b64decode(body["digest"][digest_field], validate=True)
                    sig = key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256() if digest_field == "sha256"
                                                               else hashes.SHA384())))
                else:
                    sig = key.sign(base64.b64decode(body["data"], validate=True))
                self.reply(200, {"signature": base64.b64encode(sig).decode(), "name": VERSION})

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def cloud_kms(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeCloudKms, Any]]:
    key = ec.generate_private_key(ec.SECP256R1())
    fake = FakeCloudKms(key, "EC_SIGN_P256_SHA256")
    monkeypatch.setenv("TFPLAT_GCP_KMS_ENDPOINT", fake.endpoint)
    monkeypatch.setenv("TFPLAT_GCP_ACCESS_TOKEN", TOKEN)
    yield fake, key
    fake.server.shutdown()


def test_an_online_key_in_cloud_kms_signs_what_devices_verify(env: Env, s3: S3, builds: dict[int, BuildResult],
                                                             tmp_path: Path,
                                                             cloud_kms: tuple[FakeCloudKms, Any]) -> None:
    fake, key = cloud_kms
    stack = TestStack(env, "edgegcpkms", online_kms=(VERSION, spki(key.public_key()))).write(stable=1)
    stack.ceremony()
    edge = load_stack(stack.name).edge
    online = role_signer("online", edge.online, str(stack.file))
    assert isinstance(online, GcpKmsSigner) and online.public_key.scheme == "ecdsa-sha2-nistp256"
    bucket = s3.new_bucket()
    stack.publish(bucket, signers={"online": online, "targets": signer(stack.keys.targets)})
    timestamp = Metadata.from_bytes(s3.get(bucket, "metadata/timestamp.json"))
    sent = base64.b64encode(hashlib.sha256(timestamp.signed_bytes).digest()).decode()
    assert {"digest": {"sha256": sent}} in fake.requests  # the digest, never the metadata, leaves the machine
    result = stack.device(s3, bucket, tmp_path).update()
    assert result.error is None and result.installed is not None and result.installed.version == 1


def test_an_ed25519_cloud_kms_key_signs_the_metadata_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    key = Ed25519PrivateKey.generate()
    fake = FakeCloudKms(key, "EC_SIGN_ED25519")
    monkeypatch.setenv("TFPLAT_GCP_KMS_ENDPOINT", fake.endpoint)
    monkeypatch.setenv("TFPLAT_GCP_ACCESS_TOKEN", TOKEN)
    try:
        gcp = GcpKmsSigner.for_key(VERSION, stack_file="s", field=FIELD)
        md = Metadata(Timestamp())
        md.sign(gcp)
        gcp.public_key.verify_signature(md.signatures[gcp.public_key.keyid], md.signed_bytes)
        assert fake.requests == [{"data": base64.b64encode(md.signed_bytes).decode()}]
    finally:
        fake.server.shutdown()


def test_cloud_kms_mistakes_are_user_errors(monkeypatch: pytest.MonkeyPatch,
                                            cloud_kms: tuple[FakeCloudKms, Any]) -> None:
    fake, _ = cloud_kms
    with pytest.raises(UserError, match="answered HTTP 404") as info:
        GcpKmsSigner.for_key(VERSION.replace("/1", "/2"), stack_file="stacks/Pulumi.x.yaml", field=FIELD)
    assert "roles/cloudkms.signerVerifier" in info.value.render()
    monkeypatch.setenv("TFPLAT_GCP_ACCESS_TOKEN", "expired")
    with pytest.raises(UserError, match="answered HTTP 401"):
        GcpKmsSigner.for_key(VERSION, stack_file="stacks/Pulumi.x.yaml", field=FIELD)
    other = FakeCloudKms(ec.generate_private_key(ec.SECP256R1()), algorithm="RSA_SIGN_PSS_2048_SHA256")
    monkeypatch.setenv("TFPLAT_GCP_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("TFPLAT_GCP_KMS_ENDPOINT", other.endpoint)
    try:
        with pytest.raises(UserError, match="not a supported signing key version"):
            GcpKmsSigner.for_key(VERSION, stack_file="stacks/Pulumi.x.yaml", field=FIELD)
    finally:
        other.server.shutdown()
    monkeypatch.delenv("TFPLAT_GCP_ACCESS_TOKEN")
    monkeypatch.setattr("modelkit.edge.cloudkms.METADATA_TOKEN_URL", f"{fake.endpoint}/no-metadata-server-here")
    with pytest.raises(UserError, match="no Google Cloud access token") as info:
        GcpKmsSigner.for_key(VERSION, stack_file="stacks/Pulumi.x.yaml", field=FIELD)
    assert "gcloud auth print-access-token" in info.value.render()


# --------------------------------------------------------------------------- the legacy key in KMS


def test_a_legacy_key_in_aws_or_cloud_kms_signs_the_bootstrap_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """Devices verify the bootstrap with the raw public key they pin; KMS signs a v2 envelope (the
    root's SHA-512 inside a short message: AWS KMS signs at most 4096 bytes)."""
    root = json.dumps({"signed": {"_type": "root", "pad": "x" * 6000}, "signatures": []}).encode()
    key = Ed25519PrivateKey.generate()
    pinned = {"legacy-1": legacy.raw_b64(key.public_key())}
    kms = StubbedKms(key, key_spec="ECC_NIST_EDWARDS25519")
    aws = legacy.AwsLegacySigner(ARN, stack_file="s", client=kms.client)
    doc = legacy.bootstrap_document(root, environment="prod", stack="prod-aws", signer=aws, key_id="legacy-1")
    assert bootstrap_root(doc, pinned, "prod") == root
    assert len(kms.messages) == 1 and len(kms.messages[0]) < 200 and kms.messages[0].startswith(b"tfplat-edge-v2")

    fake = FakeCloudKms(key, "EC_SIGN_ED25519")
    monkeypatch.setenv("TFPLAT_GCP_KMS_ENDPOINT", fake.endpoint)
    monkeypatch.setenv("TFPLAT_GCP_ACCESS_TOKEN", TOKEN)
    try:
        gcp = legacy.GcpLegacySigner(VERSION, stack_file="s")
        doc = legacy.bootstrap_document(root, environment="prod", stack="prod", signer=gcp, key_id="legacy-1")
        assert bootstrap_root(doc, pinned, "prod") == root
    finally:
        fake.server.shutdown()


@pytest.mark.cloud
@pytest.mark.skipif(not (os.environ.get("TFPLAT_CLOUD_TESTS") == "1" and os.environ.get("TFPLAT_TEST_KMS_KEY_ARN")),
                    reason="opt-in: TFPLAT_CLOUD_TESTS=1 and TFPLAT_TEST_KMS_KEY_ARN (an ECC_NIST_P256 signing key)")
def test_a_real_aws_kms_key_signs_what_devices_verify() -> None:
    aws = AwsKmsSigner.for_key(os.environ["TFPLAT_TEST_KMS_KEY_ARN"], stack_file="(TFPLAT_TEST_KMS_KEY_ARN)",
                               field=FIELD)
    md = Metadata(Timestamp())
    md.sign(aws)
    aws.public_key.verify_signature(md.signatures[aws.public_key.keyid], md.signed_bytes)


@pytest.mark.cloud
@pytest.mark.skipif(not (os.environ.get("TFPLAT_CLOUD_TESTS") == "1" and os.environ.get("TFPLAT_TEST_GCP_KMS_KEY")),
                    reason="opt-in: TFPLAT_CLOUD_TESTS=1, TFPLAT_TEST_GCP_KMS_KEY (an EC_SIGN_P256_SHA256 key version) "
                           "and a token ($TFPLAT_GCP_ACCESS_TOKEN or a metadata server)")
def test_a_real_cloud_kms_key_signs_what_devices_verify() -> None:
    gcp = GcpKmsSigner.for_key(os.environ["TFPLAT_TEST_GCP_KMS_KEY"], stack_file="(TFPLAT_TEST_GCP_KMS_KEY)",
                               field=FIELD)
    md = Metadata(Timestamp())
    md.sign(gcp)
    gcp.public_key.verify_signature(md.signatures[gcp.public_key.keyid], md.signed_bytes)
