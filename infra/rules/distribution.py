"""How the workers of one distributed TensorFlow job find each other: TF_CONFIG and GKE's TPU
environment, from the stable hostnames JobSet gives its pods.

Pure (no TensorFlow, no tfplat imports): the planner renders these into a JobSet's pod
template (the Pulumi venv never imports TensorFlow), and the TensorFlow side builds the very
same values for local worker processes, mapping each JobSet hostname to a local port. The
tests in tests/tf read the results back with TensorFlow's own cluster resolvers.

JobSet names pods `<jobset>-<replicated job>-<job index>-<pod index>` and, with DNS hostnames
on, makes each reachable as `<that name>.<subdomain>` (the subdomain defaults to the JobSet's
name; the CRD documents the format). All pods of a replicated job share one template, so the
per-pod part (which worker am I) cannot be rendered as a literal: it comes from the pod's own
JobSet annotation through the downward API, and Kubernetes substitutes `$(VAR)` references to
earlier variables of the same container when it starts it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
import json
from typing import Any

#: Port the TensorFlow gRPC servers of the workers listen on (any free port works; one for all).
TF_PORT = 2222
#: JobSet's label/annotation on every pod: the index of its Job within the replicated job.
JOB_INDEX_ANNOTATION = "jobset.sigs.k8s.io/job-index"
#: The Job controller's annotation on Indexed Job pods: the pod's completion index.
COMPLETION_INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
#: Environment variable that carries the worker index into TF_CONFIG.
TASK_INDEX_ENV = "TFPLAT_TASK_INDEX"
_INDEX_SENTINEL = "__tfplat_task_index__"

# GKE's TPU environment for a multi-host slice (the variables its webhook injects into
# Indexed Jobs asking for google.com/tpu): which worker this host is, and all the slice's
# hosts ordered by worker id.
TPU_WORKER_ID = "TPU_WORKER_ID"
TPU_WORKER_HOSTNAMES = "TPU_WORKER_HOSTNAMES"


def pod_hostname(jobset: str, replicated_job: str, job_index: int, pod_index: int = 0) -> str:
    """A JobSet pod's hostname (its DNS label)."""
    return f"{jobset}-{replicated_job}-{job_index}-{pod_index}"


def worker_hosts(jobset: str, replicated_job: str, *, jobs: int, pods_per_job: int = 1,
                 subdomain: str | None = None) -> tuple[str, ...]:
    """Every pod's DNS name `<hostname>.<subdomain>`, ordered by job index, then pod index."""
    sub = subdomain or jobset
    return tuple(f"{pod_hostname(jobset, replicated_job, j, p)}.{sub}"
                 for j in range(jobs) for p in range(pods_per_job))


def tf_cluster(hosts: Sequence[str], *, port: int = TF_PORT,
               address_of: Mapping[str, str] | None = None) -> dict[str, list[str]]:
    """TF_CONFIG's `cluster`: every worker is a `worker` (MultiWorkerMirroredStrategy makes
    worker 0 the chief). `address_of` maps a hostname to another `host:port` (local runs)."""
    mapped = address_of or {}
    return {"worker": [mapped.get(h, f"{h}:{port}") for h in hosts]}


def tf_config(cluster: Mapping[str, Sequence[str]], *, task_type: str = "worker",
              task_index: int | None = None) -> str:
    """The TF_CONFIG value. task_index None: a template whose index is `$(TFPLAT_TASK_INDEX)`,
    left unquoted so that after Kubernetes' substitution the index is a JSON number."""
    index: Any = _INDEX_SENTINEL if task_index is None else task_index
    text = json.dumps({"cluster": {k: list(v) for k, v in sorted(cluster.items())},
                       "task": {"type": task_type, "index": index}}, sort_keys=True, separators=(",", ":"))
    return text.replace(f'"{_INDEX_SENTINEL}"', f"$({TASK_INDEX_ENV})")


def _field_env(name: str, annotation: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": f"metadata.annotations['{annotation}']"}}}


def multi_worker_env(cluster: Mapping[str, Sequence[str]]) -> list[dict[str, Any]]:
    """Container env of a JobSet worker (one pod per Job): its index from JobSet's annotation,
    then TF_CONFIG referring to it (order matters: a reference sees earlier variables only)."""
    return [_field_env(TASK_INDEX_ENV, JOB_INDEX_ANNOTATION),
            {"name": "TF_CONFIG", "value": tf_config(cluster)}]


def tpu_env(hosts: Sequence[str]) -> list[dict[str, Any]]:
    """Container env of one host of a multi-host TPU slice (one Indexed Job, a pod per host):
    GKE's TPU environment (the values its webhook injects into such Jobs, rendered explicitly
    so the JobSet says what runs) and the worker list TensorFlow's TPUClusterResolver reads on
    GKE, every host's TPU server in TPU_WORKER_ID order."""
    return [_field_env(TPU_WORKER_ID, COMPLETION_INDEX_ANNOTATION),
            {"name": TPU_WORKER_HOSTNAMES, "value": ",".join(hosts)},
            {"name": KUBE_TPU_ENDPOINTS, "value": ",".join(f"grpc://{h}:{TPU_SERVER_PORT}" for h in hosts)}]


def expand(env: Sequence[Mapping[str, Any]], field_values: Mapping[str, str]) -> dict[str, str]:
    """The environment a container would see: `valueFrom.fieldRef` annotations resolved from
    `field_values` (annotation -> value), and `$(VAR)` references to earlier variables
    substituted as the kubelet does (`$$` escapes; an unknown reference stays as written).
    Used to start local processes from the very env a JobSet pod gets."""
    out: dict[str, str] = {}
    for item in env:
        name = str(item["name"])
        if "value" in item:
            out[name] = _substitute(str(item["value"]), out)
            continue
        path = item["valueFrom"]["fieldRef"]["fieldPath"]
        key = path.removeprefix("metadata.annotations['").removesuffix("']")
        out[name] = field_values[key]
    return out


def _substitute(text: str, defined: Mapping[str, str]) -> str:
    result, i = [], 0
    while i < len(text):
        if text.startswith("$$", i):
            result.append("$")
            i += 2
        elif text.startswith("$(", i) and (end := text.find(")", i)) != -1 and text[i + 2:end] in defined:
            result.append(defined[text[i + 2:end]])
            i = end + 1
        else:
            result.append(text[i])
            i += 1
    return "".join(result)


# ------------------------------------------------------------------ the job's contract
# Environment variables the JobSet gives every training container, read by the training
# runtime (modelkit.training). One list, so the two sides cannot drift apart.
ENV_MODEL = "TFPLAT_MODEL"  # the model's name (models/<name>.yaml)
ENV_RUN = "TFPLAT_RUN"  # the run's id: the JobSet's name; its checkpoints live under it
ENV_STRATEGY = "TFPLAT_STRATEGY"  # mirrored | multi-worker-mirrored | tpu
ENV_DATA = "TFPLAT_DATA"  # comma-separated data locations (gs://, s3://)
ENV_CHECKPOINT_DIR = "TFPLAT_CHECKPOINT_DIR"  # <checkpoint bucket>/<model>/<run>
ENV_CHECKPOINT_EVERY_STEPS = "TFPLAT_CHECKPOINT_EVERY_STEPS"
ENV_EXPORT_BASE = "TFPLAT_EXPORT_BASE"  # <model bucket>/<prefix>: versions go to <base>/<n>/
ENV_IMAGE = "TFPLAT_IMAGE"  # the training image reference, digest included
ENV_GIT_REVISION = "TFPLAT_GIT_REVISION"  # the revision of the repository that submitted the run
#: TensorFlow's own variable for its GKE TPU cluster resolver (TPUClusterResolver reads it).
KUBE_TPU_ENDPOINTS = "KUBE_GOOGLE_CLOUD_TPU_ENDPOINTS"
#: Port of the TensorFlow TPU worker server on each host of a multi-host slice.
TPU_SERVER_PORT = 8470
