"""VPC flow logs of AWS stacks: names and the bucket policy statements. Plain pytest."""

from __future__ import annotations

import subprocess
import sys

import pytest

from infra.config.loader import load
from infra.plan import flow_logs
from infra.plan.cluster import bucket_name, name_prefix
from tests.conftest import REPO

ACCOUNT = "111122223333"
ARN = f"arn:aws:s3:::tfplat-prod-aws-flow-logs-{ACCOUNT}"


def test_planner_never_imports_pulumi() -> None:
    code = "import sys, infra.plan.flow_logs; sys.exit(any(m.split('.')[0] == 'pulumi' for m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO, check=False).returncode == 0


def test_bucket_follows_the_platforms_naming_rule() -> None:
    stack = load(REPO, "prod-aws").stack
    assert stack.aws is not None
    assert flow_logs.bucket_name(name_prefix(stack), stack.aws.account_id) == bucket_name(stack, "flow-logs") \
        == f"tfplat-prod-aws-flow-logs-{ACCOUNT}"


def test_a_year_of_records_of_all_traffic() -> None:
    assert flow_logs.RETENTION_DAYS >= 365 and flow_logs.TRAFFIC_TYPE == "ALL"
    assert flow_logs.AGGREGATION_INTERVAL_S in (60, 600) and flow_logs.FILE_FORMAT == "parquet"


@pytest.mark.parametrize(("region", "partition"), [
    ("us-east-1", "aws"), ("eu-west-2", "aws"), ("us-gov-west-1", "aws-us-gov"), ("cn-north-1", "aws-cn")])
def test_partition_of_a_region(region: str, partition: str) -> None:
    assert flow_logs.partition(region) == partition


def test_only_this_accounts_log_delivery_may_write() -> None:
    write, check = flow_logs.delivery_statements(ARN, "us-east-1", ACCOUNT)
    for s in (write, check):
        assert s["Effect"] == "Allow" and s["Principal"] == {"Service": "delivery.logs.amazonaws.com"}
        assert s["Condition"]["StringEquals"]["aws:SourceAccount"] == ACCOUNT
        assert s["Condition"]["ArnLike"] == {"aws:SourceArn": f"arn:aws:logs:us-east-1:{ACCOUNT}:*"}
    assert write["Action"] == "s3:PutObject" and write["Resource"] == f"{ARN}/AWSLogs/{ACCOUNT}/*"
    assert write["Condition"]["StringEquals"]["s3:x-amz-acl"] == "bucket-owner-full-control"
    assert sorted(check["Action"]) == ["s3:GetBucketAcl", "s3:ListBucket"] and check["Resource"] == ARN
