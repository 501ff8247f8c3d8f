"""Signing keys in a cloud KMS: which provider a `tfplat:edge.signing.kms_key` names.

Both the config checks (a malformed key is a config error) and the model tooling
(modelkit calls the KMS of that provider, in the key's region) use these rules.
"""

from __future__ import annotations

import re

# tfplat:edge.signing.kms_key names an existing key that signs manifests and pointers in KMS:
# - AWS: the ARN of a key (or of an alias of one) with KeySpec ECC_NIST_EDWARDS25519 and
#   KeyUsage SIGN_VERIFY; the region is part of the ARN, so the publisher calls KMS there;
# - GCP: a Cloud KMS key *version* (asymmetric signing uses a version) with algorithm
#   EC_SIGN_ED25519.
GCP_KMS_KEY_VERSION = re.compile(
    r"^projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/locations/[a-z0-9-]+/keyRings/[A-Za-z0-9_-]{1,63}/"
    r"cryptoKeys/[A-Za-z0-9_-]{1,63}/cryptoKeyVersions/[1-9][0-9]*$")
AWS_KMS_KEY_ARN = re.compile(
    r"^arn:aws(?:-cn|-us-gov)?:kms:(?P<region>[a-z]{2}(?:-[a-z]+)+-\d):(?P<account>\d{12}):"
    r"(?:key/(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})"
    r"|alias/[A-Za-z0-9/_-]{1,256})$")


def kms_key_region(arn: str) -> str | None:
    """The region of an AWS KMS key ARN; None if `arn` is not one."""
    match = AWS_KMS_KEY_ARN.match(arn)
    return match.group("region") if match else None


def kms_provider(kms_key: str) -> str | None:
    """"aws" or "gcp" for a well-formed signing.kms_key, else None."""
    if AWS_KMS_KEY_ARN.match(kms_key):
        return "aws"
    return "gcp" if GCP_KMS_KEY_VERSION.match(kms_key) else None
