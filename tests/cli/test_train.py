"""`tfplat train`: the dry run writes the JobSet the cluster would get; submit and --status go
through the real Kubernetes client to an HTTP-level fake API server (tests/cli/fake_apiserver);
user mistakes exit 2 with file, field, value and fix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.cli.main import main
from infra.cli.train_status import RunStatus, match_workloads, status_of
from infra.rules import distribution as d
from tests.cli.fake_apiserver import fake_cluster


def _dry(repo_copy: Path, tmp_path: Path, *extra: str) -> dict[str, Any]:
    out = tmp_path / "out"
    assert main(["train", "resnet50", "--stack", "dev", "--dry-run", "--run-id", "t1", "--out", str(out),
                 *extra]) == 0
    loaded: dict[str, Any] = yaml.safe_load((out / "dev" / "training" / "resnet50-t1.yaml").read_text())
    return loaded


def _env(body: dict[str, Any]) -> dict[str, Any]:
    container = body["spec"]["replicatedJobs"][0]["template"]["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e for e in container["env"]}


def test_dry_run_writes_the_jobset_of_a_validation_run(repo_copy: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    body = _dry(repo_copy, tmp_path, "--workers", "2")
    assert body["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "training"
    assert body["metadata"]["namespace"] == "train-vision"
    rj = body["spec"]["replicatedJobs"][0]
    assert (rj["name"], rj["replicas"]) == ("worker", 2)
    env = _env(body)
    assert env["TFPLAT_TASK_INDEX"]["valueFrom"]["fieldRef"]["fieldPath"] == \
        "metadata.annotations['jobset.sigs.k8s.io/job-index']"
    # The TF_CONFIG a worker gets once the kubelet substitutes its index.
    config = json.loads(d.expand([env["TFPLAT_TASK_INDEX"], env["TF_CONFIG"]], {d.JOB_INDEX_ANNOTATION: "1"})[
        "TF_CONFIG"])
    assert config == {"cluster": {"worker": ["resnet50-t1-worker-0-0.resnet50-t1:2222",
                                             "resnet50-t1-worker-1-0.resnet50-t1:2222"]},
                      "task": {"type": "worker", "index": 1}}
    assert env["TFPLAT_EXPORT_BASE"]["value"] == "gs://acme-ml-dev-dev-models/vision/resnet50"
    assert env["TFPLAT_CHECKPOINT_DIR"]["value"] == "gs://acme-ml-dev-dev-checkpoints/resnet50/resnet50-t1"
    out = capsys.readouterr().out
    assert "not submitted" in out and "checked against the JobSet CRD of jobset 0.12.0" in out


def test_the_jobset_crd_of_the_pinned_chart_judges_a_run(repo_copy: Path, tmp_path: Path) -> None:
    from infra.cli.train_cmd import check_against_crd

    body = _dry(repo_copy, tmp_path, "--workers", "2")
    assert check_against_crd(body) == ([], None)
    # A CEL rule of the CRD: ordered start-up and dependencies between replicated jobs exclude each other.
    body["spec"]["startupPolicy"] = {"startupPolicyOrder": "InOrder"}
    body["spec"]["replicatedJobs"][0]["dependsOn"] = [{"name": "coordinator", "status": "Ready"}]
    assert check_against_crd(body) == (
        ["jobset: spec: StartupPolicy and DependsOn APIs are mutually exclusive"], None)


@pytest.mark.parametrize(("argv", "fragment"), [
    (["train", "resnet5", "--stack", "dev"], 'did you mean "resnet50"?'),
    (["train", "mobilenet", "--stack", "dev", "--dry-run"], "stack dev does not train mobilenet"),
    (["train", "resnet50", "--stack", "prod", "--dry-run"], "stack prod does not train"),
    (["train", "resnet50", "--stack", "dev", "--run-id", "Not_A_Label", "--dry-run"], "is not a DNS label"),
    (["train", "--stack", "dev"], "no model given"),
])
def test_mistakes_exit_2_and_submit_nothing(argv: list[str], fragment: str, repo_copy: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert fragment in err and "fix:" in err and "Traceback" not in err


def test_submit_creates_the_jobset_and_refuses_a_duplicate(repo_copy: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    expected = _dry(repo_copy, tmp_path)
    with fake_cluster() as cluster:
        kubeconfig = str(cluster.kubeconfig(tmp_path / "kubeconfig"))
        argv = ["train", "resnet50", "--stack", "dev", "--run-id", "t1", "--kubeconfig", kubeconfig]
        assert main(argv) == 0
        stored = cluster.objects[("jobsets", "train-vision", "resnet50-t1")]
        stored["metadata"].pop("uid")
        # The revision may differ between the two calls only if the checkout changed meanwhile.
        assert stored == expected
        assert ("POST", "/apis/jobset.x-k8s.io/v1alpha2/namespaces/train-vision/jobsets") in cluster.requests
        assert main(argv) == 1
    assert "a run of that name exists already" in capsys.readouterr().err


def test_kubeconfig_is_read_when_the_command_runs(repo_copy: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The Kubernetes client reads KUBECONFIG once, when first imported; tfplat reads it per
    command, so a process that imported the client before (a test worker) still finds it."""
    import kubernetes.config  # noqa: F401 - imported before KUBECONFIG is set, as in a long-lived process

    with fake_cluster() as cluster:
        monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig(tmp_path / "kubeconfig")))
        assert main(["train", "resnet50", "--stack", "dev", "--run-id", "env1"]) == 0
        assert ("jobsets", "train-vision", "resnet50-env1") in cluster.objects


def test_submit_without_a_reachable_cluster_fails_cleanly(repo_copy: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    with fake_cluster() as cluster:
        kubeconfig = str(cluster.kubeconfig(tmp_path / "kubeconfig"))
    # The server is gone: connection refused.
    assert main(["train", "resnet50", "--stack", "dev", "--kubeconfig", kubeconfig]) == 1
    err = capsys.readouterr().err
    assert "cannot reach the cluster" in err and "Traceback" not in err


# ------------------------------------------------------------------ status


def _jobset(name: str, *, status: dict[str, Any] | None = None, replicas: int = 2) -> dict[str, Any]:
    return {"apiVersion": "jobset.x-k8s.io/v1alpha2", "kind": "JobSet",
            "metadata": {"name": name, "namespace": "train-vision", "uid": f"uid-{name}",
                         "labels": {"app.kubernetes.io/name": "tfplat-training", "tfplat.dev/model": "resnet50"}},
            "spec": {"replicatedJobs": [{"name": "worker", "replicas": replicas,
                                         "template": {"spec": {"parallelism": 1}}}]},
            "status": status or {}}


def _workload(owner: str, conditions: list[dict[str, str]]) -> dict[str, Any]:
    return {"apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "Workload",
            "metadata": {"name": f"jobset-{owner}-abcde", "namespace": "train-vision",
                         "ownerReferences": [{"apiVersion": "jobset.x-k8s.io/v1alpha2", "kind": "JobSet",
                                              "name": owner, "uid": f"uid-{owner}"}]},
            "status": {"conditions": conditions}}


ADMITTED = [{"type": "QuotaReserved", "status": "True"}, {"type": "Admitted", "status": "True"}]
PENDING = [{"type": "QuotaReserved", "status": "False", "reason": "Pending",
            "message": "couldn't assign flavors to pod set worker: insufficient quota for nvidia.com/gpu"}]
RUNS: list[tuple[dict[str, Any], dict[str, Any] | None, str, str]] = [
    (_jobset("q"), _workload("q", PENDING), "queued", "insufficient quota for nvidia.com/gpu"),
    (_jobset("n"), None, "queued", "no Kueue workload yet"),
    (_jobset("a", status={"replicatedJobsStatus": [{"name": "worker", "ready": 1}]}), _workload("a", ADMITTED),
     "admitted", "1/2 workers ready"),
    (_jobset("r", status={"replicatedJobsStatus": [{"name": "worker", "ready": 2}]}), _workload("r", ADMITTED),
     "running", ""),
    (_jobset("x", status={"restarts": 2, "replicatedJobsStatus": [{"name": "worker", "ready": 2}]}),
     _workload("x", ADMITTED), "restarted", "restarted 2x"),
    (_jobset("d", status={"terminalState": "Completed"}), _workload("d", ADMITTED), "done", ""),
    (_jobset("f", status={"terminalState": "Failed", "conditions": [
        {"type": "Failed", "status": "True", "message": "jobset failed: reached max restarts"}]}),
     _workload("f", ADMITTED), "failed", "reached max restarts"),
]


@pytest.mark.parametrize(("jobset", "workload", "state", "detail"), RUNS)
def test_status_of_each_stage(jobset: dict[str, Any], workload: dict[str, Any] | None, state: str,
                              detail: str) -> None:
    got = status_of(jobset, workload)
    assert got.state == state and detail in got.detail


def test_workloads_pair_with_their_jobsets_by_owner() -> None:
    rows = match_workloads([_jobset("a"), _jobset("b")], [_workload("b", ADMITTED), _workload("a", PENDING)])
    assert [(r.name, r.state) for r in rows] == [("a", "queued"), ("b", "admitted")]
    assert isinstance(rows[0], RunStatus)


def test_status_lists_runs_from_the_cluster(repo_copy: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    with fake_cluster() as cluster:
        for js, wl, _, _ in RUNS:
            cluster.add("jobsets", js)
            if wl is not None:
                cluster.add("workloads", wl)
        other = _jobset("other-team")
        other["metadata"]["labels"]["tfplat.dev/model"] = "bert-ranker"
        cluster.add("jobsets", other)
        kubeconfig = str(cluster.kubeconfig(tmp_path / "kubeconfig"))
        assert main(["train", "resnet50", "--status", "--stack", "dev", "--kubeconfig", kubeconfig]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["run", "model", "state", "workers", "restarts", "detail"]
    states = {line.split()[0]: line.split()[2] for line in out[1:]}
    assert states == {"a": "admitted", "d": "done", "f": "failed", "n": "queued", "q": "queued", "r": "running",
                      "x": "restarted"}
