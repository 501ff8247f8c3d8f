"""TF_CONFIG and GKE's TPU environment, as the JobSet renders them, read back by TensorFlow's
own cluster resolvers (infra.rules.distribution; the planner uses the same functions)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from infra.rules import distribution as d
from modelkit.training.local import free_ports

HOSTS = d.worker_hosts("resnet50-r1", "worker", jobs=3)


@pytest.mark.parametrize("index", [0, 1, 2])
def test_tf_config_resolver_reads_back_the_jobset_cluster(index: int, monkeypatch: pytest.MonkeyPatch) -> None:
    from tensorflow.python.distribute.cluster_resolver.tfconfig_cluster_resolver import TFConfigClusterResolver

    env = d.expand(d.multi_worker_env(d.tf_cluster(HOSTS)), {d.JOB_INDEX_ANNOTATION: str(index)})
    monkeypatch.setenv("TF_CONFIG", env["TF_CONFIG"])
    resolver = TFConfigClusterResolver()
    assert resolver.cluster_spec().as_dict() == {
        "worker": [f"resnet50-r1-worker-{i}-0.resnet50-r1:{d.TF_PORT}" for i in range(3)]}
    assert (resolver.task_type, resolver.task_id) == ("worker", index)
    assert resolver.master() == f"resnet50-r1-worker-{index}-0.resnet50-r1:{d.TF_PORT}"


def test_the_index_is_a_json_number_after_substitution() -> None:
    template = d.tf_config(d.tf_cluster(HOSTS))
    assert "$(TFPLAT_TASK_INDEX)" in template
    assert json.loads(d.expand([{"name": "TFPLAT_TASK_INDEX", "value": "2"},
                                {"name": "TF_CONFIG", "value": template}], {})["TF_CONFIG"])["task"]["index"] == 2


def test_local_addresses_replace_the_hostnames(monkeypatch: pytest.MonkeyPatch) -> None:
    from tensorflow.python.distribute.cluster_resolver.tfconfig_cluster_resolver import TFConfigClusterResolver

    local = {h: f"127.0.0.1:{20000 + i}" for i, h in enumerate(HOSTS)}
    monkeypatch.setenv("TF_CONFIG", d.tf_config(d.tf_cluster(HOSTS, address_of=local), task_index=0))
    assert TFConfigClusterResolver().cluster_spec().as_dict() == {"worker": list(local.values())}


@pytest.mark.parametrize("worker", [0, 3])
def test_tpu_cluster_resolver_reads_the_slice_hosts(worker: int, monkeypatch: pytest.MonkeyPatch) -> None:
    from tensorflow.python.distribute.cluster_resolver.tpu.tpu_cluster_resolver import TPUClusterResolver

    hosts = d.worker_hosts("bert-r1", "slice", jobs=1, pods_per_job=4)
    env = d.expand(d.tpu_env(hosts), {d.COMPLETION_INDEX_ANNOTATION: str(worker)})
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    resolver = TPUClusterResolver()
    # TensorFlow's GKE resolver: every host's TPU server, in TPU_WORKER_ID order.
    assert resolver.cluster_spec().as_dict() == {"worker": [f"{h}:{d.TPU_SERVER_PORT}" for h in hosts]}
    assert resolver.master() == f"grpc://bert-r1-slice-0-0.bert-r1:{d.TPU_SERVER_PORT}"
    # GKE's own variables for libtpu: this host's id and the same ordering.
    assert env[d.TPU_WORKER_ID] == str(worker)
    assert env[d.TPU_WORKER_HOSTNAMES].split(",") == list(hosts)


def test_a_non_chief_tpu_host_serves_its_slot_of_the_slice() -> None:
    """Hosts 1..n-1 of a multi-host slice run a TensorFlow server at their TPU_WORKER_HOSTNAMES
    address and wait for host 0 (the JobSet's env, on local ports; CPU stands in for the TPU)."""
    ports = free_ports(2)
    env = d.expand(d.tpu_env([f"127.0.0.1:{ports[0]}", f"127.0.0.1:{ports[1]}"]),
                   {d.COMPLETION_INDEX_ANNOTATION: "1"})
    # The resolver's endpoints carry the TPU server port; here each host has its own local port.
    env[d.KUBE_TPU_ENDPOINTS] = ",".join(f"grpc://127.0.0.1:{p}" for p in ports)
    script = ("from tensorflow.python.distribute.cluster_resolver.tpu.tpu_cluster_resolver import "
              "TPUClusterResolver\nfrom modelkit.training.loop import serve_tpu_host\n"
              "serve_tpu_host(TPUClusterResolver(), 1)\n")
    proc = subprocess.Popen([sys.executable, "-c", script], env={**os.environ, **env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", ports[1])) == 0:
                    break
            assert proc.poll() is None, "the host's server exited"
            time.sleep(0.2)
        else:
            raise AssertionError("no TensorFlow server on host 1's address")
        assert proc.poll() is None  # it keeps serving until the pod is stopped
    finally:
        proc.kill()
        proc.wait()
