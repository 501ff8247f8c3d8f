"""Google Cloud KMS over its REST API, with the standard library: read a key version's public
key, and sign raw data (EC_SIGN_ED25519) or a digest (EC_SIGN_P256_SHA256, EC_SIGN_P384_SHA384).

Why not google-cloud-kms (which securesystemslib's GCPSigner uses): importing securesystemslib
imports every signer module, and with google-cloud-kms installed that alone costs ~0.5 s of
CPU (gRPC and protobuf stubs) on every `import tuf`, on every publish; GCPSigner also has no
Ed25519. The two REST calls below are all a signer needs.

The OAuth access token comes from $TFPLAT_GCP_ACCESS_TOKEN (e.g. `gcloud auth
print-access-token`, or the token a CI auth step outputs), else from the metadata server of
the GCE/GKE machine running the publisher. The identity needs roles/cloudkms.signerVerifier.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any
import urllib.error
import urllib.request

from modelkit.errors import UserError

ENDPOINT = "https://cloudkms.googleapis.com"
ENDPOINT_ENV = "TFPLAT_GCP_KMS_ENDPOINT"  # another endpoint (tests, Private Service Connect)
TOKEN_ENV = "TFPLAT_GCP_ACCESS_TOKEN"
METADATA_TOKEN_URL = "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token"
# Algorithm -> (securesystemslib scheme, digest the request carries; None: the raw data).
ALGORITHMS = {
    "EC_SIGN_ED25519": ("ed25519", None),
    "EC_SIGN_P256_SHA256": ("ecdsa-sha2-nistp256", "sha256"),
    "EC_SIGN_P384_SHA384": ("ecdsa-sha2-nistp384", "sha384"),
}


class CloudKms:
    """One key version; errors are UserErrors naming the stack field that names the key."""

    def __init__(self, key_version: str, *, stack_file: str, field: str) -> None:
        self.key_version, self.stack_file, self.field = key_version, stack_file, field
        self.endpoint = os.environ.get(ENDPOINT_ENV, ENDPOINT).rstrip("/")
        self._token = _token(stack_file)

    def error(self, message: str, fix: str) -> UserError:
        return UserError.one(file=self.stack_file, field=self.field, value=self.key_version, message=message, fix=fix)

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
            raise self.error(f"cannot {what}: Cloud KMS answered HTTP {exc.code} ({detail})",
                             "check the key version name, and that the identity has roles/cloudkms.signerVerifier "
                             "on the key (docs/edge.md, 'Keys in a cloud KMS')") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise self.error(f"cannot {what}: {exc}", f"check the network path to {self.endpoint}") from None

    def public_key(self) -> tuple[str, bytes]:
        """(algorithm, PEM) of the key version."""
        info = self._call("GET", f"{self.key_version}/publicKey", None, "read the key's public key")
        return str(info.get("algorithm")), str(info.get("pem", "")).encode()

    def sign(self, *, data: bytes | None = None, digest: tuple[str, bytes] | None = None) -> bytes:
        body: dict[str, Any] = ({"data": base64.b64encode(data).decode()} if data is not None else
                                {"digest": {digest[0]: base64.b64encode(digest[1]).decode()}} if digest else {})
        reply = self._call("POST", f"{self.key_version}:asymmetricSign", body, "sign")
        try:
            return base64.b64decode(reply["signature"], validate=True)
        except (KeyError, ValueError) as exc:
            raise self.error("Cloud KMS returned no signature", "check the key version in Cloud KMS") from exc


def _token(stack_file: str) -> str:
    """$TFPLAT_GCP_ACCESS_TOKEN, else the metadata server's token for the machine's service account."""
    token = os.environ.get(TOKEN_ENV)
    if token:
        return token.strip()
    request = urllib.request.Request(METADATA_TOKEN_URL, headers={"Metadata-Flavor": "Google"})
    try:
        with urllib.request.urlopen(request, timeout=2) as resp:
            return str(json.loads(resp.read())["access_token"])
    except (urllib.error.URLError, OSError, ValueError, KeyError):
        raise UserError.one(file="(environment)", field=TOKEN_ENV, message="no Google Cloud access token "
                            f"for the Cloud KMS key in {stack_file} (and no metadata server)",
                            fix=f'export {TOKEN_ENV}="$(gcloud auth print-access-token)", '
                                "or run where a GCE/GKE service account is attached") from None
