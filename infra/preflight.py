"""Preflight before staging: is <bucket>/<prefix>/<version>/saved_model.pb really there, and
how large is the version (every object under <prefix>/<version>/: the memory check)?

Each cloud is read with its own client library and its usual credentials, so the check works
wherever `gcloud` or the `aws` CLI does:
- GCS: google-cloud-storage with application default credentials (`gcloud auth
  application-default login`, GOOGLE_APPLICATION_CREDENTIALS, or the metadata server on
  GCE/GKE/Cloud Build). STORAGE_EMULATOR_HOST (the library's own variable) points it at a
  local emulator, without credentials.
- S3: boto3 with its normal credential chain (AWS_PROFILE, SSO, environment keys, instance
  roles). AWS_ENDPOINT_URL (boto3's own variable) points it at another endpoint, e.g. a
  local S3 server.
"""

from __future__ import annotations

from dataclasses import dataclass
import re
from typing import Any
import warnings

SKIP = "or pass --skip-preflight to stage without checking"


@dataclass(frozen=True)
class PreflightResult:
    ok: bool
    uri: str
    message: str
    hint: str
    size_bytes: int | None = None  # the whole version folder, when found


def _missing(uri: str, version: int, present: list[int]) -> PreflightResult:
    listing = ", ".join(str(v) for v in present) if present else "none"
    return PreflightResult(False, uri, f"version {version} is not in the model bucket ({uri} does not exist)",
                           f"upload the SavedModel first, or stage one of the versions present: {listing}")


def _version_of(folder: str) -> int | None:
    m = re.search(r"/(\d+)/$", folder)
    return int(m.group(1)) if m else None


def check_version(*, cloud: str, region: str, bucket: str, prefix: str, version: int,
                  project: str | None = None) -> PreflightResult:
    key = f"{prefix}/{version}/saved_model.pb"
    if cloud == "gcp":
        return _check_gcs(project, bucket, prefix, key, version)
    return _check_s3(region, bucket, prefix, key, version)


def _check_gcs(project: str | None, bucket: str, prefix: str, key: str, version: int) -> PreflightResult:
    with warnings.catch_warnings():
        # google-api-core warns on import about Python versions it will stop supporting one
        # day; not the operator's concern while staging a model.
        warnings.simplefilter("ignore", FutureWarning)
        import google.api_core.exceptions as gexc
        import google.auth.exceptions as aexc
        from google.cloud import storage
    import requests

    uri = f"gs://{bucket}/{key}"
    try:
        client = storage.Client(project=project)
        if client.bucket(bucket).get_blob(key, timeout=30) is not None:
            folder = key.rsplit("/", 1)[0] + "/"
            size = sum(int(b.size or 0) for b in client.list_blobs(bucket, prefix=folder, timeout=30))
            return PreflightResult(True, uri, "found", "", size)
        listing = client.list_blobs(bucket, prefix=f"{prefix}/", delimiter="/", timeout=30)
        list(listing)  # the prefixes are known once the pages are read
        present = sorted(v for v in (_version_of(p) for p in listing.prefixes) if v is not None)
    except aexc.DefaultCredentialsError:
        return PreflightResult(False, uri, "no Google Cloud credentials to read the model bucket",
                               "run `gcloud auth application-default login` (or set GOOGLE_APPLICATION_CREDENTIALS "
                               f"to a service account key file), {SKIP}")
    except aexc.GoogleAuthError as err:
        return PreflightResult(False, uri, f"Google Cloud credentials were refused ({err})",
                               f"refresh them with `gcloud auth application-default login`, {SKIP}")
    except gexc.NotFound:
        return PreflightResult(False, uri, f"bucket {bucket} does not exist (or is not visible to you)",
                               "check the project and the bucket (artifact.bucket of the model file), " + SKIP)
    except gexc.Forbidden as err:
        return PreflightResult(False, uri, f"not allowed to read gs://{bucket} ({err.message})",
                               "grant your account roles/storage.objectViewer on the bucket (or use an account that "
                               f"has it: `gcloud auth application-default login`), {SKIP}")
    except (gexc.GoogleAPIError, requests.RequestException) as err:
        return PreflightResult(False, uri, f"cannot reach the model bucket ({err})",
                               f"check network access to storage.googleapis.com, {SKIP}")
    return _missing(uri, version, present)


def _check_s3(region: str, bucket: str, prefix: str, key: str, version: int) -> PreflightResult:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    uri = f"s3://{bucket}/{key}"
    # A fresh session: the default one caches credentials for the life of the process.
    client: Any = boto3.session.Session().client(
        "s3", region_name=region, config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=10))
    try:
        client.head_object(Bucket=bucket, Key=key)
        folder = key.rsplit("/", 1)[0] + "/"
        size = sum(int(o["Size"]) for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=folder) for o in page.get("Contents", []))
        return PreflightResult(True, uri, "found", "", size)
    except ClientError as err:
        code = str(err.response.get("Error", {}).get("Code", ""))
        if code not in ("404", "NoSuchKey", "NotFound"):
            return PreflightResult(False, uri, f"cannot read the bucket ({code}: {err})",
                                   f"check your AWS credentials (aws sts get-caller-identity) and that the bucket "
                                   f"exists, {SKIP}")
    except NoCredentialsError:
        return PreflightResult(False, uri, "no AWS credentials to read the model bucket",
                               "configure them as for the aws CLI (AWS_PROFILE, `aws sso login`, or "
                               f"AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), {SKIP}")
    except BotoCoreError as err:
        return PreflightResult(False, uri, f"cannot reach the model bucket ({err})",
                               f"check network access and AWS_ENDPOINT_URL if you set it, {SKIP}")
    try:
        present: set[int] = set()
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/",
                                                                      Delimiter="/"):
            present.update(v for v in (_version_of(e["Prefix"]) for e in page.get("CommonPrefixes", []))
                           if v is not None)
    except (ClientError, BotoCoreError):
        present = set()
    return _missing(uri, version, sorted(present))
