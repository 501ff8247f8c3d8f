"""What the cloud would compute for a resource or an invoke, for the mock engine.

Values are deterministic functions of the type, name and inputs, so two runs of the
offline plan produce byte-identical files. Only outputs the program reads are modelled;
IDs and endpoints use documentation ranges (203.0.113.0/24) and the stack's own
project / account ids, never real infrastructure.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
import hashlib
import json
from typing import Any

import pulumi

#: Key in a computed-outputs dict that sets the resource's ID instead of a state value.
ID = "__id__"
FAKE_CA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nMOCK\n-----END CERTIFICATE-----\n").decode()


def _hex(*parts: str, n: int = 12) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:n]


def _aws_account() -> str:
    raw = pulumi.runtime.get_config("tfplat:aws")
    try:
        return str(json.loads(raw)["account_id"]) if raw else "000000000000"
    except (ValueError, KeyError, TypeError):
        return "000000000000"


def _gcp_cluster(name: str, i: Mapping[str, Any]) -> dict[str, Any]:
    return {ID: f"projects/{i.get('project')}/locations/{i.get('location')}/clusters/{i.get('name', name)}",
            "endpoint": f"203.0.113.{int(_hex(name, n=2), 16) % 250 + 1}",
            "masterAuth": {"clusterCaCertificate": FAKE_CA},
            "controlPlaneEndpointsConfig": _gke_dns_endpoint(name, i),
            "selfLink": f"https://container.googleapis.com/v1/projects/{i.get('project')}/locations/"
                        f"{i.get('location')}/clusters/{i.get('name')}"}


def _gke_dns_endpoint(name: str, i: Mapping[str, Any]) -> dict[str, Any]:
    """The DNS endpoint GKE gives every cluster (the provider reads it back into the block)."""
    config = dict(i.get("controlPlaneEndpointsConfig") or {})
    dns = dict(config.get("dnsEndpointConfig") or {})
    dns["endpoint"] = f"gke-{_hex(name, n=32)}-{_hex(str(i.get('project')), n=12)}.{i.get('location')}.gke.goog"
    return {**config, "dnsEndpointConfig": dns}


def _gcp_account(name: str, i: Mapping[str, Any]) -> dict[str, Any]:
    email = f"{i['accountId']}@{i.get('project')}.iam.gserviceaccount.com"
    return {"email": email, "name": f"projects/{i.get('project')}/serviceAccounts/{email}",
            "member": f"serviceAccount:{email}", "uniqueId": str(int(_hex(email), 16))[:21]}


def _gcp_global(collection: str, name: str, i: Mapping[str, Any]) -> dict[str, Any]:
    """A global Compute Engine resource's ID and selfLink, in the provider's formats (the
    program chains them: URL map -> HTTPS proxy -> forwarding rule)."""
    path = f"projects/{i.get('project')}/global/{collection}/{i.get('name', name)}"
    return {ID: path, "selfLink": f"https://www.googleapis.com/compute/v1/{path}"}


def _numeric_id(name: str) -> int:
    return int(_hex(name, n=15), 16) % 10**18  # Compute Engine's numeric resource ids


def _aws_eks(name: str, i: Mapping[str, Any]) -> dict[str, Any]:
    cid = _hex(name, n=32).upper()
    return {"endpoint": f"https://{cid}.gr7.{_region(i)}.eks.amazonaws.com",
            "certificateAuthority": {"data": FAKE_CA},
            "arn": f"arn:aws:eks:{_region(i)}:{_aws_account()}:cluster/{i.get('name', name)}",
            "vpcConfig": {**(i.get("vpcConfig") or {}), "clusterSecurityGroupId": f"sg-{_hex(name, 'cluster', n=17)}"},
            "identities": [{"oidcs": [{"issuer": f"https://oidc.eks.{_region(i)}.amazonaws.com/id/{cid}"}]}]}


def _region(_i: Mapping[str, Any]) -> str:
    return pulumi.runtime.get_config("tfplat:region") or "us-east-1"


COMPUTED: dict[str, Callable[[str, Mapping[str, Any]], dict[str, Any]]] = {
    "gcp:container/cluster:Cluster": _gcp_cluster,
    "gcp:serviceaccount/account:Account": _gcp_account,
    "gcp:storage/bucket:Bucket": lambda n, i: {
        "url": f"gs://{i.get('name', n)}", "selfLink": f"https://www.googleapis.com/storage/v1/b/{i.get('name', n)}"},
    "gcp:kms/cryptoKey:CryptoKey": lambda n, i: {ID: f"{i.get('keyRing')}/cryptoKeys/{i.get('name', n)}"},
    "gcp:kms/keyRing:KeyRing": lambda n, i: {ID: f"projects/{i.get('project')}/locations/{i.get('location')}"
                                                 f"/keyRings/{i.get('name', n)}"},
    "gcp:compute/network:Network": lambda n, i: {ID: f"projects/{i.get('project')}/global/networks/{i.get('name', n)}"},
    "gcp:compute/subnetwork:Subnetwork": lambda n, i: {
        ID: f"projects/{i.get('project')}/regions/{i.get('region')}/subnetworks/{i.get('name', n)}"},
    "aws:eks/cluster:Cluster": _aws_eks,
    "aws:cloudfront/distribution:Distribution": lambda n, i: {
        "domainName": f"d{_hex(n, n=13)}.cloudfront.net",
        "arn": f"arn:aws:cloudfront::{_aws_account()}:distribution/E{_hex(n, n=13).upper()}"},
    "gcp:compute/globalAddress:GlobalAddress": lambda n, i: {
        **_gcp_global("addresses", n, i), "address": f"203.0.113.{int(_hex(n, n=2), 16) % 250 + 1}"},
    "gcp:compute/backendBucket:BackendBucket": lambda n, i: _gcp_global("backendBuckets", n, i),
    "gcp:compute/uRLMap:URLMap": lambda n, i: {**_gcp_global("urlMaps", n, i), "mapId": _numeric_id(n)},
    "gcp:compute/targetHttpsProxy:TargetHttpsProxy": lambda n, i: {
        **_gcp_global("targetHttpsProxies", n, i), "proxyId": _numeric_id(n)},
    "gcp:compute/managedSslCertificate:ManagedSslCertificate": lambda n, i: {
        **_gcp_global("sslCertificates", n, i), "certificateId": _numeric_id(n)},
    "gcp:compute/globalForwardingRule:GlobalForwardingRule": lambda n, i: _gcp_global("forwardingRules", n, i),
    "random:index/randomBytes:RandomBytes": lambda n, i: {"base64": "[generated]", "hex": "[generated]"},
    # Never a real password: a marker so the rendered Secret shows the key it will hold.
    "random:index/randomPassword:RandomPassword": lambda n, i: {"result": "[generated]"},
    "aws:ec2/launchTemplate:LaunchTemplate": lambda n, i: {ID: f"lt-{_hex(n, n=17)}", "latestVersion": 1},
    "aws:iam/role:Role": lambda n, i: {"arn": f"arn:aws:iam::{_aws_account()}:role/{i.get('name', n)}"},
    "aws:iam/policy:Policy": lambda n, i: {"arn": f"arn:aws:iam::{_aws_account()}:policy/{i.get('name', n)}"},
    "aws:kms/key:Key": lambda n, i: {"arn": f"arn:aws:kms:{_region(i)}:{_aws_account()}:key/{_hex(n, n=32)}",
                                     "keyId": _hex(n, n=32)},
    "aws:s3/bucket:Bucket": lambda n, i: {
        "arn": f"arn:aws:s3:::{i.get('bucket', n)}",
        "bucketRegionalDomainName": f"{i.get('bucket', n)}.s3.{_region(i)}.amazonaws.com"},
}

INVOKES: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "gcp:organizations/getProject:getProject": lambda a: {
        "projectId": a.get("projectId"), "number": str(int(_hex(str(a.get("projectId"))), 16))[:12]},
}


def computed_outputs(typ: str, name: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    fn = COMPUTED.get(typ)
    return fn(name, inputs) if fn else {}


def invoke_result(token: str, args: Mapping[str, Any]) -> dict[str, Any]:
    fn = INVOKES.get(token)
    return fn(args) if fn else {}
