"""The training plan: flavors and quotas from the training pools, the ClusterQueue, Kueue's
configuration, identities, and the JobSet of a run for each strategy."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.config.loader import LoadedConfig, load, project_root
from infra.plan.stack import StackPlan, plan_stack
from infra.plan.training import job, kueue
from infra.plan.training.job import RunError
from infra.plan.training.platform import identity_name
from infra.rules import distribution as d
from infra.rules import machines


def _dev() -> tuple[LoadedConfig, StackPlan]:
    loaded = load(project_root(), "dev")
    return loaded, plan_stack(loaded)


TPU_RECIPE = """
training:
  image: us-docker.pkg.dev/acme/train/bert:1.0.0@sha256:{digest}
  command: [python, -m, trainer.task]
  strategy: tpu
  accelerator: {{kind: tpu, type: tpu-v5p-slice, topology: 2x2x2}}
  resources: {{cpu: "100", memory: 200Gi}}
  data: [gs://acme-ml-datasets/ranking/]
"""


@pytest.fixture
def tpu_stack(repo_copy: Path) -> tuple[LoadedConfig, StackPlan]:
    """dev plus a multi-host v5p training pool (two slices) and bert-ranker trained on it."""
    model = repo_copy / "models" / "bert-ranker.yaml"
    model.write_text(model.read_text() + TPU_RECIPE.format(digest="c" * 64))
    stack = repo_copy / "stacks" / "Pulumi.dev.yaml"
    text = stack.read_text().replace("    train-l4:", "    train-v5p:\n      role: training\n"
                                     "      accelerator: {type: tpu-v5p-slice, topology: 2x2x2}\n"
                                     "      min_nodes: 0\n      max_nodes: 4\n      zones: [us-central1-a]\n"
                                     "    train-l4:")
    text = text.replace("      vision-team: {namespace: train-vision}\n",
                        "      vision-team: {namespace: train-vision}\n      search-team: {namespace: train-search}\n")
    text = text.replace("    models: [resnet50]", "    models: [resnet50, bert-ranker]")
    stack.write_text(text)
    loaded = load(repo_copy, "dev")
    return loaded, plan_stack(loaded)


def test_flavor_quota_is_the_pool_at_its_largest() -> None:
    _, plan = _dev()
    assert plan.training is not None
    (flavor,) = plan.training.flavors
    shape = machines.machine_shape("g2-standard-8", "gcp")
    assert shape is not None
    node = machines.for_pods(shape, "gcp")
    assert dict(flavor.quota) == {"cpu": f"{4 * node.cpu_millis}m",
                                  "memory": f"{4 * (node.memory_bytes // machines.MIB)}Mi", "nvidia.com/gpu": "4"}
    assert {t.key for t in flavor.taints} == {"nvidia.com/gpu", "tfplat.dev/training"}
    pool = plan.cloud.pools["train-l4"]
    assert any(t.key == "tfplat.dev/training" for t in pool.taints) and pool.spot


def test_serving_pools_do_not_get_the_training_taint() -> None:
    _, plan = _dev()
    assert all(t.key != "tfplat.dev/training" for p in plan.cloud.pools.values() if p.role != "training"
               for t in p.taints)


def test_cluster_queue_covers_each_resource_once_with_zero_where_a_pool_has_none(
        tpu_stack: tuple[LoadedConfig, StackPlan]) -> None:
    _, plan = tpu_stack
    assert plan.training is not None
    cq = kueue.cluster_queue(plan.training)
    (group,) = cq["spec"]["resourceGroups"]
    assert group["coveredResources"] == ["cpu", "memory", "google.com/tpu", "nvidia.com/gpu"]
    quotas = {f["name"]: {r["name"]: r["nominalQuota"] for r in f["resources"]} for f in group["flavors"]}
    assert quotas["train-v5p"]["google.com/tpu"] == "16" and quotas["train-v5p"]["nvidia.com/gpu"] == "0"
    assert quotas["train-l4"]["google.com/tpu"] == "0"
    assert cq["spec"]["namespaceSelector"] == {"matchLabels": {"tfplat.dev/training": "enabled"}}


def test_kueue_holds_queue_less_jobs_only_in_training_namespaces() -> None:
    _, plan = _dev()
    assert plan.training is not None
    values = kueue.kueue_values(plan.training)
    config = yaml.safe_load(values["managerConfig"]["controllerManagerConfigYaml"])
    assert config["manageJobsWithoutQueueName"] is True
    assert config["managedJobsNamespaceSelector"] == {"matchLabels": {"tfplat.dev/training": "enabled"}}
    assert config["waitForPodsReady"]["timeout"] == "900s"
    assert "jobset.x-k8s.io/jobset" in config["integrations"]["frameworks"]
    assert values["controllerManager"]["nodeSelector"] == {"tfplat.dev/role": "system"}


def test_identity_names_fit_the_clouds_limits() -> None:
    loaded, _ = _dev()
    stack = loaded.stack
    assert identity_name(stack, "resnet50") == "tr-dev-resnet50"
    long = identity_name(stack, "a-very-long-model-name-indeed")
    assert len(long) <= 30 and long.startswith("tr-dev-a-very-long")
    assert long != identity_name(stack, "a-very-long-model-name-indeed2")


def _pod(body: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = body["spec"]["replicatedJobs"][0]["template"]["spec"]["template"]["spec"]
    return spec


def test_a_multi_worker_run() -> None:
    loaded, plan = _dev()
    assert plan.training is not None
    run = job.plan_job(loaded.stack, plan.training, loaded.models["resnet50"], run="r1", git_revision="abc")
    body = job.render(run)
    pod = _pod(body)
    assert body["spec"]["failurePolicy"] == {"maxRestarts": 3}
    assert body["spec"]["replicatedJobs"][0]["replicas"] == 4
    assert pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"] == [
        {"matchExpressions": [{"key": "tfplat.dev/pool", "operator": "In", "values": ["train-l4"]}]}]
    assert {t["key"] for t in pod["tolerations"]} == {"nvidia.com/gpu", "tfplat.dev/training"}
    container = pod["containers"][0]
    assert container["resources"]["limits"] == {"memory": "24Gi", "nvidia.com/gpu": "1"}
    assert pod["serviceAccountName"] == "resnet50-training"
    assert run.hosts == tuple(f"resnet50-r1-worker-{i}-0.resnet50-r1" for i in range(4))


def test_a_multi_host_tpu_run(tpu_stack: tuple[LoadedConfig, StackPlan]) -> None:
    loaded, plan = tpu_stack
    assert plan.training is not None
    run = job.plan_job(loaded.stack, plan.training, loaded.models["bert-ranker"], run="r1", git_revision="abc")
    body = job.render(run)
    rj = body["spec"]["replicatedJobs"][0]
    assert (rj["name"], rj["replicas"], rj["template"]["spec"]["parallelism"]) == ("slice", 1, 2)
    assert rj["template"]["spec"]["successPolicy"] == {"rules": [{"succeededIndexes": "0"}]}
    assert body["metadata"]["annotations"] == {"alpha.jobset.sigs.k8s.io/exclusive-topology":
                                               "cloud.google.com/gke-nodepool"}
    pod = _pod(body)
    assert pod["nodeSelector"] == {"cloud.google.com/gke-tpu-accelerator": "tpu-v5p-slice",
                                   "cloud.google.com/gke-tpu-topology": "2x2x2"}
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    assert env["TPU_WORKER_HOSTNAMES"]["value"] == "bert-ranker-r1-slice-0-0.bert-ranker-r1," \
                                                    "bert-ranker-r1-slice-0-1.bert-ranker-r1"
    assert env["TPU_WORKER_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == \
        f"metadata.annotations['{d.COMPLETION_INDEX_ANNOTATION}']"
    assert "TF_CONFIG" not in env
    assert pod["containers"][0]["resources"]["limits"]["google.com/tpu"] == "4"
    assert run.namespace == "train-search"
    with pytest.raises(RunError, match="one worker per host"):
        job.plan_job(loaded.stack, plan.training, loaded.models["bert-ranker"], run="r2", git_revision="a", workers=3)


@pytest.mark.parametrize(("run", "fragment"), [("x" * 40, "characters"), ("Bad_Id", "not a DNS label")])
def test_run_names_must_fit_hostnames(run: str, fragment: str) -> None:
    loaded, plan = _dev()
    assert plan.training is not None
    with pytest.raises(RunError, match=fragment):
        job.plan_job(loaded.stack, plan.training, loaded.models["resnet50"], run=run, git_revision="a")


def test_a_model_the_stack_does_not_train_is_refused() -> None:
    loaded, plan = _dev()
    assert plan.training is not None
    with pytest.raises(RunError, match="does not train mobilenet"):
        job.plan_job(loaded.stack, plan.training, loaded.models["mobilenet"], run="r", git_revision="a")


def test_every_training_namespace_is_fenced() -> None:
    """Each namespace training creates has NetworkPolicies (CIS 4.3.2): a team's pods and the
    controllers accept traffic from their own namespace; only the ports the API server calls
    (webhooks, Kueue's visibility APIService) are open to every source."""
    from infra.plan.training.network import API_SERVER_PORTS, SAME_NAMESPACE, network_policies

    _, plan = _dev()
    assert plan.training is not None
    policies = {(p["metadata"]["namespace"], p["metadata"]["name"]): p["spec"] for p in network_policies(plan.training)}
    namespaces = {"kueue-system", "jobset-system", *plan.training.namespaces.values()}
    assert {ns for ns, _ in policies} == namespaces
    for ns in namespaces:
        assert policies[(ns, SAME_NAMESPACE)] == {"podSelector": {}, "policyTypes": ["Ingress"],
                                                  "ingress": [{"from": [{"podSelector": {}}]}]}
    opened = {ns: sorted(p["port"] for p in spec["ingress"][0]["ports"])
              for (ns, name), spec in policies.items() if name == API_SERVER_PORTS}
    assert opened == {"kueue-system": [8082, 9443], "jobset-system": [9443]}
    assert all("from" not in spec["ingress"][0] for (_, name), spec in policies.items() if name == API_SERVER_PORTS)


def _api_server_targets(objects: Sequence[dict[str, Any]]) -> dict[str, set[int]]:
    """{namespace: container ports} the API server calls in one rendered chart: the Service
    port each webhook configuration and APIService names (443 when unnamed), resolved through
    the Service's targetPort to the controllers' container ports."""
    named = {(o["metadata"]["namespace"], p["name"]): p["containerPort"]
             for o in objects if o["kind"] == "Deployment"
             for c in o["spec"]["template"]["spec"]["containers"] for p in c.get("ports", []) if "name" in p}
    refs = [w["clientConfig"]["service"] for o in objects if o["kind"].endswith("WebhookConfiguration")
            for w in o["webhooks"]]
    refs += [o["spec"]["service"] for o in objects if o["kind"] == "APIService"]
    found: dict[str, set[int]] = {}
    for ref in refs:
        service = next(o for o in objects if o["kind"] == "Service" and o["metadata"]["name"] == ref["name"])
        port = next(p for p in service["spec"]["ports"] if p["port"] == ref.get("port", 443))
        target = port.get("targetPort", port["port"])
        found.setdefault(ref["namespace"], set()).add(
            named[(ref["namespace"], target)] if isinstance(target, str) else target)
    return found


def test_the_open_ports_are_the_ones_the_charts_point_the_api_server_at() -> None:
    """Read from Kueue's, JobSet's and KEDA's charts rendered with real helm: the Services their
    webhook configurations and APIServices name, resolved to the controllers' container ports,
    are exactly the ports left open to every source."""
    from infra.offline.plan import render_stack_charts
    from infra.plan.scaling import keda
    from infra.plan.training.network import CALLED_BY_API_SERVER
    from tests.conftest import shared_run

    plan, result = shared_run("dev")
    releases = {r.release.name: r.objects for r in render_stack_charts(plan, result.records).rendered}
    found: dict[str, set[int]] = {}
    for chart in ("kueue", "jobset"):
        found.update(_api_server_targets(releases[chart]))
    assert {ns: tuple(sorted(p)) for ns, p in found.items()} == \
        {ns: tuple(sorted(p)) for ns, p in CALLED_BY_API_SERVER.items()}
    assert _api_server_targets(releases[keda.RELEASE]) == {keda.NAMESPACE: set(keda.CALLED_BY_API_SERVER)}
