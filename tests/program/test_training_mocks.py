"""The training platform under the mock engine, on GCP (dev trains resnet50) and on AWS (a
copy of prod-aws that trains mobilenet): buckets, identities, releases, queues."""

from __future__ import annotations

import json

import pytest
import yaml

from infra.offline.plan import run_offline
from tests.conftest import REPO, copy_config
from tests.program.records import Run, named, of_type, one_of_type

AWS_RECIPE = """
training:
  image: 111122223333.dkr.ecr.us-east-1.amazonaws.com/train/mobilenet:2.0.0@sha256:{digest}
  command: [python, -m, trainer.task]
  strategy: multi-worker-mirrored
  workers: 2
  accelerator: {{kind: gpu, type: nvidia-l40s, count: 1}}
  resources: {{cpu: "6", memory: 24Gi}}
  data: [s3://acme-datasets/mobilenet/train/]
  checkpoint_every_steps: 200
"""


@pytest.fixture(scope="module")
def gcp() -> Run:
    return run_offline(REPO, "dev")


@pytest.fixture(scope="module")
def aws(tmp_path_factory: pytest.TempPathFactory) -> Run:
    root = copy_config(tmp_path_factory.mktemp("aws-training"))
    model = root / "models" / "mobilenet.yaml"
    model.write_text(model.read_text() + AWS_RECIPE.format(digest="d" * 64))
    stack = root / "stacks" / "Pulumi.prod-aws.yaml"
    text = stack.read_text().replace(
        "  tfplat:serving:\n",
        "    train-l40s:\n      role: training\n      accelerator: {type: nvidia-l40s, count: 1}\n"
        "      machine_type: g6e.2xlarge\n      min_nodes: 0\n      max_nodes: 4\n      spot: false\n"
        "  tfplat:serving:\n", 1)
    text = text.replace("  tfplat:edge:\n", "  tfplat:training:\n    enabled: true\n    teams:\n"
                        "      vision-team: {namespace: train-vision}\n    models: [mobilenet]\n  tfplat:edge:\n", 1)
    stack.write_text(text)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TFPLAT_ROOT", str(root))  # the program loads config from there, as under the CLI
        return run_offline(root, "prod-aws", project="tfplat")


def test_gcs_checkpoint_bucket_is_private_unversioned_and_expires(gcp: Run) -> None:
    b = named(gcp, "gcp:storage/bucket:Bucket", "checkpoints-bucket").inputs
    assert b["name"] == "acme-ml-dev-dev-checkpoints"
    assert (b["uniformBucketLevelAccess"], b["publicAccessPrevention"]) == (True, "enforced")
    assert b["versioning"] == {"enabled": False} and b["labels"] == {"tfplat-purpose": "checkpoints"}
    assert b["lifecycleRules"] == [{"action": {"type": "Delete"}, "condition": {"age": 30}}]


def test_gcp_training_identity_is_prefix_scoped_and_bound_to_its_ksa(gcp: Run) -> None:
    sa = named(gcp, "gcp:serviceaccount/account:Account", "training-resnet50-sa").inputs
    assert sa["accountId"] == "tr-dev-resnet50"
    grants = {r.name.removeprefix("training-resnet50-"): r.inputs
              for r in of_type(gcp, "gcp:storage/bucketIAMMember:BucketIAMMember") if "training" in r.name}
    assert {k: (g["bucket"], g["role"]) for k, g in grants.items()} == {
        "read-0": ("acme-ml-datasets", "roles/storage.objectViewer"),
        "checkpoints-read": ("acme-ml-dev-dev-checkpoints", "roles/storage.objectViewer"),
        "checkpoints-write": ("acme-ml-dev-dev-checkpoints", "roles/storage.objectUser"),
        "versions-read": ("acme-ml-dev-dev-models", "roles/storage.objectViewer"),
        "versions-create": ("acme-ml-dev-dev-models", "roles/storage.objectCreator")}
    assert grants["versions-create"]["condition"]["expression"] == \
        'resource.name.startsWith("projects/_/buckets/acme-ml-dev-dev-models/objects/vision/resnet50/")'
    wi = named(gcp, "gcp:serviceaccount/iAMMember:IAMMember", "training-resnet50-wi").inputs
    assert wi["member"] == "serviceAccount:acme-ml-dev.svc.id.goog[train-vision/resnet50-training]"
    ksa = named(gcp, "kubernetes:core/v1:ServiceAccount", "train-vision-resnet50-training").inputs
    assert "iam.gke.io/gcp-service-account" in ksa["metadata"]["annotations"]


def test_kueue_and_jobset_come_from_their_pinned_oci_charts(gcp: Run) -> None:
    releases = {r.name: r.inputs for r in of_type(gcp, "kubernetes:helm.sh/v3:Release")}
    assert releases["kueue"]["chart"] == "oci://registry.k8s.io/kueue/charts/kueue"
    assert (releases["kueue"]["version"], releases["kueue"]["namespace"]) == ("0.19.2", "kueue-system")
    assert releases["jobset"]["chart"] == "oci://registry.k8s.io/jobset/charts/jobset"
    assert releases["jobset"]["version"] == "0.12.0" and "repositoryOpts" not in releases["jobset"]
    config = yaml.safe_load(releases["kueue"]["values"]["managerConfig"]["controllerManagerConfigYaml"])
    assert config["manageJobsWithoutQueueName"] is True


def test_kueue_objects_wait_for_the_kueue_release(gcp: Run) -> None:
    kueue_release = named(gcp, "kubernetes:helm.sh/v3:Release", "kueue")
    for typ in ("ClusterQueue", "ResourceFlavor", "LocalQueue"):
        for r in of_type(gcp, f"kubernetes:kueue.x-k8s.io/v1beta2:{typ}"):
            assert kueue_release.urn in r.depends_on, r.name
    ns = named(gcp, "kubernetes:core/v1:Namespace", "train-vision").inputs
    assert ns["metadata"]["labels"]["tfplat.dev/training"] == "enabled"


def test_training_export(gcp: Run) -> None:
    out = gcp[1].outputs["training"]
    assert out["clusterQueue"] == "tfplat-training" and out["flavors"] == ["train-l4"]
    assert out["checkpointBucket"]


def test_aws_checkpoint_bucket_and_role(aws: Run) -> None:
    bucket = named(aws, "aws:s3/bucket:Bucket", "checkpoints-bucket").inputs
    assert bucket["tags"]["tfplat:purpose"] == "checkpoints"
    assert not [r for r in of_type(aws, "aws:s3/bucketVersioning:BucketVersioning") if "checkpoints" in r.name]
    lifecycle = named(aws, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
                      "checkpoints-lifecycle").inputs
    assert any(rule.get("expiration", {}).get("days") == 30 for rule in lifecycle["rules"])
    role = named(aws, "aws:iam/role:Role", "training-mobilenet-role").inputs
    assert role["name"] == "tfplat-prod-aws-train-mobilenet"
    policy = json.loads(named(aws, "aws:iam/rolePolicy:RolePolicy", "training-mobilenet-policy").inputs["policy"])
    writes = {s["Sid"]: s["Resource"] for s in policy["Statement"] if s["Sid"].endswith("Write")}
    assert writes == {
        "CheckpointsWrite": "arn:aws:s3:::tfplat-prod-aws-checkpoints-111122223333/mobilenet/*",
        "VersionsWrite": "arn:aws:s3:::tfplat-prod-aws-models-111122223333/vision/mobilenet/*"}
    assoc = named(aws, "aws:eks/podIdentityAssociation:PodIdentityAssociation", "training-mobilenet-pod-identity")
    assert (assoc.inputs["namespace"], assoc.inputs["serviceAccount"]) == ("train-vision", "mobilenet-training")
    ksa = named(aws, "kubernetes:core/v1:ServiceAccount", "train-vision-mobilenet-training").inputs
    assert "annotations" not in ksa["metadata"]


def test_aws_training_passes_the_policies(aws: Run) -> None:
    from infra.offline import render
    from policies.tfplat_policies import check_records

    _, result = aws
    document = render.resources_document("prod-aws", "tfplat", result)
    violations = check_records(document["resources"], environment="prod")
    assert [v for v in violations if v.policy.startswith(("training-", "bucket-"))] == []


def test_serving_pools_keep_serving_pods_off_training_nodes(aws: Run) -> None:
    group = named(aws, "aws:eks/nodeGroup:NodeGroup", "eks-train-l40s").inputs
    assert {"key": "tfplat.dev/training", "value": "present", "effect": "NO_SCHEDULE"} in group["taints"]
    one_of_type(aws, "tfplat:training:Platform")

