"""The AWS network under the mock engine (flow logs: test_flow_logs.py)."""

from __future__ import annotations

import pytest

from tests.conftest import shared_run
from tests.program.records import Run, one_of_type


@pytest.fixture(scope="module")
def run() -> Run:
    return shared_run("prod-aws")


def test_private_subnets_reach_s3_through_a_gateway_endpoint(run: Run) -> None:
    endpoint = one_of_type(run, "aws:ec2/vpcEndpoint:VpcEndpoint")
    i = endpoint.inputs
    assert i["vpcId"] == "network-vpc-id"
    assert (i["vpcEndpointType"], i["serviceName"]) == ("Gateway", "com.amazonaws.us-east-1.s3")
    private_tables = sorted(f"network-private-{z}-id" for z in ("us-east-1a", "us-east-1b", "us-east-1c"))
    assert sorted(i["routeTableIds"]) == private_tables
