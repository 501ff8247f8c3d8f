"""Edge bucket and CDN under the mock engine, for every shipped stack."""

from __future__ import annotations

import json

import pytest

from infra.plan.edge import IMMUTABLE_TTL_S, TIMESTAMP_TTL_S
from tests.conftest import REPO, STACKS, shared_run
from tests.program.records import Run, named, of_type, one_of_type


@pytest.fixture(scope="module", params=STACKS)
def run(request: pytest.FixtureRequest) -> Run:
    return shared_run(request.param)


def _cloud(stack: str) -> str:
    text = (REPO / "stacks" / f"Pulumi.{stack}.yaml").read_text()
    return "aws" if "tfplat:cloud: aws" in text else "gcp"


@pytest.fixture(scope="module", params=[s for s in STACKS if _cloud(s) == "aws"])
def aws_run(request: pytest.FixtureRequest) -> Run:
    return shared_run(request.param)


@pytest.fixture(scope="module", params=[s for s in STACKS if _cloud(s) == "gcp"])
def gcp_run(request: pytest.FixtureRequest) -> Run:
    return shared_run(request.param)


def _edge(run: Run, typ: str) -> list[object]:
    return [r for r in of_type(run, typ) if r.name.startswith("edge-")]


def test_edge_exports_the_tuf_keys_and_channels(run: Run) -> None:
    plan, result = run
    edge = result.outputs["edge"]
    signing = plan.stack.edge
    assert edge["environment"] == plan.stack.environment
    assert edge["signing"]["root"] == {"threshold": signing.root.threshold, "keys": dict(signing.root.keys)}
    assert edge["signing"]["targets"] == {"publicKey": signing.targets.public_key, "kmsKey": signing.targets.kms_key}
    assert edge["signing"]["online"] == {"publicKey": signing.online.public_key, "kmsKey": signing.online.kms_key}
    assert edge["channels"]["mobilenet"]["stable"] == plan.stack.edge.channels["mobilenet"].stable
    assert edge["cdnUrl"].startswith("https://")
    rendered = json.dumps(result.outputs) + json.dumps([r.inputs for r in result.records])
    assert "private_key" not in rendered and "PRIVATE KEY" not in rendered  # no signing key reaches a resource


def test_aws_cloudfront_reads_the_private_bucket_through_oac(aws_run: Run) -> None:
    run = aws_run
    dist = one_of_type(run, "aws:cloudfront/distribution:Distribution").inputs
    (oac,) = _edge(run, "aws:cloudfront/originAccessControl:OriginAccessControl")
    assert oac.inputs["signingBehavior"] == "always"  # type: ignore[attr-defined]
    assert dist["origins"][0]["originAccessControlId"]
    assert dist["defaultCacheBehavior"]["viewerProtocolPolicy"] == "redirect-to-https"
    policies = {r.name: r.inputs for r in of_type(run, "aws:cloudfront/cachePolicy:CachePolicy")}
    assert policies["edge-cache-blobs"]["defaultTtl"] == IMMUTABLE_TTL_S
    assert policies["edge-cache-pointers"]["defaultTtl"] == TIMESTAMP_TTL_S
    # First match wins: the polled timestamp is short even though it sits under metadata/.
    by_id = {name: f"{name}-id" for name in policies}  # the mock engine's ids
    routes = [(b["pathPattern"], b["cachePolicyId"]) for b in dist["orderedCacheBehaviors"]]
    assert routes == [("metadata/timestamp.json", by_id["edge-cache-pointers"]),
                      ("targets/*", by_id["edge-cache-blobs"]), ("metadata/*", by_id["edge-cache-blobs"])]
    assert dist["defaultCacheBehavior"]["cachePolicyId"] == by_id["edge-cache-pointers"]
    bucket_policy = json.loads(named(run, "aws:s3/bucketPolicy:BucketPolicy", "edge-tls-only").inputs["policy"])
    reader = next(s for s in bucket_policy["Statement"] if s["Effect"] == "Allow")
    assert reader["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert reader["Condition"]["StringEquals"]["AWS:SourceArn"].startswith("arn:aws:cloudfront::")
    block = named(run, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "edge-public-access")
    assert block.inputs["restrictPublicBuckets"] is True


def test_gcp_cloud_cdn_on_a_private_bucket_with_signed_urls(gcp_run: Run) -> None:
    run = gcp_run
    plan, _ = run
    bucket = named(run, "gcp:storage/bucket:Bucket", "edge-bucket")
    assert bucket.inputs["publicAccessPrevention"] == "enforced"
    backend = one_of_type(run, "gcp:compute/backendBucket:BackendBucket").inputs
    assert backend["enableCdn"] is True and backend["cdnPolicy"]["cacheMode"] == "USE_ORIGIN_HEADERS"
    assert one_of_type(run, "gcp:compute/backendBucketSignedUrlKey:BackendBucketSignedUrlKey").inputs["keyValue"] \
        == "[secret]"
    fill = named(run, "gcp:storage/bucketIAMMember:BucketIAMMember", "edge-cdn-fill-read")
    assert fill.inputs["member"].endswith("@cloud-cdn-fill.iam.gserviceaccount.com")
    cert = one_of_type(run, "gcp:compute/managedSslCertificate:ManagedSslCertificate").inputs
    assert cert["managed"]["domains"] == [plan.stack.edge.cdn_hostname]
    rule = one_of_type(run, "gcp:compute/globalForwardingRule:GlobalForwardingRule").inputs
    assert rule["portRange"] == "443"


def test_gcp_edge_chain_is_complete_in_the_offline_outputs(gcp_run: Run) -> None:
    # The mock engine computes no selfLink; infra/offline/outputs.py gives what the provider
    # would, so the proxy names its URL map and certificate and the rule its proxy.
    project = gcp_run[0].stack.gcp.project if gcp_run[0].stack.gcp else None
    base = f"https://www.googleapis.com/compute/v1/projects/{project}/global"
    urls = one_of_type(gcp_run, "gcp:compute/uRLMap:URLMap").inputs
    proxy = one_of_type(gcp_run, "gcp:compute/targetHttpsProxy:TargetHttpsProxy").inputs
    cert = one_of_type(gcp_run, "gcp:compute/managedSslCertificate:ManagedSslCertificate").inputs
    rule = one_of_type(gcp_run, "gcp:compute/globalForwardingRule:GlobalForwardingRule").inputs
    assert urls["defaultService"].startswith(f"{base}/backendBuckets/")
    assert proxy["urlMap"] == f"{base}/urlMaps/{urls['name']}"
    assert proxy["sslCertificates"] == [f"{base}/sslCertificates/{cert['name']}"]
    assert rule["target"] == f"{base}/targetHttpsProxies/{proxy['name']}"
