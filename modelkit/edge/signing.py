"""Ed25519 signing keys for edge manifests and channel pointers.

Two kinds of signer, both pure Ed25519 (RFC 8032), so devices verify either the same way:
- a private key that is a Pulumi secret (tfplat:edge.signing.private_key), handed to
  `edge publish` through an environment variable or a file (LocalSigner);
- a key in AWS KMS or Google Cloud KMS (tfplat:edge.signing.kms_key), whose private half
  never leaves it (modelkit.edge.kms).
The private key never lives in the repository. Only public keys (base64 of the 32 raw
bytes) appear in stack files.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
import os
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from modelkit.device.client import canonical_json, signed_message
from modelkit.errors import UserError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from infra.config.spec import EdgeSpec


class Signer(Protocol):
    """Signs envelope messages with one Ed25519 key."""

    @property
    def source(self) -> str:
        """Where the key is, for messages (never the key itself)."""

    @property
    def public_b64(self) -> str:
        """The public key as stack files pin it (base64 of the 32 raw bytes)."""

    @property
    def digest(self) -> str | None:
        """None: the message is the payload (envelope v1); "sha512": its digest (v2)."""

    def sign(self, message: bytes) -> bytes: ...


@dataclass(frozen=True)
class LocalSigner:
    """A private key held by this process (from a Pulumi secret); signs v1 envelopes."""

    key: Ed25519PrivateKey
    source: str = "a local key"
    digest: str | None = None

    @property
    def public_b64(self) -> str:
        return public_b64(self.key)

    def sign(self, message: bytes) -> bytes:
        return self.key.sign(message)

KEY_ENV = "TFPLAT_EDGE_SIGNING_KEY"  # the PEM itself
KEY_FILE_ENV = "TFPLAT_EDGE_SIGNING_KEY_FILE"  # or a path to it


@dataclass(frozen=True)
class KeyPair:
    private_pem: str
    public_b64: str


def public_b64(key: Ed25519PrivateKey) -> str:
    from cryptography.hazmat.primitives import serialization

    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def generate() -> KeyPair:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return KeyPair(private_pem=pem, public_b64=public_b64(key))


def load_private_key(key_file: str | None = None) -> tuple[Ed25519PrivateKey, str]:
    """The signing key from --signing-key-file, $TFPLAT_EDGE_SIGNING_KEY_FILE or $TFPLAT_EDGE_SIGNING_KEY.

    Returns (key, where it came from) so errors can name the source without showing the key.
    """
    path = key_file or os.environ.get(KEY_FILE_ENV)
    if path:
        source = path
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise UserError.one(file=path, field="", message=f"cannot read the signing key ({exc.strerror})",
                                fix="pass the path of the PEM file `edge keygen` printed") from exc
    elif os.environ.get(KEY_ENV):
        source, data = f"${KEY_ENV}", os.environ[KEY_ENV].encode()
    else:
        raise UserError.one(
            file="(environment)", field=KEY_ENV, message="no signing key given",
            fix=f"export {KEY_ENV}=\"$(pulumi config get --path 'tfplat:edge.signing.private_key')\" "
                "or pass --signing-key-file")
    return load_private_key_pem(data, source), source


def load_private_key_pem(data: bytes, source: str) -> Ed25519PrivateKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise UserError.one(file=source, field="", message="not an unencrypted PEM private key",
                            fix="use the private key `tfplat-model edge keygen` printed") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise UserError.one(file=source, field="", value=type(key).__name__, message="not an Ed25519 key",
                            fix="generate one with `tfplat-model edge keygen`")
    return key


def envelope(payload: dict[str, object], payload_type: str, key: Ed25519PrivateKey | Signer, key_id: str) -> bytes:
    """A signed document. Ed25519 is deterministic: same payload and key, same bytes, so an
    unchanged re-publish finds identical objects and uploads nothing."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    signer: Signer = LocalSigner(key) if isinstance(key, Ed25519PrivateKey) else key
    text = canonical_json(payload).decode()
    sig = signer.sign(signed_message(payload_type, text.encode(), signer.digest))
    env: dict[str, object] = {"key_id": key_id, "payload": text, "payload_type": payload_type,
                              "signature": base64.b64encode(sig).decode()}
    if signer.digest is not None:
        env["digest"] = signer.digest
    return canonical_json(env) + b"\n"


def signer_for(edge: EdgeSpec, stack_file: str, key_file: str | None) -> Signer:
    """The stack's signer: its KMS key (signing.kms_key) if it names one, else the private key
    from --signing-key-file / the environment."""
    if edge.kms_key:
        if key_file:
            raise UserError.one(file="(command line)", field="--signing-key-file", value=key_file,
                                message=f"{stack_file} signs with the KMS key {edge.kms_key}, not a key file",
                                fix="drop --signing-key-file (or remove signing.kms_key from the stack)")
        from infra.rules.kms import kms_provider
        from modelkit.edge.kms import AwsKmsSigner, GcpKmsSigner

        if kms_provider(edge.kms_key) == "gcp":
            return GcpKmsSigner(edge.kms_key, stack_file=stack_file)
        return AwsKmsSigner(edge.kms_key, stack_file=stack_file)
    key, source = load_private_key(key_file)
    return LocalSigner(key, source)
