"""The publisher's bucket access: one client, documents read ahead once, uploads before the heavy imports."""

from __future__ import annotations

import subprocess
import sys

from conftest import S3

from modelkit.edge.transfer import Bucket
from modelkit.storage import parse_uri


def test_a_read_ahead_is_handed_out_once_then_reads_go_to_the_bucket(s3: S3) -> None:
    bucket = s3.new_bucket()
    s3.client().put_object(Bucket=bucket, Key="edge/metadata/timestamp.json", Body=b"old")
    b = Bucket(parse_uri(f"s3://{bucket}/edge"))
    b.read_ahead(["metadata/timestamp.json", "metadata/1.snapshot.json"])
    assert b.get("metadata/1.snapshot.json") is None  # missing: None, as a direct read gives
    b.put("metadata/timestamp.json", b"new", "public, max-age=60")
    assert b.get("metadata/timestamp.json") == b"old"  # read before the write, as publish() expects
    assert b.get("metadata/timestamp.json") == b"new"  # and only once


def test_the_first_upload_waits_for_neither_tuf_nor_boto3_nor_the_config_loader() -> None:
    """What `edge publish` imports before its first upload starts (start-up is on every CI publish):
    python-tuf (which imports boto3 through securesystemslib) and the config load while it uploads."""
    code = ("import sys; from modelkit.edge.transfer import BlobPrefetch, Bucket; "
            "from modelkit.storage import client; client('s3', endpoint_url='http://127.0.0.1:9'); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'boto3', 'tqdm', 'infra', 'jsonschema', 'tuf', 'securesystemslib'}))")
    env = {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "[]"
