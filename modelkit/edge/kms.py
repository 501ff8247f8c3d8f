"""TUF role signers whose private key never leaves a cloud KMS (signing.<role>.kms_key).

AWS KMS: securesystemslib's AWSSigner (it hashes the metadata locally and has KMS sign the
digest), for keys with KeySpec ECC_NIST_P256 or ECC_NIST_P384. Only its client differs: one
for the region in the key's ARN, with retries (AWSSigner's own is boto3's default region).
Ed25519 keys in AWS KMS are refused: KMS signs them only over raw messages of at most 4096
bytes, and targets metadata is longer. The identity needs kms:GetPublicKey and kms:Sign.

Google Cloud KMS: a securesystemslib Signer over Cloud KMS's REST API (modelkit.edge.cloudkms
says why not GCPSigner), for key versions with algorithm EC_SIGN_P256_SHA256,
EC_SIGN_P384_SHA384 (digest signed) or EC_SIGN_ED25519 (data signed, at most 64 KiB).

Every signature is verified with the key's public key before it is returned: a signature
devices would refuse never goes up.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from securesystemslib.signer import AWSSigner, Signature, Signer, SSlibKey

from modelkit.edge.cloudkms import ALGORITHMS, CloudKms
from modelkit.errors import UserError

if TYPE_CHECKING:
    from securesystemslib.signer import SecretsHandler

AWS_KEY_SPECS = ("ECC_NIST_P256", "ECC_NIST_P384")
GCP_MAX_DATA = 64 * 1024  # Cloud KMS asymmetricSign takes at most 64 KiB of raw data


def _verified(key: SSlibKey, signature: Signature, payload: bytes, error: UserError) -> Signature:
    from securesystemslib.exceptions import UnverifiedSignatureError, VerificationError

    try:
        key.verify_signature(signature, payload)
    except (UnverifiedSignatureError, VerificationError) as exc:
        raise error from exc
    return signature


class AwsKmsSigner(AWSSigner):
    """securesystemslib's AWSSigner with a KMS client for the key's own region."""

    def __init__(self, key_arn: str, public_key: SSlibKey, client: Any, *, stack_file: str, field: str) -> None:
        # Not AWSSigner.__init__: it creates boto3.client("kms") for the default region.
        self.aws_key_id = key_arn
        self._public_key = public_key
        self.client = client
        self.aws_algo = self.aws_algos[public_key.scheme]
        self.stack_file, self.field = stack_file, field

    def _error(self, message: str, fix: str) -> UserError:
        return UserError.one(file=self.stack_file, field=self.field, value=self.aws_key_id, message=message, fix=fix)

    @classmethod
    def for_key(cls, key_arn: str, *, stack_file: str, field: str, client: Any = None) -> AwsKmsSigner:
        from botocore.exceptions import BotoCoreError, ClientError
        from cryptography.hazmat.primitives.serialization import load_der_public_key

        from infra.rules.kms import kms_key_region

        def error(message: str, fix: str) -> UserError:
            return UserError.one(file=stack_file, field=field, value=key_arn, message=message, fix=fix)

        region = kms_key_region(key_arn)
        if region is None:  # the loader checks this; a caller passing a key directly may not
            raise error("not an AWS KMS key ARN", "use arn:aws:kms:<region>:<account>:key/<key id>")
        if client is None:
            from botocore.config import Config
            from botocore.session import get_session

            client = get_session().create_client(
                "kms", region_name=region, config=Config(retries={"max_attempts": 5, "mode": "standard"}))
        try:
            info = client.get_public_key(KeyId=key_arn)
        except (BotoCoreError, ClientError) as exc:
            raise error(f"cannot read the key's public key ({exc})",
                        "check the ARN and that the identity may call kms:GetPublicKey and kms:Sign on it "
                        "(docs/edge.md, 'Keys in a cloud KMS')") from exc
        if info.get("KeySpec") not in AWS_KEY_SPECS or info.get("KeyUsage") != "SIGN_VERIFY":
            raise error(f"not an ECDSA signing key (KeySpec {info.get('KeySpec')}, KeyUsage {info.get('KeyUsage')}); "
                        "TUF metadata is signed as a digest, which AWS KMS does for ECDSA keys",
                        "create one: aws kms create-key --key-spec ECC_NIST_P256 --key-usage SIGN_VERIFY")
        public = SSlibKey.from_crypto(load_der_public_key(info["PublicKey"]))
        return cls(key_arn, public, client, stack_file=stack_file, field=field)

    def sign(self, payload: bytes) -> Signature:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            signature = super().sign(payload)
        except (BotoCoreError, ClientError) as exc:
            raise self._error(f"KMS did not sign ({exc})",
                              "check that the identity may call kms:Sign on the key, and that it is enabled") from exc
        return _verified(self._public_key, signature, payload, self._error(
            "KMS returned a signature that its own public key does not verify", "check the key in KMS"))


class GcpKmsSigner(Signer):
    """A securesystemslib Signer for one Cloud KMS key version (REST API)."""

    SCHEME = "gcpkms"

    def __init__(self, kms: CloudKms, public_key: SSlibKey, digest: str | None) -> None:
        self.kms, self._public_key, self.digest = kms, public_key, digest

    @property
    def public_key(self) -> SSlibKey:
        return self._public_key

    @classmethod
    def from_priv_key_uri(cls, priv_key_uri: str, public_key: Any,
                          secrets_handler: SecretsHandler | None = None) -> GcpKmsSigner:
        # Keys are named in stack files (signing.<role>.kms_key), never by private key URIs.
        raise ValueError(f"{cls.__name__} is built with GcpKmsSigner.for_key(), not from {priv_key_uri}")

    @classmethod
    def for_key(cls, key_version: str, *, stack_file: str, field: str) -> GcpKmsSigner:
        from cryptography.hazmat.primitives.serialization import load_pem_public_key

        kms = CloudKms(key_version, stack_file=stack_file, field=field)
        algorithm, pem = kms.public_key()
        if algorithm not in ALGORITHMS:
            raise kms.error(f"not a supported signing key version (algorithm {algorithm})",
                            f"use a key version with algorithm {', '.join(ALGORITHMS)}: gcloud kms keys create <key> "
                            "--purpose asymmetric-signing --default-algorithm ec-sign-p256-sha256 ...")
        scheme, digest = ALGORITHMS[algorithm]
        try:
            public = SSlibKey.from_crypto(load_pem_public_key(pem), scheme=scheme)
        except ValueError as exc:
            raise kms.error(f"its public key does not parse ({exc})", "check the key version in Cloud KMS") from exc
        return cls(kms, public, digest)

    def sign(self, payload: bytes) -> Signature:
        if self.digest is None:
            if len(payload) > GCP_MAX_DATA:
                raise self.kms.error(f"Cloud KMS signs at most {GCP_MAX_DATA} bytes with Ed25519; this metadata is "
                                     f"{len(payload)}", "use a key version with algorithm EC_SIGN_P256_SHA256")
            raw = self.kms.sign(data=payload)
        else:
            raw = self.kms.sign(digest=(self.digest, hashlib.new(self.digest, payload).digest()))
        return _verified(self._public_key, Signature(self._public_key.keyid, raw.hex()), payload, self.kms.error(
            "Cloud KMS returned a signature that its own public key does not verify", "check the key version"))


def kms_signer(kms_key: str, *, stack_file: str, field: str, aws_client: Any = None) -> Signer:
    """The signer for a stack's kms_key (an AWS KMS key ARN or a Cloud KMS key version);
    aws_client: a botocore KMS client to use (default: one for the key's region)."""
    from infra.rules.kms import kms_provider

    if kms_provider(kms_key) == "gcp":
        return GcpKmsSigner.for_key(kms_key, stack_file=stack_file, field=field)
    return AwsKmsSigner.for_key(kms_key, stack_file=stack_file, field=field, client=aws_client)
