"""Keys of the edge repository's TUF roles: parsing, generation, and the signer of each role.

Stack files hold public keys only, as base64 of their DER SubjectPublicKeyInfo (the form AWS
KMS returns and `tfplat-model edge keygen` prints). Private keys are never in the repository:
- root keys stay offline; the root ceremony signs with them from PEM files (passphrase
  protected or not) on the key holder's machine;
- the targets and online keys are a Pulumi secret each (handed to `edge publish` through an
  environment variable or a file) or a key in AWS KMS / Cloud KMS (modelkit.edge.kms).
Signers are securesystemslib's: CryptoSigner for PEM keys, AWSSigner and a Cloud KMS signer
for KMS keys; every one is checked against the public key the stack pins before it signs.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
import getpass
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelkit.errors import UserError

if TYPE_CHECKING:
    from securesystemslib.signer import Key, Signer, SSlibKey
    from tuf.api.metadata import Metadata

    from infra.config.spec import EdgeKey

ROLES = ("root", "targets", "online")
KEY_ENV = {"targets": "TFPLAT_EDGE_TARGETS_KEY", "online": "TFPLAT_EDGE_ONLINE_KEY"}  # the PEM itself
PASSPHRASE_ENV = "TFPLAT_EDGE_KEY_PASSPHRASE"  # for an encrypted PEM, else asked on the terminal
ALGORITHMS = ("ed25519", "ecdsa-p256")
NAME_FIELD = "x-tfplat-name"  # the key's name (root key holder, "targets", "online") in root metadata


@dataclass(frozen=True)
class KeyPair:
    private_pem: str
    public_b64: str  # base64 DER SubjectPublicKeyInfo


def public_key(b64: str, *, where: str = "(key)", field: str = "") -> SSlibKey:
    """The TUF key of a base64 DER SubjectPublicKeyInfo (Ed25519, ECDSA P-256/P-384)."""
    from cryptography.hazmat.primitives.serialization import load_der_public_key
    from securesystemslib.signer import SSlibKey

    try:
        return SSlibKey.from_crypto(load_der_public_key(base64.b64decode(b64, validate=True)))
    except (ValueError, binascii.Error, TypeError) as exc:
        raise UserError.one(file=where, field=field, value=b64, message=f"not a usable public key ({exc})",
                            fix="paste the `public_key:` line `tfplat-model edge keygen` prints") from exc


def spki_b64(key: Key) -> str:
    """The base64 DER SubjectPublicKeyInfo of a TUF key (how stack files write it)."""
    from cryptography.hazmat.primitives import serialization
    from securesystemslib.signer import SSlibKey

    if not isinstance(key, SSlibKey):
        return f"({key.keytype} key {key.keyid})"
    der = key._crypto_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def generate(algorithm: str = "ed25519", passphrase: bytes | None = None) -> KeyPair:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    private = (ed25519.Ed25519PrivateKey.generate() if algorithm == "ed25519"
               else ec.generate_private_key(ec.SECP256R1()))
    encryption = (serialization.BestAvailableEncryption(passphrase) if passphrase
                  else serialization.NoEncryption())
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption).decode()
    der = private.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return KeyPair(private_pem=pem, public_b64=base64.b64encode(der).decode())


def load_signer(data: bytes, source: str, *, ask: bool = False) -> Signer:
    """A securesystemslib CryptoSigner for a PEM private key (asking for its passphrase if `ask`)."""
    from cryptography.hazmat.primitives import serialization
    from securesystemslib.signer import CryptoSigner

    password = None
    if b"ENCRYPTED" in data:
        text = os.environ.get(PASSPHRASE_ENV) or (getpass.getpass(f"passphrase of {source}: ") if ask else "")
        if not text:
            raise UserError.one(file=source, field="", message="the key is encrypted and no passphrase was given",
                                fix=f"type it when asked, or set ${PASSPHRASE_ENV}")
        password = text.encode()
    try:
        private = serialization.load_pem_private_key(data, password=password)
        return CryptoSigner(private)  # key types CryptoSigner refuses raise ValueError
    except (ValueError, TypeError) as exc:
        raise UserError.one(file=source, field="", message=f"not a usable PEM private key ({exc})",
                            fix="use the private key `tfplat-model edge keygen` printed (and its passphrase)") from exc


def sign_metadata(md: Metadata[Any], signer: Signer, *, append: bool = False) -> None:
    """md.sign(signer), with a signer's own UserError (a KMS refusing, say) kept as it is:
    python-tuf wraps whatever a signer raises in UnsignedMetadataError."""
    from tuf.api.exceptions import UnsignedMetadataError

    try:
        md.sign(signer, append=append)
    except UnsignedMetadataError as exc:
        if isinstance(exc.__cause__, UserError):
            raise exc.__cause__ from None
        raise


def read_key_file(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise UserError.one(file=path, field="", message=f"cannot read the key ({exc.strerror})",
                            fix="pass the path of the PEM file `tfplat-model edge keygen` wrote") from exc


def _local_signer(role: str, key_file: str | None) -> Signer:
    env = KEY_ENV[role]
    path = key_file or os.environ.get(f"{env}_FILE")
    if path:
        return load_signer(read_key_file(path), path)
    if os.environ.get(env):
        return load_signer(os.environ[env].encode(), f"${env}")
    raise UserError.one(
        file="(environment)", field=env, message=f"no {role} signing key given",
        fix=f"export {env}=\"$(pulumi config get --path 'tfplat:edge.signing.{role}.private_key' -s <stack>)\", "
            f"or {env}_FILE=<pem file>, or pass --{role}-key-file")


def role_signer(role: str, key: EdgeKey, stack_file: str, key_file: str | None = None, *,
                kms_client: object = None) -> Signer:
    """The signer of the targets or online role: its KMS key if the stack names one, else the
    private key from --<role>-key-file / the environment. Refused unless its public key is the
    one the stack pins for the role."""
    field = f"config.tfplat:edge.signing.{role}"
    if key.kms_key:
        if key_file:
            raise UserError.one(file="(command line)", field=f"--{role}-key-file", value=key_file,
                                message=f"{stack_file} signs the {role} role with the KMS key {key.kms_key}",
                                fix=f"drop --{role}-key-file (or remove signing.{role}.kms_key from the stack)")
        from modelkit.edge.kms import kms_signer

        signer = kms_signer(key.kms_key, stack_file=stack_file, field=f"{field}.kms_key", aws_client=kms_client)
        source = f"the KMS key {key.kms_key}"
    else:
        signer = _local_signer(role, key_file)
        source = "the private key given"
    pinned = public_key(key.public_key or "", where=stack_file, field=f"{field}.public_key")
    if signer.public_key.keyval != pinned.keyval or signer.public_key.keytype != pinned.keytype:
        raise UserError.one(
            file=stack_file, field=f"{field}.public_key", value=key.public_key,
            message=f"{source} is not the {role} key the stack pins (its public key is "
                    f"{spki_b64(signer.public_key)})",
            fix=f"sign with the {role} key the stack names, or rotate it (docs/runbooks/rotate-edge-signing-key.md)")
    return signer
