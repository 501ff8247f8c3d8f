"""Network flow logs under the mock engine: a flow log and its private bucket on prod-aws,
subnet flow logs on the GCP stacks."""

from __future__ import annotations

import json

import pytest

from infra.plan import flow_logs
from tests.conftest import STACKS, shared_run
from tests.program.records import Run, named, one_of_type

ACCOUNT = "111122223333"  # stacks/Pulumi.prod-aws.yaml
BUCKET = f"tfplat-prod-aws-flow-logs-{ACCOUNT}"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"


@pytest.fixture(scope="module")
def run() -> Run:
    return shared_run("prod-aws")


def test_the_vpc_logs_all_traffic_to_its_bucket(run: Run) -> None:
    log = one_of_type(run, FLOW_LOG)
    i = log.inputs
    assert i["vpcId"] == "network-vpc-id"  # the mock id of the stack's VPC
    assert (i["logDestinationType"], i["logDestination"]) == ("s3", f"arn:aws:s3:::{BUCKET}")
    assert i["trafficType"] == "ALL" and i["maxAggregationInterval"] == flow_logs.AGGREGATION_INTERVAL_S
    assert i["destinationOptions"] == {"fileFormat": "parquet", "hiveCompatiblePartitions": True,
                                       "perHourPartition": True}
    assert "iamRoleArn" not in i  # S3 delivery runs under the bucket policy, not a role
    # The delivery grant exists first: AWS would otherwise rewrite the policy itself.
    assert named(run, "aws:s3/bucketPolicy:BucketPolicy", "network-flow-logs-tls-only").urn in log.depends_on


def test_the_bucket_is_private_encrypted_and_keeps_a_year(run: Run) -> None:
    bucket = named(run, "aws:s3/bucket:Bucket", "network-flow-logs-bucket")
    assert bucket.inputs["bucket"] == BUCKET and bucket.options.get("protect") is True  # prod
    block = named(run, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "network-flow-logs-public-access")
    assert all(block.inputs[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                                                  "restrictPublicBuckets"))
    own = named(run, "aws:s3/bucketOwnershipControls:BucketOwnershipControls", "network-flow-logs-ownership")
    assert own.inputs["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
    sse = named(run, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
                "network-flow-logs-encryption")
    assert sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}
    rules = {r["id"]: r for r in named(run, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
                                       "network-flow-logs-lifecycle").inputs["rules"]}
    assert rules["expire-current"]["expiration"] == {"days": 365}
    assert rules["expire-noncurrent"]["noncurrentVersionExpiration"] == {"noncurrentDays": flow_logs.NONCURRENT_DAYS}


def test_bucket_policy_is_tls_only_plus_log_delivery(run: Run) -> None:
    doc = json.loads(named(run, "aws:s3/bucketPolicy:BucketPolicy", "network-flow-logs-tls-only").inputs["policy"])
    sids = [s["Sid"] for s in doc["Statement"]]
    assert sids == ["DenyInsecureTransport", "AWSLogDeliveryWrite", "AWSLogDeliveryAclCheck"]
    assert doc["Statement"][1:] == flow_logs.delivery_statements(f"arn:aws:s3:::{BUCKET}", "us-east-1", ACCOUNT)


def test_other_buckets_keep_their_policies(run: Run) -> None:
    doc = json.loads(named(run, "aws:s3/bucketPolicy:BucketPolicy", "models-tls-only").inputs["policy"])
    assert [s["Sid"] for s in doc["Statement"]] == ["DenyInsecureTransport"]
    rules = named(run, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
                  "models-lifecycle").inputs["rules"]
    assert [r["id"] for r in rules] == ["expire-noncurrent"]  # model versions never expire while current


@pytest.mark.parametrize("stack", [s for s in STACKS if s != "prod-aws"])
def test_gcp_node_subnets_log_their_flows(stack: str) -> None:
    _, result = shared_run(stack)
    subnets = {r.name: r.inputs for r in result.records if r.type == "gcp:compute/subnetwork:Subnetwork"}
    config = subnets["network-subnet"]["logConfig"]
    assert config["metadata"] == "INCLUDE_ALL_METADATA" and 0 < config["flowSampling"] <= 1
    assert config["aggregationInterval"].startswith("INTERVAL_")
    # Proxy-only subnets cannot log flows (GCP rejects log_config there).
    assert "logConfig" not in subnets["network-proxy-only"]

