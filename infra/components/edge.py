"""EdgeDistribution: the private edge bucket and the CDN devices fetch TFLite artifacts from.

The bucket is a TUF repository (infra/plan/edge.py has the layout). AWS: CloudFront reads the
private bucket through origin access control (the bucket policy admits only this distribution);
targets/* and versioned metadata/* get a one-year cache policy, the timestamp (and anything
else) a short one.
GCP: Cloud CDN on a backend bucket behind an external HTTPS load balancer with a
Google-managed certificate. A private bucket is served through Cloud CDN with signed
URLs: the CDN's fill service account may read it, and the signing key lives in state as a
secret. Without signed URLs the bucket stays private and devices need credentials.
"""

from __future__ import annotations

from typing import Any

import pulumi

from infra.plan.cloud import NONCURRENT_VERSION_DAYS
from infra.plan.edge import (
    IMMUTABLE_PREFIXES,
    IMMUTABLE_TTL_S,
    SHORT_MAX_TTL_S,
    TIMESTAMP_KEY,
    TIMESTAMP_TTL_S,
    EdgeKeyPlan,
    EdgePlan,
)


def _key(key: EdgeKeyPlan) -> dict[str, Any]:
    return {"publicKey": key.public_key, "kmsKey": key.kms_key}


def _origin(domain: str, origin_id: str, oac_id: pulumi.Output[str]) -> Any:
    return {"domain_name": domain, "origin_id": origin_id, "origin_access_control_id": oac_id}


class EdgeDistribution(pulumi.ComponentResource):
    def __init__(self, name: str, plan: EdgePlan, *, project: str | None = None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("tfplat:edge:Distribution", name, None, opts)
        # What devices and publishers need to know; private keys stay Pulumi secrets (or in KMS).
        self.exports: dict[str, Any] = {
            "bucket": plan.bucket, "environment": plan.environment, "channels": dict(plan.channels),
            "signing": {"root": {"threshold": plan.root_threshold, "keys": dict(plan.root_keys)},
                        "targets": _key(plan.targets_key), "online": _key(plan.online_key)}}
        if plan.cloud == "aws":
            self._aws(name, plan)
        else:
            assert project is not None
            self._gcp(name, plan, project)
        self.register_outputs(self.exports)

    def _aws(self, name: str, plan: EdgePlan) -> None:
        import pulumi_aws as aws

        from infra.components.aws import private_s3_bucket

        child = pulumi.ResourceOptions(parent=self)
        oac = aws.cloudfront.OriginAccessControl(
            f"{name}-oac", name=f"{plan.prefix}-edge", origin_access_control_origin_type="s3",
            signing_behavior="always", signing_protocol="sigv4", opts=child)

        def cache_policy(suffix: str, default_ttl: int, max_ttl: int, min_ttl: int) -> Any:
            return aws.cloudfront.CachePolicy(
                f"{name}-cache-{suffix}", name=f"{plan.prefix}-edge-{suffix}", min_ttl=min_ttl,
                default_ttl=default_ttl, max_ttl=max_ttl,
                parameters_in_cache_key_and_forwarded_to_origin={
                    "cookies_config": {"cookie_behavior": "none"}, "headers_config": {"header_behavior": "none"},
                    "query_strings_config": {"query_string_behavior": "none"},
                    "enable_accept_encoding_gzip": True, "enable_accept_encoding_brotli": True},
                opts=child)

        # Logical names kept from before TUF (renaming would replace them): "blobs" is the
        # immutable policy, "pointers" the short one.
        blobs = cache_policy("blobs", IMMUTABLE_TTL_S, IMMUTABLE_TTL_S, 86_400)
        pointers = cache_policy("pointers", TIMESTAMP_TTL_S, SHORT_MAX_TTL_S, 0)
        origin_id = "edge-bucket"
        behavior: dict[str, Any] = {"target_origin_id": origin_id, "viewer_protocol_policy": "redirect-to-https",
                    "allowed_methods": ["GET", "HEAD"], "cached_methods": ["GET", "HEAD"], "compress": True}
        default: Any = {**behavior, "cache_policy_id": pointers.id}
        # First match wins: the timestamp before the immutable metadata/* it sits in.
        ordered: Any = [{**behavior, "path_pattern": TIMESTAMP_KEY, "cache_policy_id": pointers.id},
                        *({**behavior, "path_pattern": f"{p}*", "cache_policy_id": blobs.id}
                          for p in IMMUTABLE_PREFIXES)]
        restrictions: Any = {"geo_restriction": {"restriction_type": "none"}}
        viewer: Any = {"cloudfront_default_certificate": True}
        # The origin's regional domain name is known from the bucket name and region, so the
        # distribution exists first and the bucket policy can admit exactly its ARN.
        dist = aws.cloudfront.Distribution(
            f"{name}-cdn", enabled=plan.cdn_enabled, is_ipv6_enabled=True, http_version="http2and3",
            comment=f"tfplat edge artifacts ({plan.prefix})", price_class="PriceClass_100",
            origins=[_origin(f"{plan.bucket}.s3.{plan.region}.amazonaws.com", origin_id, oac.id)],
            default_cache_behavior=default,
            ordered_cache_behaviors=ordered, restrictions=restrictions, viewer_certificate=viewer,
            opts=child)
        private_s3_bucket(name, plan.bucket, kms_key=None, noncurrent_days=NONCURRENT_VERSION_DAYS,
                          protect=plan.protect, tags={"tfplat:stack": plan.prefix}, parent=self,
                          service_reader=("cloudfront.amazonaws.com", dist.arn))
        self.exports.update({"cdnDomain": dist.domain_name, "cdnUrl": dist.domain_name.apply(lambda d: f"https://{d}")})

    def _gcp(self, name: str, plan: EdgePlan, project: str) -> None:
        import pulumi_gcp as gcp
        import pulumi_random as random

        from infra.components.gcp import private_gcs_bucket

        child = pulumi.ResourceOptions(parent=self)
        bucket = private_gcs_bucket(name, plan.bucket, project=project, location=plan.region, kms_key=None,
                                    noncurrent_days=NONCURRENT_VERSION_DAYS, protect=plan.protect, parent=self)
        self.exports["bucket"] = bucket.name
        if not plan.cdn_enabled:
            return
        backend = gcp.compute.BackendBucket(
            f"{name}-backend", name=f"{plan.prefix}-edge", project=project, bucket_name=bucket.name, enable_cdn=True,
            cdn_policy={"cache_mode": "USE_ORIGIN_HEADERS", "serve_while_stale": 86_400,
                        "signed_url_cache_max_age_sec": TIMESTAMP_TTL_S},
            opts=child)
        if plan.signed_urls:
            number = gcp.organizations.get_project_output(project_id=project).number
            # With signed URLs Cloud CDN fetches from the private bucket as its fill agent.
            gcp.storage.BucketIAMMember(
                f"{name}-cdn-fill-read", bucket=bucket.name, role="roles/storage.objectViewer",
                member=number.apply(lambda n: f"serviceAccount:service-{n}@cloud-cdn-fill.iam.gserviceaccount.com"),
                opts=child)
            key = random.RandomBytes(f"{name}-url-key", length=16, opts=child)
            gcp.compute.BackendBucketSignedUrlKey(
                f"{name}-url-key", name=f"{plan.prefix}-edge-key", project=project, backend_bucket=backend.name,
                key_value=key.base64.apply(lambda b: b.replace("+", "-").replace("/", "_")), opts=child)
        url_map = gcp.compute.URLMap(f"{name}-urls", name=f"{plan.prefix}-edge", project=project,
                                     default_service=backend.self_link, opts=child)
        assert plan.cdn_hostname is not None, "the loader requires cdn.hostname with Cloud CDN"
        cert = gcp.compute.ManagedSslCertificate(f"{name}-cert", name=f"{plan.prefix}-edge", project=project,
                                                 managed={"domains": [plan.cdn_hostname]}, opts=child)
        proxy = gcp.compute.TargetHttpsProxy(f"{name}-proxy", name=f"{plan.prefix}-edge", project=project,
                                             url_map=url_map.self_link, ssl_certificates=[cert.self_link], opts=child)
        address = gcp.compute.GlobalAddress(f"{name}-ip", name=f"{plan.prefix}-edge", project=project, opts=child)
        gcp.compute.GlobalForwardingRule(
            f"{name}-https", name=f"{plan.prefix}-edge", project=project, target=proxy.self_link,
            ip_address=address.address, port_range="443", load_balancing_scheme="EXTERNAL_MANAGED", opts=child)
        self.exports.update({"cdnAddress": address.address, "cdnUrl": f"https://{plan.cdn_hostname}"})
