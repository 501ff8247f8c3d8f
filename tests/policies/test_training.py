"""training-job-queue, training-queue-enforced, training-identity-scoped-writes: what tfplat
renders passes; each way of breaking a rule fails, with a fix."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from infra.config.loader import load, project_root
from infra.plan.stack import plan_stack
from infra.plan.training import iam, job, kueue
from infra.plan.training.platform import Grant, IdentityPlan
from policies.tfplat_policies import Resource
from tests.policies.factories import messages, run, run_stack

JOBSET = "kubernetes:jobset.x-k8s.io/v1alpha2:JobSet"
JOB = "kubernetes:batch/v1:Job"
GCS_IAM = "gcp:storage/bucketIAMMember:BucketIAMMember"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"


def _dev() -> Any:
    loaded = load(project_root(), "dev")
    return loaded, plan_stack(loaded)


def _rendered_jobset() -> dict[str, Any]:
    loaded, plan = _dev()
    run_plan = job.plan_job(loaded.stack, plan.training, loaded.models["resnet50"], run="r1", git_revision="abc")
    return job.render(run_plan)


def test_the_jobset_tfplat_train_renders_names_its_queue() -> None:
    assert run("training-job-queue", JOBSET, _rendered_jobset()) == []


def test_a_jobset_without_a_queue_fails() -> None:
    body = _rendered_jobset()
    del body["metadata"]["labels"]["kueue.x-k8s.io/queue-name"]
    findings = run("training-job-queue", JOBSET, body)
    assert messages(findings) == ["no kueue.x-k8s.io/queue-name label: the job would bypass the training quotas"]
    assert "tfplat train" in findings[0].fix


def test_a_plain_job_needs_a_queue_only_when_it_asks_for_accelerators() -> None:
    def job_with(limits: dict[str, str]) -> dict[str, Any]:
        return {"metadata": {"name": "x", "labels": {}}, "spec": {"template": {"spec": {"containers": [
            {"name": "c", "image": "i", "resources": {"limits": limits}}]}}}}

    assert run("training-job-queue", JOB, job_with({"memory": "1Gi"})) == []  # e.g. a chart's hook
    assert len(run("training-job-queue", JOB, job_with({"nvidia.com/gpu": "1"}))) == 1
    assert len(run("training-job-queue", JOB, job_with({"google.com/tpu": "4"}))) == 1


def _queue_resources(config: dict[str, Any] | None = None, cluster_queue: str | None = None) -> list[Resource]:
    _, plan = _dev()
    tp = plan.training
    values = kueue.kueue_values(tp)
    if config is not None:
        values["managerConfig"]["controllerManagerConfigYaml"] = yaml.safe_dump(config)
    out = [Resource(urn="urn:kueue", type="kubernetes:helm.sh/v3:Release", name="kueue",
                    props={"chart": tp.kueue.ref, "values": values})]
    for obj in kueue.platform_objects(tp):
        if cluster_queue is not None and obj["kind"] == "LocalQueue":
            obj["spec"]["clusterQueue"] = cluster_queue
        out.append(Resource(urn=f"urn:{obj['kind']}:{obj['metadata']['name']}",
                            type=f"kubernetes:{obj['apiVersion']}:{obj['kind']}", name=obj["metadata"]["name"],
                            props=obj))
    return out


def test_the_rendered_kueue_setup_enforces_queues() -> None:
    assert run_stack("training-queue-enforced", _queue_resources()) == []


def test_kueue_letting_queue_less_jobs_run_fails() -> None:
    _, plan = _dev()
    config = kueue.kueue_config(plan.training)
    config["manageJobsWithoutQueueName"] = False
    findings = run_stack("training-queue-enforced", _queue_resources(config))
    assert messages(findings) == ["Kueue does not hold jobs that name no queue in the training namespaces"]


def test_a_local_queue_feeding_no_cluster_queue_fails() -> None:
    findings = run_stack("training-queue-enforced", _queue_resources(cluster_queue="elsewhere"))
    assert len(findings) == 1 and "ClusterQueue 'elsewhere'" in findings[0].message


# ------------------------------------------------------------------ identity writes

IDENTITY = IdentityPlan(
    model="resnet50", namespace="train-vision", service_account="resnet50-training", cloud_name="tr-dev-resnet50",
    reads=(Grant(bucket="datasets", prefix="imagenet/train"),),
    writes=(Grant(bucket="ckpt", prefix="resnet50"), Grant(bucket="models", prefix="vision/resnet50")))
OTHER = IdentityPlan(
    model="mobilenet", namespace="train-vision", service_account="mobilenet-training", cloud_name="tr-dev-mobilenet",
    reads=(), writes=(Grant(bucket="ckpt", prefix="mobilenet"), Grant(bucket="models", prefix="vision/mobilenet")))


def _under(component: str, type_: str, name: str, props: dict[str, Any], owner: str = "resnet50") -> Resource:
    parent = f"urn:pulumi:dev::tfplat::tfplat:training:{component}::training-{owner}"
    return Resource(urn=f"urn:pulumi:dev::tfplat::tfplat:training:{component}${type_}::{name}", type=type_,
                    name=name, props=props, parent=parent)


def _gcs(identity: IdentityPlan) -> list[Resource]:
    return [_under("GcpIdentity", GCS_IAM, f"{identity.model}-{g.key}",
                   {"bucket": g.bucket, "role": g.role, "member": "serviceAccount:x", "condition": g.condition},
                   identity.model)
            for g in iam.gcs_grants(identity)]


def _s3(identity: IdentityPlan, document: dict[str, Any] | None = None) -> Resource:
    return _under("AwsIdentity", ROLE_POLICY, f"{identity.model}-policy",
                  {"role": "r", "policy": json.dumps(document or iam.s3_policy(identity, None))}, identity.model)


def test_rendered_grants_pass_on_both_clouds() -> None:
    assert run_stack("training-identity-scoped-writes", [*_gcs(IDENTITY), *_gcs(OTHER)]) == []
    assert run_stack("training-identity-scoped-writes", [_s3(IDENTITY), _s3(OTHER)]) == []


@pytest.mark.parametrize("condition", [
    None,
    {"title": "t", "expression": 'resource.type == "storage.googleapis.com/Bucket" || '
                                 'resource.name.startsWith("projects/_/buckets/models/objects/vision/resnet50/")'},
    {"title": "t", "expression": 'resource.name.startsWith("projects/_/buckets/models/objects/")'},
    {"title": "t", "expression": 'resource.name.startsWith("projects/_/buckets/other/objects/x/")'},
])
def test_a_gcs_write_grant_wider_than_one_prefix_fails(condition: dict[str, str] | None) -> None:
    grants = _gcs(IDENTITY)
    create = next(g for g in grants if g.name.endswith("versions-create"))
    props = {**create.props, "condition": condition}
    broken = Resource(urn=create.urn, type=create.type, name=create.name, props=props, parent=create.parent)
    findings = run_stack("training-identity-scoped-writes", [*(g for g in grants if g is not create), broken])
    assert len(findings) == 1 and "roles/storage.objectCreator" in findings[0].message


def test_an_s3_write_on_a_whole_bucket_fails() -> None:
    document = iam.s3_policy(IDENTITY, None)
    document["Statement"].append({"Sid": "Wide", "Effect": "Allow", "Action": "s3:PutObject",
                                  "Resource": "arn:aws:s3:::models/*"})
    findings = run_stack("training-identity-scoped-writes", [_s3(IDENTITY, document)])
    assert messages(findings) == ["statement 'Wide' allows s3:putobject on 'arn:aws:s3:::models/*', not on one "
                                  "object prefix"]


def test_overlapping_prefixes_of_two_identities_fail() -> None:
    nested = IdentityPlan(model="resnet50-big", namespace="train-vision", service_account="s", cloud_name="c",
                          reads=(), writes=(Grant(bucket="ckpt", prefix="resnet50-big"),
                                            Grant(bucket="models", prefix="vision/resnet50/big")))
    findings = run_stack("training-identity-scoped-writes", [_s3(IDENTITY), _s3(nested)])
    assert len(findings) == 1 and "'vision/resnet50/' and 'vision/resnet50/big/'" in findings[0].message


def test_a_project_wide_grant_of_a_training_identity_fails() -> None:
    wide = _under("GcpIdentity", "gcp:projects/iAMMember:IAMMember", "resnet50-admin",
                  {"role": "roles/storage.admin", "member": "serviceAccount:x"})
    findings = run_stack("training-identity-scoped-writes", [*_gcs(IDENTITY), wide])
    assert messages(findings) == ["a training identity holds a project- or managed-policy-wide grant"]
