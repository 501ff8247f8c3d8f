"""What the planner decides for image admission and disk encryption, from the stack alone."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from infra.bounded_yaml import YamlFileError
from infra.config.loader import load
from infra.plan import charts
from infra.plan.admission import allowed_sources
from infra.plan.stack import plan_stack
from infra.plan.storage import plan_storage_class, storage_class, storage_class_name
from infra.rules.admission import binauthz_pattern, normalize, repository
from tests.conftest import REPO, shared_run


def test_sources_are_what_the_stack_deploys_and_nothing_else() -> None:
    gcp, _ = shared_run("prod")
    aws, _ = shared_run("prod-aws")
    assert "public.ecr.aws/eks/aws-load-balancer-controller" in aws.admission.allowed
    assert "public.ecr.aws/eks/aws-load-balancer-controller" not in gcp.admission.allowed
    assert "us-central1-docker.pkg.dev/acme-ml-shared/serving/tfserving-tpu" in gcp.admission.allowed
    assert "public.ecr.aws/aws-cli/aws-cli" in aws.admission.allowed  # the fleets' S3 sync
    assert "nvcr.io/nvidia/k8s-device-plugin" in aws.admission.allowed
    for plan in (gcp, aws):
        assert {f.image.repository for f in plan.fleets} <= set(plan.admission.allowed)
        for release in plan.monitoring.releases if plan.monitoring else ():
            assert {repository(i) for i in charts.chart_images(release.chart.key)} <= set(plan.admission.allowed)


def test_a_stacks_own_sources_join_the_list(repo_copy: Path) -> None:
    path = repo_copy / "stacks" / "Pulumi.dev.yaml"
    path.write_text(path.read_text(encoding="utf-8") +
                    "  tfplat:admission:\n    allowed_registries: [us-docker.pkg.dev/acme/, ghcr.io/acme/tool]\n",
                    encoding="utf-8")
    plan = plan_stack(load(repo_copy, "dev"))
    assert {"us-docker.pkg.dev/acme/", "ghcr.io/acme/tool"} <= set(plan.admission.allowed)
    assert plan.admission.binauthz_patterns[plan.admission.allowed.index("us-docker.pkg.dev/acme/")] == \
        "us-docker.pkg.dev/acme/**"
    assert not plan.admission.enforce and plan.admission.system_prefixes == ("gke-", "gmp-")


def test_a_chart_without_its_image_list_is_refused(tmp_path: Path) -> None:
    versions = tmp_path / "versions.yaml"
    versions.write_text((REPO / "images" / "versions.yaml").read_text(encoding="utf-8")
                        .replace("  jaeger:\n    - docker.io/jaegertracing/jaeger\n", ""), encoding="utf-8")
    with pytest.raises(YamlFileError) as err:
        charts.chart_images("jaeger", versions)
    assert err.value.field == "chart_images.jaeger" and "chart 'jaeger' has no chart_images entry" in err.value.message


@pytest.mark.parametrize(("ref", "normalized", "repo"), [
    ("busybox", "docker.io/library/busybox", "docker.io/library/busybox"),
    ("grafana/grafana:12.3.1", "docker.io/grafana/grafana:12.3.1", "docker.io/grafana/grafana"),
    ("localhost:5000/a/b:1", "localhost:5000/a/b:1", "localhost:5000/a/b"),
    ("quay.io/a/b@sha256:" + "0" * 64, "quay.io/a/b@sha256:" + "0" * 64, "quay.io/a/b"),
])
def test_references(ref: str, normalized: str, repo: str) -> None:
    assert normalize(ref) == normalized and repository(ref) == repo
    assert binauthz_pattern(repo) == f"{repo}*"


def test_disk_encryption_follows_the_tier_unless_the_stack_says() -> None:
    prod, _ = shared_run("prod")
    dev, _ = shared_run("dev")
    aws, _ = shared_run("prod-aws")
    assert prod.cloud.disk_cmek and not dev.cloud.disk_cmek and aws.cloud.disk_cmek
    assert storage_class_name(dev.stack) is None and storage_class_name(prod.stack) == "tfplat-encrypted"
    provider = replace(aws.stack, cluster=replace(aws.stack.cluster, disk_encryption="provider"))
    plan = plan_storage_class(provider)
    assert plan is not None and not plan.cmek  # EKS still needs a class: it has no default one
    assert storage_class(plan)["parameters"] == {"type": "gp3", "encrypted": "true"}
    gke = replace(dev.stack, cluster=replace(dev.stack.cluster, disk_encryption="cmek"))
    assert plan_storage_class(gke) is not None


def test_allowed_sources_are_sorted_and_unique() -> None:
    plan, _ = shared_run("staging")
    sources = allowed_sources(plan.stack, plan.fleets, plan.cloud, plan.monitoring, training=plan.training,
                              models=load(REPO, "staging").models, keda=plan.keda)
    assert list(sources) == sorted(set(sources)) == list(plan.admission.allowed)


def test_a_training_stack_admits_its_controllers_and_recipe_images() -> None:
    dev, _ = shared_run("dev")
    assert dev.training is not None
    assert {"registry.k8s.io/kueue/kueue", "registry.k8s.io/jobset/jobset",
            "us-central1-docker.pkg.dev/acme-ml-shared/training/resnet50"} <= set(dev.admission.allowed)
    assert set(dev.training.namespaces.values()) <= set(dev.admission.digest_namespaces)
    prod, _ = shared_run("prod")  # prod does not train
    assert prod.training is None and "registry.k8s.io/kueue/kueue" not in prod.admission.allowed
