"""One run of a model's training recipe as a JobSet: what `tfplat train` submits.

A run is a submission, not Pulumi desired state: the plan decides everything (name, queue,
placement, workers, the environment that wires them together) and `render` turns it into the
JobSet object, which the CLI validates against the pinned JobSet CRD and submits.

Shape by strategy:
- mirrored: one replicated job `worker` with one pod using every GPU of its node.
- multi-worker-mirrored: `worker` replicated `workers` times, a pod each; TF_CONFIG from the
  JobSet's stable hostnames (infra.rules.distribution), worker 0 is TensorFlow's chief.
- tpu: one Indexed Job `slice` with a pod per host of the slice, GKE's TPU environment, all
  hosts on one node pool (one slice: JobSet's exclusive placement per node pool); the Job
  succeeds when host 0 does, since the other hosts serve their TPUs to it.
Every shape: queue label (Kueue admits the whole JobSet at once), required node affinity on
the fitting training pools, the pools' taints tolerated, and all workers restarted together
from the last checkpoint after a failure, at most max_restarts times.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
import re
from typing import Any

from infra.config.spec import ModelSpec, StackSpec
from infra.plan.cloud import GPU_TAINT_KEY, TPU_TAINT_KEY, TRAINING_TAINT
from infra.plan.fleet import GKE_TPU_ACCELERATOR, GKE_TPU_TOPOLOGY
from infra.plan.training.platform import LOCAL_QUEUE, TrainingPlan
from infra.rules import catalog, names
from infra.rules import distribution as d
from infra.rules import training as rules

JOBSET_API = "jobset.x-k8s.io/v1alpha2"
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
EXCLUSIVE_TOPOLOGY = "alpha.jobset.sigs.k8s.io/exclusive-topology"
NODE_POOL_LABEL = "cloud.google.com/gke-nodepool"  # one GKE node pool = one TPU slice
RUN_LABEL = "tfplat.dev/run"
RUN_AS = 10001
SCRATCH = "/scratch"
SHM_SIZE = "8Gi"  # NCCL and tf.data use /dev/shm; the container default (64 MiB) is too small
MAX_NAME = 40  # leaves room for -<replicated job>-<job>-<pod> in a 63-character hostname
RUN_ID = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class RunError(ValueError):
    """A run that cannot be planned as asked (message says why, hint how to fix)."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(f"{message} (fix: {hint})")
        self.message, self.hint = message, hint


@dataclass(frozen=True, kw_only=True)
class JobPlan:
    model: str
    team: str
    name: str  # the JobSet's name = the run's id in checkpoint paths
    namespace: str
    queue: str
    service_account: str
    image: str
    command: tuple[str, ...]
    args: tuple[str, ...]
    extra_env: Mapping[str, str]
    strategy: str
    replicated_job: str  # worker | slice
    jobs: int  # replicas of the replicated job
    pods_per_job: int
    resource: str  # nvidia.com/gpu | google.com/tpu
    per_worker: int  # accelerators per pod
    cpu: str
    memory: str
    pools: tuple[str, ...]  # training pools the workers may run on
    node_selector: Mapping[str, str]
    tolerations: tuple[Mapping[str, str], ...]
    data: tuple[str, ...]
    checkpoint_dir: str
    checkpoint_every_steps: int
    export_base: str
    max_restarts: int
    ttl_after_finished_s: int
    git_revision: str
    environment: str

    @property
    def workers(self) -> int:
        return self.jobs * self.pods_per_job

    @property
    def hosts(self) -> tuple[str, ...]:
        return d.worker_hosts(self.name, self.replicated_job, jobs=self.jobs, pods_per_job=self.pods_per_job)


def run_name(model: str, run: str) -> str:
    """The JobSet's name: <model>-<run id>, cut to fit hostnames."""
    if not RUN_ID.match(run):
        raise RunError(f"run id {run!r} is not a DNS label", "use lowercase letters, digits and '-'")
    name = f"{model}-{run}"
    if len(name) > MAX_NAME:
        raise RunError(f"run name {name!r} is {len(name)} characters; JobSet hostnames need at most {MAX_NAME}",
                       f"use a shorter --run-id (at most {MAX_NAME - len(model) - 1} characters)")
    return name


def plan_job(stack: StackSpec, training: TrainingPlan, model: ModelSpec, *, run: str, git_revision: str,
             workers: int | None = None, image: str | None = None) -> JobPlan:
    """Plan one run of `model` on `stack`. `workers` overrides the recipe's (a 2-worker
    validation run before full scale); `image` overrides the recipe's image (same pinning)."""
    t = model.training
    if t is None or model.name not in training.identities:
        raise RunError(f"stack {stack.name} does not train {model.name}",
                       f"add it to tfplat:training.models of stacks/Pulumi.{stack.name}.yaml "
                       f"(and a training: section to {model.file})")
    identity = training.identities[model.name]
    acc = t.accelerator
    assert acc.type is not None
    pools = tuple(p.name for p in rules.training_pools(stack.node_pools.values(), acc, spot=t.spot))
    node_selector: dict[str, str] = {}
    tolerations = [{"key": TRAINING_TAINT.key, "operator": "Exists", "effect": "NoSchedule"}]
    if acc.kind == "tpu":
        assert acc.topology is not None
        shape = catalog.resolve_tpu_pool(accelerator=acc.type, topology=acc.topology)
        if workers not in (None, shape.nodes):
            raise RunError(f"a {acc.topology} slice has {shape.nodes} host(s); a TPU run has one worker per host",
                           "drop --workers, or train on another topology")
        replicated, jobs, pods, per_worker = "slice", 1, shape.nodes, shape.chips_per_node
        node_selector = {GKE_TPU_ACCELERATOR: acc.type, GKE_TPU_TOPOLOGY: acc.topology}
        tolerations.append({"key": TPU_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"})
    else:
        count = rules.workers(t.strategy, workers or t.workers)
        if t.strategy == "mirrored" and workers not in (None, 1):
            raise RunError("a mirrored run has one worker", "drop --workers, or use strategy multi-worker-mirrored")
        replicated, jobs, pods, per_worker = "worker", count, 1, acc.count
        tolerations.append({"key": GPU_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"})
    name = run_name(model.name, run)
    scheme = "gs" if stack.cloud == "gcp" else "s3"
    ckpt_bucket, model_grant = identity.writes[0].bucket, identity.writes[1]
    return JobPlan(
        model=model.name, team=model.owner, name=name, namespace=identity.namespace, queue=LOCAL_QUEUE,
        service_account=identity.service_account, image=image or t.image, command=t.command, args=t.args,
        extra_env=t.env, strategy=t.strategy, replicated_job=replicated, jobs=jobs, pods_per_job=pods,
        resource=rules.resource_of(acc.kind), per_worker=per_worker, cpu=t.cpu, memory=t.memory, pools=pools,
        node_selector=node_selector, tolerations=tuple(tolerations), data=t.data,
        checkpoint_dir=f"{scheme}://{ckpt_bucket}/{model.name}/{name}", checkpoint_every_steps=t.checkpoint_every_steps,
        export_base=model_grant.uri(scheme), max_restarts=t.max_restarts, ttl_after_finished_s=t.ttl_after_finished_s,
        git_revision=git_revision, environment=stack.environment)


def container_env(job: JobPlan, *, address_of: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """The workers' environment. `address_of` maps JobSet hostnames to other addresses (the
    tests run the workers as local processes with exactly this environment)."""
    env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in sorted(job.extra_env.items())]
    env += [{"name": k, "value": v} for k, v in (
        (d.ENV_MODEL, job.model), (d.ENV_RUN, job.name), (d.ENV_STRATEGY, job.strategy),
        (d.ENV_DATA, ",".join(job.data)), (d.ENV_CHECKPOINT_DIR, job.checkpoint_dir),
        (d.ENV_CHECKPOINT_EVERY_STEPS, str(job.checkpoint_every_steps)), (d.ENV_EXPORT_BASE, job.export_base),
        (d.ENV_IMAGE, job.image), (d.ENV_GIT_REVISION, job.git_revision), ("TFPLAT_SCRATCH", SCRATCH),
        ("HOME", "/tmp"))]
    if job.strategy == "multi-worker-mirrored":
        env += d.multi_worker_env(d.tf_cluster(job.hosts, address_of=address_of))
    elif job.strategy == "tpu" and job.workers > 1:
        env += d.tpu_env(job.hosts)
    return env


def _labels(job: JobPlan) -> dict[str, str]:
    return {names.LABEL_NAME: "tfplat-training", names.LABEL_INSTANCE: job.name,
            names.LABEL_COMPONENT: "training-run", names.LABEL_PART_OF: names.PART_OF,
            names.LABEL_MANAGED_BY: names.MANAGED_BY, names.LABEL_MODEL: job.model, names.LABEL_TEAM: job.team,
            names.LABEL_ENV: job.environment, RUN_LABEL: job.name}


def _pod_spec(job: JobPlan) -> dict[str, Any]:
    accel = {job.resource: str(job.per_worker)}
    port = d.TPU_SERVER_PORT if job.strategy == "tpu" else d.TF_PORT
    container = {
        "name": "train", "image": job.image, "command": list(job.command), "args": list(job.args),
        "env": container_env(job),
        "ports": [{"name": "tf", "containerPort": port}],
        "resources": {"requests": {"cpu": job.cpu, "memory": job.memory, **accel},
                      "limits": {"memory": job.memory, **accel}},
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                            "runAsNonRoot": True, "runAsUser": RUN_AS, "seccompProfile": {"type": "RuntimeDefault"}},
        "volumeMounts": [{"name": "scratch", "mountPath": SCRATCH}, {"name": "shm", "mountPath": "/dev/shm"},
                         {"name": "tmp", "mountPath": "/tmp"}],
    }
    spec: dict[str, Any] = {
        "serviceAccountName": job.service_account, "automountServiceAccountToken": False,
        "restartPolicy": "Never",  # a failed worker fails the run; JobSet restarts every worker
        "containers": [container],
        "securityContext": {"runAsNonRoot": True, "runAsUser": RUN_AS, "fsGroup": RUN_AS,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": names.LABEL_POOL, "operator": "In", "values": list(job.pools)}]}]}}},
        "tolerations": [dict(t) for t in job.tolerations],
        "volumes": [{"name": "scratch", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}},
                    {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": SHM_SIZE}}],
    }
    if job.node_selector:
        spec["nodeSelector"] = dict(job.node_selector)
    return spec


def render(job: JobPlan) -> dict[str, Any]:
    """The JobSet object of the run."""
    labels = _labels(job)
    job_spec: dict[str, Any] = {
        "parallelism": job.pods_per_job, "completions": job.pods_per_job, "completionMode": "Indexed",
        "backoffLimit": 0,
        "template": {"metadata": {"labels": dict(labels)}, "spec": _pod_spec(job)}}
    if job.pods_per_job > 1:
        # Hosts 1..n-1 serve their TPUs to host 0, which runs the training: host 0 decides.
        job_spec["successPolicy"] = {"rules": [{"succeededIndexes": "0"}]}
    annotations = {EXCLUSIVE_TOPOLOGY: NODE_POOL_LABEL} if job.strategy == "tpu" else {}
    meta: dict[str, Any] = {"name": job.name, "namespace": job.namespace,
                            "labels": dict(sorted({**labels, QUEUE_LABEL: job.queue}.items()))}
    if annotations:
        meta["annotations"] = annotations
    return {
        "apiVersion": JOBSET_API, "kind": "JobSet", "metadata": meta,
        "spec": {
            "failurePolicy": {"maxRestarts": job.max_restarts},
            "network": {"enableDNSHostnames": True, "subdomain": job.name, "publishNotReadyAddresses": True},
            "ttlSecondsAfterFinished": job.ttl_after_finished_s,
            "replicatedJobs": [{"name": job.replicated_job, "replicas": job.jobs,
                                "template": {"metadata": {"labels": dict(labels)}, "spec": job_spec}}],
        },
    }
