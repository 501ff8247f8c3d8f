"""Signing in a cloud KMS (AWS KMS, Google Cloud KMS): the Ed25519 private key never leaves it.

The stack names the key (tfplat:edge.signing.kms_key, the ARN of a key or alias with KeySpec
ECC_NIST_EDWARDS25519 and KeyUsage SIGN_VERIFY). The publisher reads its public key once
(GetPublicKey) and refuses to publish unless the stack pins exactly that key for
signing.key_id, then asks KMS to sign each envelope message: SigningAlgorithm
ED25519_SHA_512 with MessageType RAW is pure Ed25519 (RFC 8032), so devices verify it as
any other signature. KMS signs at most 4096 bytes, and a manifest can be longer, so KMS
signs v2 envelopes (the message carries the payload's SHA-512; see signed_message).

The publisher's identity needs kms:GetPublicKey and kms:Sign on the key.

Google Cloud KMS works the same way through its REST API (GcpKmsSigner): a key version with
algorithm EC_SIGN_ED25519 signs the raw `data` (pure Ed25519). The OAuth access token comes
from $TFPLAT_GCP_ACCESS_TOKEN (e.g. `gcloud auth print-access-token`, or a CI auth step) or
else the metadata server of the GCE/GKE machine running the publisher; modelkit does not
depend on google-auth. The identity needs roles/cloudkms.signerVerifier on the key.
"""

from __future__ import annotations

import base64
import json
import os
from typing import TYPE_CHECKING, Any
import urllib.error
import urllib.request

from modelkit.errors import UserError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

KEY_SPEC = "ECC_NIST_EDWARDS25519"
ALGORITHM = "ED25519_SHA_512"
FIELD = "config.tfplat:edge.signing.kms_key"


class AwsKmsSigner:
    """Signs through AWS KMS Sign; `client` is a botocore KMS client (default: one for the
    key's region, with the usual credential chain)."""

    digest = "sha512"

    def __init__(self, key_arn: str, *, stack_file: str, client: Any = None) -> None:
        from botocore.exceptions import BotoCoreError, ClientError
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        from infra.rules.kms import kms_key_region

        self.key_arn, self.stack_file = key_arn, stack_file
        self.source = f"AWS KMS key {key_arn}"
        region = kms_key_region(key_arn)
        if region is None:  # the loader checks this; a caller passing a key directly may not
            raise self._error("not an AWS KMS key ARN", "use arn:aws:kms:<region>:<account>:key/<key id>")
        if client is None:
            from botocore.config import Config
            from botocore.session import get_session

            client = get_session().create_client(
                "kms", region_name=region, config=Config(retries={"max_attempts": 5, "mode": "standard"}))
        self.client = client
        try:
            info = client.get_public_key(KeyId=key_arn)
        except (BotoCoreError, ClientError) as exc:
            raise self._error(f"cannot read the key's public key ({exc})",
                              "check the ARN and that the publisher may call kms:GetPublicKey and kms:Sign on it "
                              "(docs/edge.md, 'Signing in a cloud KMS')") from exc
        usable = (info.get("KeySpec") == KEY_SPEC and info.get("KeyUsage") == "SIGN_VERIFY"
                  and ALGORITHM in info.get("SigningAlgorithms", []))
        if not usable:
            raise self._error(f"not an Ed25519 signing key (KeySpec {info.get('KeySpec')}, "
                              f"KeyUsage {info.get('KeyUsage')})",
                              f"create one: aws kms create-key --key-spec {KEY_SPEC} --key-usage SIGN_VERIFY")
        public = serialization.load_der_public_key(info["PublicKey"])
        if not isinstance(public, Ed25519PublicKey):  # KeySpec said so; the DER must agree
            raise self._error(f"its public key is {type(public).__name__}, not Ed25519",
                              f"use a key with KeySpec {KEY_SPEC}")
        self._public: Ed25519PublicKey = public
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.public_b64 = base64.b64encode(raw).decode()

    def _error(self, message: str, fix: str) -> UserError:
        return UserError.one(file=self.stack_file, field=FIELD, value=self.key_arn, message=message, fix=fix)

    def sign(self, message: bytes) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError
        from cryptography.exceptions import InvalidSignature

        try:
            signature = bytes(self.client.sign(KeyId=self.key_arn, Message=message, MessageType="RAW",
                                               SigningAlgorithm=ALGORITHM)["Signature"])
        except (BotoCoreError, ClientError) as exc:
            raise self._error(f"KMS did not sign ({exc})",
                              "check that the publisher may call kms:Sign on the key, and that it is enabled") from exc
        try:  # a signature devices would refuse never goes up
            self._public.verify(signature, message)
        except InvalidSignature as exc:
            raise self._error("KMS returned a signature that its own public key does not verify",
                              "check the key in KMS; meanwhile sign with signing.private_key") from exc
        return signature


GCP_ENDPOINT = "https://cloudkms.googleapis.com"
GCP_ENDPOINT_ENV = "TFPLAT_GCP_KMS_ENDPOINT"  # another endpoint (tests)
GCP_TOKEN_ENV = "TFPLAT_GCP_ACCESS_TOKEN"
METADATA_TOKEN_URL = "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token"


class GcpKmsSigner:
    """Signs through Cloud KMS cryptoKeyVersions.asymmetricSign (REST, standard library HTTP)."""

    digest = "sha512"

    def __init__(self, key_version: str, *, stack_file: str) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        self.key_version, self.stack_file = key_version, stack_file
        self.source = f"Cloud KMS key version {key_version}"
        self.endpoint = os.environ.get(GCP_ENDPOINT_ENV, GCP_ENDPOINT).rstrip("/")
        self._token = _gcp_token(stack_file)
        info = self._call("GET", f"{key_version}/publicKey", None, "read the key's public key")
        if info.get("algorithm") != "EC_SIGN_ED25519":
            raise self._error(f"not an Ed25519 signing key version (algorithm {info.get('algorithm')})",
                              "create one: gcloud kms keys create <key> --keyring <ring> --location <location> "
                              "--purpose asymmetric-signing --default-algorithm ec-sign-ed25519")
        public = serialization.load_pem_public_key(str(info.get("pem", "")).encode())
        if not isinstance(public, Ed25519PublicKey):
            raise self._error(f"its public key is {type(public).__name__}, not Ed25519",
                              "use a key version with algorithm EC_SIGN_ED25519")
        self._public: Ed25519PublicKey = public
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.public_b64 = base64.b64encode(raw).decode()

    def _error(self, message: str, fix: str) -> UserError:
        return UserError.one(file=self.stack_file, field=FIELD, value=self.key_version, message=message, fix=fix)

    def _call(self, method: str, path: str, body: dict[str, Any] | None, what: str) -> dict[str, Any]:
        request = urllib.request.Request(
            f"{self.endpoint}/v1/{path}", method=method, data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self._token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as resp:
                reply: dict[str, Any] = json.loads(resp.read())
                return reply
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:300]
            raise self._error(f"cannot {what}: Cloud KMS answered HTTP {exc.code} ({detail})",
                              "check the key version name, and that the publisher's identity has "
                              "roles/cloudkms.signerVerifier on the key (docs/edge.md, 'Signing in a cloud KMS')"
                              ) from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise self._error(f"cannot {what}: {exc}", f"check the network path to {self.endpoint}") from None

    def sign(self, message: bytes) -> bytes:
        from cryptography.exceptions import InvalidSignature

        reply = self._call("POST", f"{self.key_version}:asymmetricSign",
                           {"data": base64.b64encode(message).decode()}, "sign")
        try:
            signature = base64.b64decode(reply["signature"], validate=True)
            self._public.verify(signature, message)  # a signature devices would refuse never goes up
        except (KeyError, ValueError, InvalidSignature) as exc:
            raise self._error("Cloud KMS returned no signature its own public key verifies",
                              "check the key version in Cloud KMS; meanwhile sign with signing.private_key") from exc
        return signature


def _gcp_token(stack_file: str) -> str:
    """$TFPLAT_GCP_ACCESS_TOKEN, else the metadata server's token for the machine's service account."""
    token = os.environ.get(GCP_TOKEN_ENV)
    if token:
        return token.strip()
    request = urllib.request.Request(METADATA_TOKEN_URL, headers={"Metadata-Flavor": "Google"})
    try:
        with urllib.request.urlopen(request, timeout=2) as resp:
            return str(json.loads(resp.read())["access_token"])
    except (urllib.error.URLError, OSError, ValueError, KeyError):
        raise UserError.one(file="(environment)", field=GCP_TOKEN_ENV, message="no Google Cloud access token "
                            f"for the Cloud KMS key in {stack_file} (and no metadata server)",
                            fix=f'export {GCP_TOKEN_ENV}="$(gcloud auth print-access-token)", '
                                "or run where a GCE/GKE service account is attached") from None
