"""The CrossGuard pack, driven through pulumi_policy's own analyzer service as the engine
calls it (Configure, Analyze, AnalyzeStack, Remediate), without the CLI or a gRPC server."""

from __future__ import annotations

from collections.abc import Iterator
import json
import runpy
import subprocess
import sys
from typing import Any

from pulumi.runtime import proto
import pulumi_policy
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy, StackValidationArgs, StackValidationPolicy
from pulumi_policy.deserialize import SPECIAL_SECRET_SIG, SPECIAL_SIG_KEY, deserialize_properties
from pulumi_policy.policy import _PolicyAnalyzerServicer
from pulumi_policy.proxy import UNKNOWN_BOOLEAN_VALUE, unknown_checking_proxy
import pytest

from policies.tfplat_policies import POLICIES, SECRET, UNKNOWN
from policies.tfplat_policies.crossguard import build_policies, plain, stack_policy
from policies.tfplat_policies.enforcement import TIER_POLICY
from tests.conftest import REPO
from tests.policies.factories import DROP, GCS_BUCKET, GKE_CLUSTER, K8S, deployment, gke_pool, patched

CROSSGUARD_IDS = [p.id for p in POLICIES if p.crossguard]


def _secret(value: Any) -> dict[str, Any]:
    return {SPECIAL_SIG_KEY: SPECIAL_SECRET_SIG, "value": value}


def _python(value: Any) -> Any:
    """A protobuf Struct / ListValue as dicts and lists."""
    if hasattr(value, "items"):
        return {k: _python(v) for k, v in value.items()}
    if hasattr(value, "__iter__") and not isinstance(value, str):
        return [_python(v) for v in value]
    return value


@pytest.fixture
def servicer() -> Any:
    """The SDK's analyzer service (its handlers are untyped) with tfplat's policies,
    configured from policies/config/prod.json as the CLI would."""
    svc: Any = _PolicyAnalyzerServicer("tfplat", "0.1.0", build_policies(), EnforcementLevel.MANDATORY)
    levels = json.loads((REPO / "policies/config/prod.json").read_text())
    config = {}
    for policy_id in CROSSGUARD_IDS:
        entry = levels.get(policy_id, levels["all"])
        level, props = (entry, {}) if isinstance(entry, str) else (
            entry["enforcementLevel"], {k: v for k, v in entry.items() if k != "enforcementLevel"})
        config[policy_id] = proto.PolicyConfig(enforcementLevel=getattr(proto, level.upper()), properties=props)
    svc.Configure(proto.ConfigureAnalyzerRequest(policyConfig=config), None)
    return svc


def _analyze(svc: Any, type_: str, props: dict[str, Any]) -> list[Any]:
    request = proto.AnalyzeRequest(type=type_, urn=f"urn:pulumi:prod::tfplat::{type_}::r", name="r",
                                   properties=props)
    return list(svc.Analyze(request, None).diagnostics)


def _stack_resource(type_: str, name: str, props: dict[str, Any], deps: tuple[str, ...] = (),
                    prop_deps: dict[str, list[str]] | None = None) -> Any:
    resource = proto.AnalyzerResource(type=type_, name=name, urn=f"urn:{name}", properties=props,
                                      dependencies=list(deps))
    for key, urns in (prop_deps or {}).items():
        resource.propertyDependencies[key].CopyFrom(proto.AnalyzerPropertyDependencies(urns=urns))
    return resource


def test_build_policies_registers_every_crossguard_policy_with_its_kind() -> None:
    built = {p.name: p for p in build_policies()}
    assert list(built) == CROSSGUARD_IDS
    assert len(CROSSGUARD_IDS) == len(POLICIES) - 1  # config-secrets-encrypted runs offline only
    for policy in POLICIES:
        if policy.crossguard:
            expected = StackValidationPolicy if type(policy).__name__ == "StackPolicy" else ResourceValidationPolicy
            assert isinstance(built[policy.id], expected), policy.id
            assert built[policy.id].description == policy.description
            assert built[policy.id].remediation_steps == policy.remediation
    secrets = built["secret-values-wrapped"]
    assert isinstance(secrets, ResourceValidationPolicy)
    assert secrets.has_remediation() and not secrets.has_validation()
    assert built["fleet-min-replicas"].config_schema is not None


class _PackRecorder:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, **kwargs: Any) -> None:
        self.calls.append(kwargs)


@pytest.fixture
def pack_entry_point(monkeypatch: pytest.MonkeyPatch) -> Iterator[_PackRecorder]:
    """PolicyPack replaced, so no gRPC server starts and nothing blocks."""
    recorder = _PackRecorder()
    monkeypatch.setattr(pulumi_policy, "PolicyPack", recorder)
    yield recorder
    for name in [m for m in sys.modules if m == "tfplat_policies" or m.startswith("tfplat_policies.")]:
        del sys.modules[name]


def test_the_entry_point_builds_the_pack_with_every_policy(pack_entry_point: _PackRecorder) -> None:
    # What `python policies/` does, which is how Pulumi starts a pack with a __main__.py:
    # policies/ first on sys.path, __main__.py run as a script.
    runpy.run_path(str(REPO / "policies"), run_name="__main__")
    [call] = pack_entry_point.calls
    assert call["name"] == "tfplat"
    assert call["enforcement_level"] == EnforcementLevel.MANDATORY
    assert [p.name for p in call["policies"]] == CROSSGUARD_IDS


def test_pure_modules_import_neither_pulumi_policy_nor_infra() -> None:
    code = ("import sys\n"
            "import policies.tfplat_policies\n"
            "from policies.tfplat_policies import buckets, cis, clusters, eks, enforcement, fleets, gke, images, "
            "kube_cis, model, network, observability, storage, "
            "pools, records, registry, secrets, stack_config, workloads\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('pulumi_policy', 'pulumi', 'infra'))\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


def test_plain_unwraps_the_sdks_proxies_unknowns_and_secrets() -> None:
    wire = {"a": {"b": [1.0, UNKNOWN_BOOLEAN_VALUE]}, "s": _secret("x"), "n": None, "f": 0.5}
    proxied = unknown_checking_proxy(deserialize_properties(wire, True))
    assert plain(proxied) == {"a": {"b": [1, UNKNOWN]}, "s": SECRET, "n": None, "f": 0.5}
    assert isinstance(plain(proxied)["a"]["b"][0], int)  # the wire's doubles, back to counts
    # Analyze's deserialization drops secret markers: a validation never sees them
    unmarked = plain(unknown_checking_proxy(deserialize_properties(wire)))
    assert unmarked == {"a": {"b": [1, UNKNOWN]}, "s": "x", "n": None, "f": 0.5}


def test_analyze_reports_resource_violations_at_the_configured_level(servicer: Any) -> None:
    diagnostics = _analyze(servicer, "gcp:container/nodePool:NodePool", gke_pool(taints=[]))
    [taint] = [d for d in diagnostics if d.policyName == "pool-accelerator-taint"]
    assert taint.enforcementLevel == proto.MANDATORY
    assert "GPU pool has no nvidia.com/gpu NoSchedule/NoExecute taint" in taint.message
    assert "Fix: declare the pool's accelerator under tfplat:node_pools.l4.accelerator" in taint.message
    assert _analyze(servicer, "gcp:container/nodePool:NodePool", gke_pool()) == []


def test_unknown_values_during_preview_do_not_fail_a_policy(servicer: Any) -> None:
    props = patched(GCS_BUCKET, {"uniformBucketLevelAccess": UNKNOWN_BOOLEAN_VALUE})
    assert _analyze(servicer, "gcp:storage/bucket:Bucket", props) == []
    assert len(_analyze(servicer, "gcp:storage/bucket:Bucket", patched(props, {"versioning": DROP}))) == 1


def test_analyze_stack_follows_property_dependencies(servicer: Any) -> None:
    fleet = deployment()
    budget = {"metadata": {"name": "pdb", "namespace": "serving"},
              "spec": {"selector": {"matchLabels": fleet["spec"]["selector"]["matchLabels"]}}}
    scaler = {"metadata": {"name": "h", "namespace": "serving"},
              "spec": {"minReplicas": 1, "scaleTargetRef": {"kind": "Deployment", "name": "mobilenet-blue"}}}
    bucket = _stack_resource("aws:s3/bucket:Bucket", "models-bucket", {"bucket": "m"})
    versioning = _stack_resource("aws:s3/bucketVersioning:BucketVersioning", "ver",
                                 {"bucket": "id", "versioningConfiguration": {"status": "Enabled"}},
                                 deps=("urn:models-bucket",), prop_deps={"bucket": ["urn:models-bucket"]})
    request = proto.AnalyzeStackRequest(resources=[
        _stack_resource(K8S["Deployment"], "serving-mobilenet-blue", fleet),
        _stack_resource(K8S["PDB"], "pdb", budget), _stack_resource(K8S["HPA"], "h", scaler), bucket, versioning])
    diagnostics = list(servicer.AnalyzeStack(request, None).diagnostics)
    by_policy = {d.policyName: d for d in diagnostics}
    assert "fleet-pdb" not in by_policy
    assert by_policy["fleet-min-replicas"].urn == "urn:serving-mobilenet-blue"
    assert "this tier needs at least 2" in by_policy["fleet-min-replicas"].message  # minReplicas from prod.json
    companions = sorted(d.message.split("\n")[1] for d in diagnostics if d.policyName == "bucket-companions")
    assert companions == [
        "S3 bucket 'models-bucket' has no BucketPublicAccessBlock, so nothing makes it private.",
        "S3 bucket 'models-bucket' has no BucketServerSideEncryptionConfiguration, so nothing makes it encrypted."]


def test_remediation_wraps_plaintext_secret_values(servicer: Any) -> None:
    props = {"kind": "Secret", "stringData": {"user": "admin", "password": _secret("s3cret")}}
    request = proto.AnalyzeRequest(type=K8S["Secret"], urn="urn:s", name="s", properties=props)
    [remediation] = servicer.Remediate(request, None).remediations
    assert remediation.policyName == "secret-values-wrapped"
    fixed = _python(remediation.properties)
    assert fixed["stringData"] == {"user": _secret("admin"), "password": _secret("s3cret")}
    assert fixed["kind"] == "Secret"
    wrapped = proto.AnalyzeRequest(type=K8S["Secret"], urn="urn:s", name="s",
                                   properties={"stringData": _secret({"user": "admin"})})
    assert list(servicer.Remediate(wrapped, None).remediations) == []


def test_secret_values_are_not_validated_where_markers_are_invisible(servicer: Any) -> None:
    """Analyze sees secrets unwrapped, so the rule reports no false positives there."""
    props = {"stringData": _secret({"password": "s3cret"})}
    request = proto.AnalyzeRequest(type=K8S["Secret"], urn="urn:s", name="s", properties=props)
    response = servicer.Analyze(request, None)
    assert list(response.diagnostics) == []


def test_the_tier_policy_reads_the_stacks_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    policy = stack_policy(TIER_POLICY)
    reported: list[str] = []

    def report(message: str, urn: str | None = None) -> None:
        reported.append(message)

    monkeypatch.setenv("PULUMI_CONFIG", json.dumps({"tfplat:environment": "prod", "tfplat:cloud": "gcp"}))
    policy.validate(StackValidationArgs([], {"tier": "prod"}), report)
    assert reported == []
    policy.validate(StackValidationArgs([], {"tier": "dev"}), report)
    assert reported == ["the policy config is for tier 'dev' but the stack's tfplat:environment is 'prod', so the "
                        "wrong enforcement levels apply.\nFix: run with --policy-pack-config "
                        "policies/config/prod.json."]


def test_the_pack_files_pin_the_sdk_and_name_the_runtime() -> None:
    pins = {line.split("==")[0]: line.split("==")[1] for line in (REPO / "policies/requirements.txt").read_text()
            .splitlines() if "==" in line}
    assert pins["pulumi-policy"] == "1.21.0"
    constraints = (REPO / "constraints.txt").read_text().lower().replace("_", "-")
    for name, version in pins.items():
        assert f"{name}=={version}" in constraints, name
    project = (REPO / "policies/PulumiPolicy.yaml").read_text()
    assert "name: python" in project and "virtualenv: venv" in project


def test_a_stack_waiver_in_the_config_silences_its_policy_under_crossguard(
        servicer: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """tfplat:cluster.endpoint.public_waiver waives cluster-endpoint-private; nothing else."""
    public = patched(GKE_CLUSTER, {"privateClusterConfig": {"enablePrivateEndpoint": False}})
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps({"tfplat:environment": "prod"}))
    assert [d.policyName for d in _analyze(servicer, "gcp:container/cluster:Cluster", public)] == \
        ["cluster-endpoint-private"]
    cluster = {"endpoint": {"access": "public", "public_waiver": "CI has no runner in the VPC until PLAT-123"}}
    config = {"tfplat:environment": "prod", "tfplat:cluster": json.dumps(cluster)}
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(config))
    assert _analyze(servicer, "gcp:container/cluster:Cluster", public) == []
    abac = patched(public, {"enableLegacyAbac": True})
    assert [d.policyName for d in _analyze(servicer, "gcp:container/cluster:Cluster", abac)] == ["gke-no-legacy-abac"]
