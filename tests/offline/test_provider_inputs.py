"""Every cloud resource's inputs against its provider's schema, as the provider's SDK carries it."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from infra.offline.engine import Record
from infra.offline.provider_inputs import args_class, check_records, fields, required
from tests.conftest import STACKS, shared_run


def _record(stack: str, type_: str) -> Record:
    return next(r for r in shared_run(stack)[1].records if r.type == type_)


def _with(record: Record, inputs: dict[str, Any]) -> Record:
    return Record(**{**record.__dict__, "inputs": inputs})


@pytest.mark.parametrize("stack", STACKS)
def test_every_shipped_stack_meets_the_provider_schemas(stack: str) -> None:
    records = shared_run(stack)[1].records
    checked = [r for r in records if args_class(r.type) is not None]
    # Nearly every provider resource has its SDK's types (custom resources and helm values aside).
    assert len(checked) > 0.8 * sum(1 for r in records if r.type.split(":")[0] in ("gcp", "aws", "kubernetes"))
    assert check_records(records) == []


def test_a_misspelt_nested_property_is_refused_with_the_nearest_name() -> None:
    cluster = _record("prod", "gcp:container/cluster:Cluster")
    inputs = copy.deepcopy(dict(cluster.inputs))
    inputs["nodeConfig"]["shieldedInstanceConfig"]["enableSecureboot"] = True  # camel case wrong
    [problem] = check_records([_with(cluster, inputs)])
    assert problem.path == "nodeConfig.shieldedInstanceConfig.enableSecureboot"
    assert problem.message == ("ClusterNodeConfigShieldedInstanceConfigArgs has no property 'enableSecureboot' "
                               "(did you mean 'enableSecureBoot'?)")
    assert problem.where == f"resources.json gcp:container/cluster:Cluster {cluster.name}"


def test_a_structure_where_a_scalar_belongs_and_a_list_where_an_object_belongs() -> None:
    pool = _record("prod", "gcp:container/nodePool:NodePool")
    inputs = copy.deepcopy(dict(pool.inputs))
    inputs["nodeConfig"]["machineType"] = {"name": "g2-standard-8"}
    inputs["management"] = [inputs["management"]]
    problems = {p.path: p.message for p in check_records([_with(pool, inputs)])}
    assert problems == {"nodeConfig.machineType": "the schema wants a str, got dict",
                        "management": "the schema wants an object (NodePoolManagementArgs), got list"}


def test_a_required_property_missing_is_refused() -> None:
    pool = _record("prod", "gcp:container/nodePool:NodePool")
    inputs = {k: v for k, v in pool.inputs.items() if k != "cluster"}
    [problem] = check_records([_with(pool, inputs)])
    assert (problem.path, problem.message) == ("cluster", "NodePoolArgs: required property 'cluster' is missing")


def test_aws_lists_and_kubernetes_metadata_are_walked() -> None:
    # An EKS node group's scaling config and a Deployment's pod template are typed all the way down.
    group = _record("prod-aws", "aws:eks/nodeGroup:NodeGroup")
    inputs = copy.deepcopy(dict(group.inputs))
    inputs["scalingConfig"]["maxsize"] = 3
    deployment = _record("prod-aws", "kubernetes:apps/v1:Deployment")
    body = copy.deepcopy(dict(deployment.inputs))
    body["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = ["Always"]
    problems = {p.path: p.message for p in check_records([_with(group, inputs), _with(deployment, body)])}
    assert problems == {
        "scalingConfig.maxsize": "NodeGroupScalingConfigArgs has no property 'maxsize' (did you mean 'maxSize'?)",
        "spec.template.spec.containers[0].imagePullPolicy": "the schema wants a str, got list"}


def test_the_resource_arguments_are_told_from_a_nested_type_of_the_same_name() -> None:
    # aws.s3.BucketServerSideEncryptionConfigurationArgs is the Bucket's nested type; the
    # resource's own arguments are ...InitArgs (with `bucket` and `rules`).
    cls = args_class("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
    assert cls is not None and cls.__name__ == "BucketServerSideEncryptionConfigurationInitArgs"
    assert {"bucket", "rules"} <= set(fields(cls)) and required(cls) == ("bucket", "rules")
    assert args_class("kubernetes:apiextensions.k8s.io/v1:CustomResource") is None
    assert args_class("tfplat:serving:Fleet") is None
