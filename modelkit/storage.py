"""Object storage through boto3: S3, and GCS through its S3-compatible XML API (HMAC keys).

One client for both clouds keeps one code path for listing, downloading and uploading.

- s3://bucket/key: boto3's usual credential chain; AWS_ENDPOINT_URL (read by boto3 itself)
  points it at another endpoint, e.g. a local moto server in tests.
- gs://bucket/key: endpoint $TFPLAT_GCS_ENDPOINT (default https://storage.googleapis.com),
  credentials $TFPLAT_GCS_HMAC_ACCESS_ID / $TFPLAT_GCS_HMAC_SECRET (a GCS HMAC key), falling
  back to AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
import os
from pathlib import Path
from typing import Any

from modelkit.errors import UserError

GCS_ENDPOINT = "https://storage.googleapis.com"
SCHEMES = ("s3", "gs")


@dataclass(frozen=True, kw_only=True)
class ObjectUri:
    scheme: str  # "s3" or "gs"
    bucket: str
    key: str  # no leading "/", may be "" (the bucket root)

    def __str__(self) -> str:
        return f"{self.scheme}://{self.bucket}/{self.key}".rstrip("/")

    def child(self, *parts: str) -> ObjectUri:
        key = "/".join(p.strip("/") for p in (self.key, *parts) if p.strip("/"))
        return ObjectUri(scheme=self.scheme, bucket=self.bucket, key=key)


def is_remote(location: str) -> bool:
    return location.split("://", 1)[0] in SCHEMES and "://" in location


def parse_uri(text: str, *, what: str = "location") -> ObjectUri:
    scheme, sep, rest = text.partition("://")
    bucket, _, key = rest.partition("/")
    if not sep or scheme not in SCHEMES or not bucket:
        raise UserError.one(file="(command line)", field=what, value=text,
                            message="not an object storage URI",
                            fix="use s3://<bucket>/<path> or gs://<bucket>/<path>")
    return ObjectUri(scheme=scheme, bucket=bucket, key=key.strip("/"))


def client(scheme: str, *, endpoint_url: str | None = None) -> Any:
    """A boto3 S3 client for `scheme`; endpoint_url overrides the defaults above."""
    import boto3
    from botocore.config import Config

    # Enough connections for parallel and multipart transfers (boto3's default is 10).
    config = Config(max_pool_connections=32, retries={"max_attempts": 5, "mode": "standard"})
    if scheme == "gs":
        # GCS's XML API rejects the CRC checksum headers boto3 >= 1.36 sends by default,
        # so checksums are only sent where an operation requires them.
        config = config.merge(Config(request_checksum_calculation="when_required",
                                     response_checksum_validation="when_required",
                                     signature_version="s3v4"))
        access = os.environ.get("TFPLAT_GCS_HMAC_ACCESS_ID")
        secret = os.environ.get("TFPLAT_GCS_HMAC_SECRET")
        return boto3.client(
            "s3", endpoint_url=endpoint_url or os.environ.get("TFPLAT_GCS_ENDPOINT", GCS_ENDPOINT),
            region_name="auto", config=config,
            aws_access_key_id=access, aws_secret_access_key=secret)
    return boto3.client("s3", endpoint_url=endpoint_url, config=config)


def list_keys(s3: Any, uri: ObjectUri) -> Iterator[tuple[str, int]]:
    """(key, size) of every object under uri.key/ (a "directory")."""
    prefix = f"{uri.key}/" if uri.key else ""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=uri.bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            yield obj["Key"], int(obj["Size"])


def download_dir(uri: ObjectUri, dest: Path, *, endpoint_url: str | None = None) -> Path:
    """Copy every object under `uri` into `dest` (relative paths kept); returns dest."""
    from botocore.exceptions import BotoCoreError, ClientError

    s3 = client(uri.scheme, endpoint_url=endpoint_url)
    try:
        keys = list(list_keys(s3, uri))
        if not keys:
            raise UserError.one(file=str(uri), field="", message="no objects under this path",
                                fix="check the bucket, the model prefix and the version number")
        for key, _size in keys:
            rel = key[len(uri.key):].lstrip("/") if uri.key else key
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(uri.bucket, key, str(target))
    except (BotoCoreError, ClientError) as exc:
        raise UserError.one(file=str(uri), field="", message=f"cannot read from object storage: {exc}",
                            fix="check credentials (see docs/edge.md) and that the bucket exists") from exc
    return dest


def exists(uri: ObjectUri, *, endpoint_url: str | None = None) -> bool:
    from botocore.exceptions import ClientError

    try:
        client(uri.scheme, endpoint_url=endpoint_url).head_object(Bucket=uri.bucket, Key=uri.key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    return True


def upload_file(uri: ObjectUri, source: Path, *, endpoint_url: str | None = None,
                content_type: str = "application/octet-stream") -> None:
    s3 = client(uri.scheme, endpoint_url=endpoint_url)
    s3.upload_file(str(source), uri.bucket, uri.key, ExtraArgs={"ContentType": content_type})
