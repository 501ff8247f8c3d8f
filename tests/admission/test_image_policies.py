"""The image admission policies' CEL, evaluated as the API server evaluates it, against
allowed and refused Pods: tfplat's own pods, every Pod the stacks' charts render with real
helm, and hand-made Pods at each rule's edge."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from infra.engines import admission as vap
from infra.plan.admission import AdmissionPlan
from infra.plan.manifests.admission import DIGESTS, REGISTRIES, admission_objects
from infra.rules.admission import normalize, repository
from tests.conftest import STACKS, shared_run

DIGEST = "@sha256:" + "ab" * 32
Pod = dict[str, Any]


def _objects(stack: str) -> dict[str, dict[str, Any]]:
    plan, _ = shared_run(stack)
    return {o["metadata"]["name"]: o for o in admission_objects(plan.admission) if o["kind"].endswith("Policy")}


def _pod(*images: str, init: tuple[str, ...] = (), ephemeral: tuple[str, ...] = ()) -> Pod:
    spec: dict[str, Any] = {"containers": [{"name": f"c{i}", "image": im} for i, im in enumerate(images)]}
    if init:
        spec["initContainers"] = [{"name": f"i{i}", "image": im} for i, im in enumerate(init)]
    if ephemeral:
        spec["ephemeralContainers"] = [{"name": f"e{i}", "image": im} for i, im in enumerate(ephemeral)]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec}


@pytest.mark.parametrize("stack", STACKS)
def test_every_expression_compiles(stack: str) -> None:
    for policy in _objects(stack).values():
        assert vap.compile_problems(policy) == []


def test_a_broken_expression_is_reported() -> None:
    policy = _objects("prod")[REGISTRIES]
    broken = {**policy, "spec": {**policy["spec"], "validations": [{"expression": "size(variables.refused ==", }]}}
    [problem] = vap.compile_problems(broken)
    assert problem.startswith("spec.validations[0].expression: does not compile")


@pytest.mark.parametrize("stack", STACKS)
def test_the_stacks_own_pods_are_admitted(stack: str) -> None:
    """Every pod template tfplat renders comes from an allowed source; in production every
    one also passes the digest rule (digest or waiver). Elsewhere the digest rule only warns,
    and what it warns about is exactly the images pinned by tag."""
    plan, result = shared_run(stack)
    policies = _objects(stack)
    templates = [(r.inputs["metadata"]["namespace"], r.inputs["spec"]["template"]) for r in result.records
                 if r.type in ("kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:DaemonSet")]
    assert templates
    warned: set[str] = set()
    for namespace, template in templates:
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": template["metadata"], "spec": template["spec"]}
        assert vap.evaluate(policies[REGISTRIES], pod, namespace=namespace).allowed, (stack, namespace)
        verdict = vap.evaluate(policies[DIGESTS], pod, namespace=namespace)
        if plan.stack.environment == "prod":
            assert verdict.allowed, (stack, namespace, verdict.failures)
        warned |= {i for f in verdict.failures for i in f.split(": ", 1)[1].split(" (")[0].split(", ")}
    assert warned == {f.image.ref for f in plan.fleets if not f.image.pinned_by_digest} - set(plan.admission.tag_only)


def test_refused_sources_are_named_in_the_message() -> None:
    policy = _objects("prod")[REGISTRIES]
    verdict = vap.evaluate(policy, _pod("docker.io/tensorflow/serving:2.19.1", "ghcr.io/evil/miner:1"),
                           namespace="serving")
    assert verdict.applies and not verdict.allowed
    assert verdict.failures == ["image(s) from a source this cluster does not allow: ghcr.io/evil/miner:1 (allowed: "
                                "the images and charts tfplat deploys and tfplat:admission.allowed_registries)"]


@pytest.mark.parametrize(("image", "allowed"), [
    ("docker.io/tensorflow/serving:2.19.1", True),
    ("tensorflow/serving:2.19.1", True),  # Docker Hub short name: docker.io/tensorflow/serving
    ("docker.io/tensorflow/serving" + DIGEST, True),
    ("docker.io/tensorflow/serving", True),  # no tag: the runtime pulls :latest, the digest rule refuses it
    ("docker.io/tensorflow/serving-evil:1", False),  # a repository is not a prefix
    ("docker.io/tensorflow/other:1", False),
    ("evil.example/docker.io/tensorflow/serving:1", False),
    ("busybox:1.36", False),  # docker.io/library/busybox
    ("localhost:5000/tensorflow/serving:1", False),
    ("quay.io/prometheus/prometheus:v3.9.1", True),
])
def test_allowed_sources_are_repositories(image: str, allowed: bool) -> None:
    verdict = vap.evaluate(_objects("prod")[REGISTRIES], _pod(image), namespace="monitoring")
    assert verdict.allowed is allowed, verdict.failures


def test_init_and_ephemeral_containers_are_judged_too() -> None:
    policy = _objects("prod-aws")[REGISTRIES]
    ok = "docker.io/tensorflow/serving:2.19.1"
    assert not vap.evaluate(policy, _pod(ok, init=("evil.io/x:1",)), namespace="serving").allowed
    assert not vap.evaluate(policy, _pod(ok, ephemeral=("evil.io/debug:1",)), namespace="serving",
                            operation="UPDATE").allowed


def test_the_clouds_own_namespaces_are_not_judged() -> None:
    gke, eks = _objects("prod")[REGISTRIES], _objects("prod-aws")[REGISTRIES]
    evil = _pod("evil.io/x:1")
    for namespace in ("kube-system", "gke-managed-cim", "gmp-system"):
        assert not vap.evaluate(gke, evil, namespace=namespace).applies
    assert not vap.evaluate(eks, evil, namespace="amazon-cloudwatch").applies
    assert vap.evaluate(eks, evil, namespace="gke-lookalike").applies  # gke-* is GKE's, not EKS's
    assert vap.evaluate(gke, evil, namespace="default").applies


def test_extra_sources_from_the_stack(tmp_path: Any) -> None:
    plan, _ = shared_run("prod")
    extra = AdmissionPlan(**{**plan.admission.__dict__,
                             "allowed": tuple(sorted({*plan.admission.allowed, "us-docker.pkg.dev/acme/",
                                                      "ghcr.io/acme/tool"}))})
    policy = next(o for o in admission_objects(extra) if o["metadata"]["name"] == REGISTRIES)
    for image, allowed in [("us-docker.pkg.dev/acme/team/model:1", True), ("us-docker.pkg.dev/acme2/x:1", False),
                           ("ghcr.io/acme/tool:3", True), ("ghcr.io/acme/tool-2:3", False)]:
        assert vap.evaluate(policy, _pod(image), namespace="serving").allowed is allowed, image


def test_digests_or_a_named_waiver() -> None:
    policy = _objects("prod")[DIGESTS]
    plan, _ = shared_run("prod")
    waived = sorted(plan.admission.tag_only)
    assert waived and "docker.io/tensorflow/serving:2.19.1" in waived
    assert vap.evaluate(policy, _pod(*waived), namespace="serving").allowed
    assert vap.evaluate(policy, _pod("public.ecr.aws/aws-cli/aws-cli:2.31.23" + DIGEST), namespace="serving").allowed
    verdict = vap.evaluate(policy, _pod("docker.io/tensorflow/serving:2.19.2", "docker.io/tensorflow/serving"),
                           namespace="serving")
    assert verdict.failures == ["image(s) not pinned by digest: docker.io/tensorflow/serving:2.19.2, "
                                "docker.io/tensorflow/serving (pin with make pin-images, or waive in "
                                "tfplat:admission.tag_only)"]
    # A waiver is for that exact reference: the short Docker Hub name is another string.
    assert not vap.evaluate(policy, _pod("tensorflow/serving:2.19.1"), namespace="serving").allowed


@pytest.mark.parametrize(("stack", "actions"), [("prod", ["Deny"]), ("prod-aws", ["Deny"]),
                                                ("dev", ["Warn", "Audit"]), ("staging", ["Warn", "Audit"])])
def test_bindings_deny_in_production_and_warn_elsewhere(stack: str, actions: list[str]) -> None:
    plan, _ = shared_run(stack)
    bindings = {o["metadata"]["name"]: o["spec"] for o in admission_objects(plan.admission)
                if o["kind"] == "ValidatingAdmissionPolicyBinding"}
    assert {b["policyName"] for b in bindings.values()} == {REGISTRIES, DIGESTS}
    assert all(b["validationActions"] == actions for b in bindings.values())
    # The digest rule binds to the serving namespace and the training teams' (where tfplat picks
    # every image); the source rule everywhere.
    teams = sorted(set(plan.training.namespaces.values())) if plan.training is not None else []
    assert bindings[DIGESTS]["matchResources"]["namespaceSelector"]["matchExpressions"][0]["values"] == \
        [plan.stack.serving.namespace, *teams]
    assert "matchResources" not in bindings[REGISTRIES]


def test_normalize_matches_the_cel_normalization() -> None:
    """infra.rules.admission.normalize (the planner's) and the policy's CEL agree."""
    policy = _objects("prod")[REGISTRIES]
    expression = next(v["expression"] for v in policy["spec"]["variables"] if v["name"] == "normalized")
    from infra.engines import cel

    images = ["busybox", "grafana/grafana:1", "quay.io/a/b:1", "localhost/x:1", "localhost:5000/x", "reg:5000/a/b",
              "docker.io/library/nginx" + DIGEST]
    got = cel.evaluate(expression, {"variables": {"images": images}, "object": {}, "request": {}})
    assert [str(x.plain_value()) if hasattr(x, "plain_value") else x for x in got] == [normalize(i) for i in images]
    assert repository("grafana/grafana:1" + DIGEST) == "docker.io/grafana/grafana"


def _images(obj: Mapping[str, Any]) -> Iterator[str]:
    """Images of the pods one chart object runs: pod templates, bare pods, the Prometheus
    operator's custom resources (Prometheus, Alertmanager) and its config reloader argument."""
    def walk(value: Any) -> Iterator[str]:
        if isinstance(value, dict):
            for k, v in value.items():
                if k == "image" and isinstance(v, str):
                    yield v
                else:
                    yield from walk(v)
        elif isinstance(value, list):
            for v in value:
                yield from walk(v)
        elif isinstance(value, str) and value.startswith("--prometheus-config-reloader="):
            yield value.split("=", 1)[1]

    if (obj.get("metadata", {}).get("annotations") or {}).get("helm.sh/hook") != "test":  # never started by pulumi up
        yield from walk(obj)


@pytest.mark.parametrize("stack", STACKS)
def test_every_pod_the_charts_render_is_admitted(stack: str) -> None:
    """Every Helm release of the stack rendered with real helm exactly as the offline plan
    renders it (build/<stack>/charts/): each object's pods, in the namespace they run in,
    pass tfplat-image-registries (so chart_images in images/versions.yaml is complete) and
    never land where the digest rule applies (chart images are pinned by chart version)."""
    from infra.offline.plan import render_stack_charts

    plan, result = shared_run(stack)
    rendered = render_stack_charts(plan, result.records)
    assert rendered.rendered and not rendered.unrendered
    policies = _objects(stack)
    pods = 0
    for release in rendered.rendered:
        for obj in release.objects:
            images = sorted(set(_images(obj)))
            if not images:
                continue
            namespace = obj["metadata"].get("namespace") or release.release.namespace
            where = (stack, release.release.name, obj["kind"], obj["metadata"]["name"])
            verdict = vap.evaluate(policies[REGISTRIES], _pod(*images), namespace=namespace)
            if not verdict.applies:  # kube-system (the AWS controllers): the cloud's namespace, not judged;
                assert namespace in plan.admission.system_namespaces, where  # the list still covers them
                verdict = vap.evaluate(policies[REGISTRIES], _pod(*images), namespace="default")
            assert verdict.allowed, (*where, verdict.failures)
            assert namespace not in plan.admission.digest_namespaces, where
            pods += 1
    assert pods >= len(rendered.rendered)


def test_a_chart_image_missing_from_the_list_is_refused() -> None:
    """The same evaluation fails once a chart's image list lacks what it runs."""
    plan, _ = shared_run("prod-aws")
    narrowed = AdmissionPlan(**{**plan.admission.__dict__, "allowed": tuple(
        a for a in plan.admission.allowed if a != "public.ecr.aws/eks/aws-load-balancer-controller")})
    policy = next(o for o in admission_objects(narrowed) if o["metadata"]["name"] == REGISTRIES)
    verdict = vap.evaluate(policy, _pod("public.ecr.aws/eks/aws-load-balancer-controller:v3.5.0"),
                           namespace="tools")
    assert verdict.failures and "aws-load-balancer-controller" in verdict.failures[0]


def test_training_runs_are_admitted_in_their_teams_namespace() -> None:
    """A JobSet `tfplat train` submits: its pods run the recipe's image (by digest) in the
    team's namespace, where both rules apply; a tag-only image there is refused in prod."""
    from infra.config.loader import load
    from infra.plan.training import job
    from tests.conftest import REPO

    loaded = load(REPO, "dev")
    plan, _ = shared_run("dev")
    assert plan.training is not None
    policies = _objects("dev")
    for model in sorted(plan.training.identities):
        run = job.plan_job(loaded.stack, plan.training, loaded.models[model], run="r1", git_revision="abc")
        assert run.namespace in plan.admission.digest_namespaces
        template = job.render(run)["spec"]["replicatedJobs"][0]["template"]["spec"]["template"]
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": template["metadata"], "spec": template["spec"]}
        for name in (REGISTRIES, DIGESTS):
            assert vap.evaluate(policies[name], pod, namespace=run.namespace).allowed, (model, name)
        tagged = loaded.models[model].training.image.split("@")[0]  # type: ignore[union-attr]
        verdict = vap.evaluate(policies[DIGESTS], _pod(tagged), namespace=run.namespace)
        assert verdict.failures == [f"image(s) not pinned by digest: {tagged} (pin with make pin-images, or waive "
                                    "in tfplat:admission.tag_only)"]


def test_the_plan_refuses_a_policy_the_api_server_would_not_run(tmp_path: Any,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The offline plan validates the rendered policies against the cluster version's schema
    and compiles their CEL: a misspelt field or an expression that does not compile fails it,
    naming the file and the field."""
    from infra.offline.plan import InvalidPlanError, offline_plan
    from infra.plan.manifests import admission as manifests
    from tests.conftest import REPO

    real = manifests.admission_objects

    def broken(plan: AdmissionPlan) -> list[dict[str, Any]]:
        objects = real(plan)
        objects[0]["spec"]["validations"][0]["expression"] = "size(variables.refused) =="
        objects[1]["spec"]["failurePolicyy"] = "Fail"
        return objects

    monkeypatch.setattr(manifests, "admission_objects", broken)
    with pytest.raises(InvalidPlanError) as err:
        offline_plan(REPO, "prod", tmp_path)
    text = str(err.value)
    assert f"validatingadmissionpolicy-{REGISTRIES}.yaml" in text and "spec.validations[0].expression" in text
    assert "does not compile" in text
    assert f"validatingadmissionpolicy-{DIGESTS}.yaml" in text and "'failurePolicyy' was unexpected" in text
