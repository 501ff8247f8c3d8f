"""VPC flow logs of an AWS stack: where they go, how long they stay, who may write them.

Destination: an S3 bucket of the stack, in Parquet with Hive-style hourly partitions.
Flow logs of an EKS VPC are high-volume (every pod has a VPC address, so east-west traffic
is logged too); S3 ingestion costs half of CloudWatch Logs' vended-log rate and Parquet
shrinks the stored bytes further, and the partitions are what Athena (or a central
log-archive pipeline) reads without a conversion step. The bucket gets every guard of the
platform's buckets (public access blocked, owner-enforced, versioned, encrypted, TLS-only)
and keeps records a year (RETENTION_DAYS), then expires them. No IAM role is involved:
the log delivery service writes under the bucket policy below. CloudWatch Logs with a KMS
key is the alternative when people would rather query with Logs Insights than Athena.

Encryption is SSE-S3: with SSE-KMS the key's policy would have to admit the delivery
service, which a customer key named in tfplat:aws.kms_key_arn may not.

The component (infra.components.aws.AwsNetwork) only maps this onto resources.
"""

from __future__ import annotations

from typing import Any

RETENTION_DAYS = 365  # a year of records (the usual audit expectation, cf. checkov CKV_AWS_338)
NONCURRENT_DAYS = 7  # overwritten or expired objects: gone a week later
TRAFFIC_TYPE = "ALL"  # accepted and rejected: a REJECT-only log cannot show what did get through
AGGREGATION_INTERVAL_S = 600  # the default; 60 gives finer records at up to ten times the records
FILE_FORMAT = "parquet"  # with Hive-style, hourly partitions (AWSLogs/.../year=/month=/day=/hour=/)
DELIVERY_SERVICE = "delivery.logs.amazonaws.com"


def bucket_name(prefix: str, account: str) -> str:
    """tfplat-<stack>-flow-logs-<account>: infra.plan.cluster.bucket_name's rule for AWS
    (a test keeps the two equal); the account id makes it globally unique."""
    return f"{prefix}-flow-logs-{account}"


def partition(region: str) -> str:
    """The ARN partition of a region (GovCloud and China have their own)."""
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    if region.startswith("cn-"):
        return "aws-cn"
    return "aws"


def delivery_statements(bucket_arn: str, region: str, account: str) -> list[dict[str, Any]]:
    """Bucket policy statements that let the log delivery service write this account's
    flow logs (the VPC guide's policy for an S3 destination, with its confused-deputy
    conditions). Present before the flow log exists: otherwise AWS rewrites the bucket
    policy itself when the flow log is created, and Pulumi would undo it."""
    source = {"StringEquals": {"aws:SourceAccount": account},
              "ArnLike": {"aws:SourceArn": f"arn:{partition(region)}:logs:{region}:{account}:*"}}
    return [
        {"Sid": "AWSLogDeliveryWrite", "Effect": "Allow", "Principal": {"Service": DELIVERY_SERVICE},
         "Action": "s3:PutObject", "Resource": f"{bucket_arn}/AWSLogs/{account}/*",
         "Condition": {"StringEquals": {"aws:SourceAccount": account, "s3:x-amz-acl": "bucket-owner-full-control"},
                       "ArnLike": source["ArnLike"]}},
        {"Sid": "AWSLogDeliveryAclCheck", "Effect": "Allow", "Principal": {"Service": DELIVERY_SERVICE},
         "Action": ["s3:GetBucketAcl", "s3:ListBucket"], "Resource": bucket_arn, "Condition": source},
    ]
