"""Keys of an edge repository's TUF roles: which KMS a `signing.<role>.kms_key` names, and what
kind of public key a `public_key` is.

Both the config checks (a malformed key is a config error) and the model tooling
(modelkit calls the KMS of that provider, in the key's region) use these rules.
"""

from __future__ import annotations

import base64
import binascii
import re

# signing.<role>.kms_key (and signing.legacy.kms_key) names an existing key that signs in KMS:
# - AWS: the ARN of a key (or of an alias of one); the region is part of the ARN, so the
#   publisher calls KMS there. TUF roles use ECC_NIST_P256/P384 keys, the legacy key
#   ECC_NIST_EDWARDS25519;
# - GCP: a Cloud KMS key *version* (asymmetric signing uses a version).
GCP_KMS_KEY_VERSION = re.compile(
    r"^projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/locations/[a-z0-9-]+/keyRings/[A-Za-z0-9_-]{1,63}/"
    r"cryptoKeys/[A-Za-z0-9_-]{1,63}/cryptoKeyVersions/[1-9][0-9]*$")
AWS_KMS_KEY_ARN = re.compile(
    r"^arn:aws(?:-cn|-us-gov)?:kms:(?P<region>[a-z]{2}(?:-[a-z]+)+-\d):(?P<account>\d{12}):"
    r"(?:key/(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})"
    r"|alias/[A-Za-z0-9/_-]{1,256})$")

# DER SubjectPublicKeyInfo = a fixed header per algorithm (and curve) + the key bytes.
_SPKI_HEADERS = {
    "ed25519": (bytes.fromhex("302a300506032b6570032100"), 32),
    "ecdsa-p256": (bytes.fromhex("3059301306072a8648ce3d020106082a8648ce3d030107034200"), 65),
    "ecdsa-p384": (bytes.fromhex("3076301006072a8648ce3d020106052b81040022036200"), 97),
}
KEY_KINDS = tuple(_SPKI_HEADERS)


def kms_key_region(arn: str) -> str | None:
    """The region of an AWS KMS key ARN; None if `arn` is not one."""
    match = AWS_KMS_KEY_ARN.match(arn)
    return match.group("region") if match else None


def kms_provider(kms_key: str) -> str | None:
    """"aws" or "gcp" for a well-formed kms_key, else None."""
    if AWS_KMS_KEY_ARN.match(kms_key):
        return "aws"
    return "gcp" if GCP_KMS_KEY_VERSION.match(kms_key) else None


def public_key_kind(b64_spki: str) -> str | None:
    """"ed25519", "ecdsa-p256" or "ecdsa-p384" for a base64 DER SubjectPublicKeyInfo, else None.

    A structural check for config validation; the publisher parses keys with `cryptography`.
    """
    try:
        der = base64.b64decode(b64_spki, validate=True)
    except (binascii.Error, ValueError):
        return None
    for kind, (header, size) in _SPKI_HEADERS.items():
        if der.startswith(header) and len(der) == len(header) + size:
            return kind
    return None
