"""Preflight before staging: is <bucket>/<prefix>/<version>/saved_model.pb really there?

boto3 talks to S3, and to GCS through its S3-compatible XML API
(https://storage.googleapis.com) with HMAC keys in AWS_ACCESS_KEY_ID /
AWS_SECRET_ACCESS_KEY. TFPLAT_S3_ENDPOINT (or --endpoint-url) overrides the endpoint,
e.g. for a local test server.
"""

from __future__ import annotations

from dataclasses import dataclass
import os
import re

GCS_S3_ENDPOINT = "https://storage.googleapis.com"


@dataclass(frozen=True)
class PreflightResult:
    ok: bool
    uri: str
    message: str
    hint: str


def endpoint_for(cloud: str, override: str | None = None) -> str | None:
    if override:
        return override
    env = os.environ.get("TFPLAT_S3_ENDPOINT")
    if env:
        return env
    return GCS_S3_ENDPOINT if cloud == "gcp" else None


def _versions(client: object, bucket: str, prefix: str) -> list[int]:
    paginator = client.get_paginator("list_objects_v2")  # type: ignore[attr-defined]
    found = set()
    for page in paginator.paginate(Bucket=bucket, Prefix=f"{prefix}/", Delimiter="/"):
        for entry in page.get("CommonPrefixes", []):
            m = re.search(r"/(\d+)/$", entry["Prefix"])
            if m:
                found.add(int(m.group(1)))
    return sorted(found)


def check_version(*, cloud: str, region: str, bucket: str, prefix: str, version: int,
                  endpoint_url: str | None = None) -> PreflightResult:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    key = f"{prefix}/{version}/saved_model.pb"
    scheme = "gs" if cloud == "gcp" else "s3"
    uri = f"{scheme}://{bucket}/{key}"
    endpoint = endpoint_for(cloud, endpoint_url)
    # A fresh session: the default one caches credentials for the life of the process.
    client = boto3.session.Session().client(
        "s3", endpoint_url=endpoint, region_name="auto" if cloud == "gcp" else region,
        config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=10))
    try:
        client.head_object(Bucket=bucket, Key=key)
        return PreflightResult(True, uri, "found", "")
    except ClientError as err:
        code = str(err.response.get("Error", {}).get("Code", ""))
        if code not in ("404", "NoSuchKey", "NotFound"):
            return PreflightResult(False, uri, f"cannot read the bucket ({code}: {err})",
                                   "check credentials (GCS: HMAC keys in AWS_ACCESS_KEY_ID/"
                                   "AWS_SECRET_ACCESS_KEY) and that the bucket exists")
    except NoCredentialsError:
        return PreflightResult(False, uri, "no credentials to read the model bucket",
                               "export AWS credentials (for GCS: HMAC keys as AWS_ACCESS_KEY_ID/"
                               "AWS_SECRET_ACCESS_KEY), or pass --skip-preflight to stage without checking")
    except BotoCoreError as err:
        return PreflightResult(False, uri, f"cannot reach the model bucket ({err})",
                               "check network access and the endpoint, "
                               "or pass --skip-preflight to stage without checking")
    try:
        present = _versions(client, bucket, prefix)
    except (ClientError, BotoCoreError):
        present = []
    listing = ", ".join(str(v) for v in present) if present else "none"
    return PreflightResult(False, uri, f"version {version} is not in the model bucket ({uri} does not exist)",
                           f"upload the SavedModel first, or stage one of the versions present: {listing}")
