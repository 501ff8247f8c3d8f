"""The pinned-key scheme from before TUF, kept for one job: signing the bootstrap root.

Devices in the field pin the legacy Ed25519 key (tfplat:edge.signing.legacy). `edge migrate`
has that key sign the stack's TUF root once, as a legacy envelope at legacy/tuf-root.json;
the TUF client verifies it with the keys the device already pins (modelkit.device.legacy)
and trusts only TUF from then on. The key signs as it did before: a private key that is a
Pulumi secret (envelope v1), or a key in AWS KMS or Cloud KMS (envelope v2, over the
payload's SHA-512: AWS KMS signs at most 4096 bytes, and a root is longer).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
import json
import os
from typing import TYPE_CHECKING, Any, Protocol

from modelkit.device.legacy import BOOTSTRAP_TYPE, canonical_json, signed_message
from modelkit.edge.keys import read_key_file
from modelkit.errors import UserError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

    from infra.config.spec import EdgeLegacy

KEY_ENV = "TFPLAT_EDGE_LEGACY_KEY"  # the PEM itself (the stack's signing.legacy.private_key)
FIELD = "config.tfplat:edge.signing.legacy"


class LegacySigner(Protocol):
    @property
    def source(self) -> str: ...

    @property
    def public_b64(self) -> str:
        """base64 of the 32 raw bytes, as devices pin it."""

    @property
    def digest(self) -> str | None:
        """None: the message is the payload (envelope v1); "sha512": its digest (v2)."""

    def sign(self, message: bytes) -> bytes: ...


def raw_b64(key: Ed25519PublicKey) -> str:
    from cryptography.hazmat.primitives import serialization

    return base64.b64encode(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)).decode()


@dataclass(frozen=True)
class LocalLegacySigner:
    key: Ed25519PrivateKey
    source: str = "a local key"
    digest: str | None = None

    @property
    def public_b64(self) -> str:
        return raw_b64(self.key.public_key())

    def sign(self, message: bytes) -> bytes:
        return self.key.sign(message)


class AwsLegacySigner:
    """An Ed25519 key in AWS KMS (KeySpec ECC_NIST_EDWARDS25519): pure Ed25519 over a v2 message."""

    digest = "sha512"

    def __init__(self, key_arn: str, *, stack_file: str, client: Any = None) -> None:
        from botocore.exceptions import BotoCoreError, ClientError
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
        from cryptography.hazmat.primitives.serialization import load_der_public_key

        from infra.rules.kms import kms_key_region

        self.key_arn, self.stack_file, self.source = key_arn, stack_file, f"AWS KMS key {key_arn}"
        if client is None:
            from botocore.session import get_session

            client = get_session().create_client("kms", region_name=kms_key_region(key_arn))
        self.client = client
        try:
            info = client.get_public_key(KeyId=key_arn)
        except (BotoCoreError, ClientError) as exc:
            raise self._error(f"cannot read the key's public key ({exc})",
                              "check the ARN and that you may call kms:GetPublicKey and kms:Sign on it") from exc
        public = load_der_public_key(info["PublicKey"]) if info.get("KeySpec") == "ECC_NIST_EDWARDS25519" else None
        if not isinstance(public, Ed25519PublicKey):
            raise self._error(f"not an Ed25519 signing key (KeySpec {info.get('KeySpec')})",
                              "name the Ed25519 key that signs today's documents")
        self._public = public
        self.public_b64 = raw_b64(public)

    def _error(self, message: str, fix: str) -> UserError:
        return UserError.one(file=self.stack_file, field=f"{FIELD}.kms_key", value=self.key_arn, message=message,
                             fix=fix)

    def sign(self, message: bytes) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return bytes(self.client.sign(KeyId=self.key_arn, Message=message, MessageType="RAW",
                                          SigningAlgorithm="ED25519_SHA_512")["Signature"])
        except (BotoCoreError, ClientError) as exc:
            raise self._error(f"KMS did not sign ({exc})", "check that you may call kms:Sign on the key") from exc


class GcpLegacySigner:
    """An EC_SIGN_ED25519 Cloud KMS key version: pure Ed25519 over a v2 message."""

    digest = "sha512"

    def __init__(self, key_version: str, *, stack_file: str) -> None:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
        from cryptography.hazmat.primitives.serialization import load_pem_public_key

        from modelkit.edge.cloudkms import CloudKms

        self.kms = CloudKms(key_version, stack_file=stack_file, field=f"{FIELD}.kms_key")
        self.source = f"Cloud KMS key version {key_version}"
        algorithm, pem = self.kms.public_key()
        public = load_pem_public_key(pem) if algorithm == "EC_SIGN_ED25519" else None
        if not isinstance(public, Ed25519PublicKey):
            raise self.kms.error(f"not an Ed25519 signing key version (algorithm {algorithm})",
                                 "name the Ed25519 key version that signs today's documents")
        self.public_b64 = raw_b64(public)

    def sign(self, message: bytes) -> bytes:
        return self.kms.sign(data=message)


def load_private_key_pem(data: bytes, source: str) -> Ed25519PrivateKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise UserError.one(file=source, field="", message="not an unencrypted PEM private key",
                            fix="use the legacy key's PEM (the stack's signing.legacy.private_key)") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise UserError.one(file=source, field="", value=type(key).__name__, message="not an Ed25519 key",
                            fix="use the legacy key's PEM (the stack's signing.legacy.private_key)")
    return key


def legacy_signer(legacy: EdgeLegacy, stack_file: str, key_file: str | None = None) -> LegacySigner:
    """The legacy key: its KMS key if the stack names one, else the PEM from --legacy-key-file or
    the environment; refused unless it is the key devices pin under legacy.key_id."""
    signer: LegacySigner
    if legacy.kms_key:
        from infra.rules.kms import kms_provider

        signer = (GcpLegacySigner(legacy.kms_key, stack_file=stack_file) if kms_provider(legacy.kms_key) == "gcp"
                  else AwsLegacySigner(legacy.kms_key, stack_file=stack_file))
    else:
        path = key_file or os.environ.get(f"{KEY_ENV}_FILE")
        if path:
            signer = LocalLegacySigner(load_private_key_pem(read_key_file(path), path), path)
        elif os.environ.get(KEY_ENV):
            signer = LocalLegacySigner(load_private_key_pem(os.environ[KEY_ENV].encode(), f"${KEY_ENV}"), f"${KEY_ENV}")
        else:
            raise UserError.one(file="(environment)", field=KEY_ENV, message="no legacy signing key given",
                                fix=f"export {KEY_ENV}=\"$(pulumi config get --path "
                                    "'tfplat:edge.signing.legacy.private_key' -s <stack>)\" or pass --legacy-key-file")
    pinned = legacy.public_keys.get(legacy.key_id)
    if pinned != signer.public_b64:
        raise UserError.one(file=stack_file, field=f"{FIELD}.public_keys.{legacy.key_id}", value=pinned,
                            message=f"the key from {signer.source} is not the one devices pin as {legacy.key_id!r} "
                                    f"(its public key is {signer.public_b64})",
                            fix="sign with the key devices pin today")
    return signer


def envelope(payload: Mapping[str, object], payload_type: str, signer: LegacySigner, key_id: str) -> bytes:
    """A signed legacy document (Ed25519 is deterministic: same payload and key, same bytes)."""
    text = canonical_json(payload).decode()
    sig = signer.sign(signed_message(payload_type, text.encode(), signer.digest))
    env: dict[str, object] = {"key_id": key_id, "payload": text, "payload_type": payload_type,
                              "signature": base64.b64encode(sig).decode()}
    if signer.digest is not None:
        env["digest"] = signer.digest
    return canonical_json(env) + b"\n"


def bootstrap_document(root: bytes, *, environment: str, stack: str, signer: LegacySigner, key_id: str) -> bytes:
    """legacy/tuf-root.json: the root (exact bytes, as text) and the environment it is for."""
    payload: dict[str, Any] = {"environment": environment, "stack": stack, "root": root.decode()}
    json.loads(root)  # a root that is not JSON never gets signed
    return envelope(payload, BOOTSTRAP_TYPE, signer, key_id)
