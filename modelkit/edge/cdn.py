"""GCP Cloud CDN signed URL prefixes: one token that admits every request under a prefix.

With `tfplat:edge.cdn.signed_urls: true` the edge bucket is private and Cloud CDN serves a
request only if it carries a valid signature made with the backend bucket's URL-signing key
(a 128-bit HMAC key). A device fetches many URLs (pointers, manifests, blobs), so it gets
one token for the whole layout instead of one signed URL per object:

    URLPrefix=<base64url(prefix)>&Expires=<unix seconds>&KeyName=<key name>&Signature=<sig>
    sig = base64url(HMAC-SHA1(key, "URLPrefix=...&Expires=...&KeyName=..."))

and appends it as the query string of every request whose URL starts with the prefix
(https://cloud.google.com/cdn/docs/using-signed-urls, "URL prefix"). The key never goes to
a device: a provisioning service (or an operator, `tfplat-model edge sign-url-prefix`) mints
short-lived tokens, and devices only hold those.

Standard library only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from pathlib import Path
import re
import urllib.parse

from modelkit.errors import UserError

KEY_ENV = "TFPLAT_CDN_URL_SIGNING_KEY"  # the key itself (base64 or base64url of 16 bytes)
KEY_FILE_ENV = "TFPLAT_CDN_URL_SIGNING_KEY_FILE"  # or a file holding it
KEY_BYTES = 16  # Cloud CDN signing keys are 128-bit
# Key names are Compute Engine resource names (RFC 1035 labels).
KEY_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
_DURATION = re.compile(r"^(\d+)([smhd]?)$")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
CLI = "(command line)"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def sign_url_prefix(prefix: str, *, key_name: str, key: bytes, expires: int) -> str:
    """The query string that admits GET/HEAD of any URL starting with `prefix` until `expires`."""
    policy = f"URLPrefix={_b64url(prefix.encode())}&Expires={expires}&KeyName={key_name}"
    signature = hmac.new(key, policy.encode(), hashlib.sha1).digest()
    return f"{policy}&Signature={_b64url(signature)}"


def check_prefix(prefix: str) -> str:
    """An http(s) URL with a host and a path, no query or fragment (they cannot be prefixes)."""
    parts = urllib.parse.urlsplit(prefix)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise UserError.one(file=CLI, field="--prefix", value=prefix,
                            message="not a URL prefix Cloud CDN can sign",
                            fix="use scheme://host/path/ with no query or fragment, e.g. "
                                "https://edge.example.com/ (all of the edge layout)")
    return prefix


def check_key_name(name: str) -> str:
    if not KEY_NAME.match(name):
        raise UserError.one(file=CLI, field="--key-name", value=name, message="not a Cloud CDN key name",
                            fix="use the key's name as `gcloud compute backend-buckets describe <backend>` "
                                "lists it under cdnPolicy.signedUrlKeyNames (tfplat names it tfplat-<stack>-edge-key)")
    return name


def expiry(now: int, *, expires_in: str | None, expires_at: int | None) -> int:
    """Absolute expiry (unix seconds) from --expires-in (e.g. 3600, 90m, 12h, 7d) or --expires-at."""
    if expires_at is not None:
        if expires_at <= now:
            raise UserError.one(file=CLI, field="--expires-at", value=expires_at, message="already in the past",
                                fix="give a future time in unix seconds, or use --expires-in")
        return expires_at
    match = _DURATION.match(expires_in or "")
    if not match or int(match.group(1)) == 0:
        raise UserError.one(file=CLI, field="--expires-in", value=expires_in, message="not a positive duration",
                            fix="give seconds, or a number with s, m, h or d (e.g. 12h)")
    return now + int(match.group(1)) * _UNIT_S[match.group(2)]


def load_key(key_file: str | None = None) -> tuple[bytes, str]:
    """The URL-signing key from --key-file, $TFPLAT_CDN_URL_SIGNING_KEY_FILE or $TFPLAT_CDN_URL_SIGNING_KEY.

    Never from the command line (it would show in `ps` and shell history). Returns (key,
    where it came from) so errors name the source without showing the key.
    """
    path = key_file or os.environ.get(KEY_FILE_ENV)
    if path:
        source = path
        try:
            text = Path(path).read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError.one(file=path, field="", message=f"cannot read the URL-signing key ({exc})",
                                fix="pass the path of a file holding the key (base64 of 16 bytes)") from exc
    elif os.environ.get(KEY_ENV):
        source, text = f"${KEY_ENV}", os.environ[KEY_ENV]
    else:
        raise UserError.one(file="(environment)", field=KEY_ENV, message="no URL-signing key given",
                            fix=f"export {KEY_ENV}=<key> or {KEY_FILE_ENV}=<file>, or pass --key-file "
                                "(docs/edge.md, 'Cloud CDN signed URLs', says where the key is)")
    return decode_key(text.strip(), source), source


def decode_key(text: str, source: str) -> bytes:
    """base64 or base64url (Cloud CDN's own form), padded or not, of exactly 16 bytes."""
    standard = text.replace("-", "+").replace("_", "/")
    try:
        key = base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise UserError.one(file=source, field="", message="the URL-signing key is not base64",
                            fix="use the key value the backend bucket was given (base64 of 16 random bytes)") from exc
    if len(key) != KEY_BYTES:
        raise UserError.one(file=source, field="", value=f"{len(key)} bytes",
                            message=f"a Cloud CDN URL-signing key is {KEY_BYTES} bytes",
                            fix="use the key value the backend bucket was given (base64 of 16 random bytes)")
    return key
