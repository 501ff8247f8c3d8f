"""Training: no job without a queue, and no training identity with write access outside its
prefixes.

Jobs are submissions, not stack resources; `tfplat train` runs `check_job_queue` on the JobSet
it renders before submitting, and the same check runs on any Job or JobSet a stack registers.
The cluster enforces it too: Kueue holds every job of a training namespace that names no
queue, which `check_queue_enforced` keeps on.
"""

from __future__ import annotations

from collections.abc import Sequence
import json
from typing import Any

import yaml

from .model import Finding, Props, Resource, ResourcePolicy, Settings, StackPolicy, as_list, as_map, dig, labels

QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
JOB_TYPES = ("kubernetes:jobset.x-k8s.io/v1alpha2:JobSet", "kubernetes:batch/v1:Job")
ACCELERATORS = ("nvidia.com/gpu", "google.com/tpu")
RELEASE = "kubernetes:helm.sh/v3:Release"
LOCAL_QUEUE = "kubernetes:kueue.x-k8s.io/v1beta2:LocalQueue"
CLUSTER_QUEUE = "kubernetes:kueue.x-k8s.io/v1beta2:ClusterQueue"
TRAINING_COMPONENT = "tfplat:training:"
GCS_IAM = ("gcp:storage/bucketIAMMember:BucketIAMMember", "gcp:storage/bucketIAMBinding:BucketIAMBinding")
GCS_WRITE_ROLES = frozenset({"roles/storage.objectCreator", "roles/storage.objectUser", "roles/storage.objectAdmin",
                             "roles/storage.admin", "roles/storage.legacyBucketWriter",
                             "roles/storage.legacyBucketOwner"})
S3_WRITE_VERBS = ("s3:put", "s3:delete", "s3:replicate", "s3:restore", "s3:*", "*")
AWS_ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
_GCS_PREFIX = 'resource.name.startsWith("projects/_/buckets/'
_FIX = "training identities come from infra/plan/training/iam.py; write grants name one object prefix each"


def _pod_specs(resource_type: str, props: Props) -> list[Any]:
    if resource_type == JOB_TYPES[0]:
        return [dig(rj, "template", "spec", "template", "spec") for rj in as_list(dig(props, "spec", "replicatedJobs"))]
    return [dig(props, "spec", "template", "spec")]


def _wants_accelerators(resource_type: str, props: Props) -> bool:
    for pod in _pod_specs(resource_type, props):
        for c in as_list(dig(pod, "containers")):
            limits = {**as_map(dig(c, "resources", "requests")), **as_map(dig(c, "resources", "limits"))}
            if any(k in limits for k in ACCELERATORS):
                return True
    return False


def check_job_queue(resource_type: str, props: Props, settings: Settings) -> list[Finding]:
    """A JobSet, or a Job asking for GPUs or TPUs, names its Kueue queue."""
    if resource_type not in JOB_TYPES:
        return []
    if resource_type == JOB_TYPES[1] and not _wants_accelerators(resource_type, props):
        return []
    queue = labels(props).get(QUEUE_LABEL)
    if isinstance(queue, str) and queue:
        return []
    return [Finding(f"no {QUEUE_LABEL} label: the job would bypass the training quotas",
                    "submit training jobs with `tfplat train`, which sets the team's LocalQueue")]


def _kueue_config(release: Resource) -> dict[str, Any]:
    text = dig(release.props, "values", "managerConfig", "controllerManagerConfigYaml")
    try:
        data = yaml.safe_load(text) if isinstance(text, str) else None
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def check_queue_enforced(resources: Sequence[Resource], settings: Settings) -> list[Finding]:
    """Kueue holds queue-less jobs of the training namespaces; every LocalQueue feeds an
    existing ClusterQueue."""
    out = []
    for r in resources:
        if r.type == RELEASE and str(r.props.get("chart", "")).endswith("/kueue"):
            config = _kueue_config(r)
            if config.get("manageJobsWithoutQueueName") is not True or not config.get("managedJobsNamespaceSelector"):
                out.append(Finding("Kueue does not hold jobs that name no queue in the training namespaces",
                                   "keep manageJobsWithoutQueueName: true and managedJobsNamespaceSelector in "
                                   "infra/plan/training/kueue.py kueue_config", r))
    queues = {dig(r.props, "metadata", "name") for r in resources if r.type == CLUSTER_QUEUE}
    for r in resources:
        if r.type == LOCAL_QUEUE and dig(r.props, "spec", "clusterQueue") not in queues:
            out.append(Finding(f"LocalQueue feeds ClusterQueue {dig(r.props, 'spec', 'clusterQueue')!r}, which the "
                               "stack does not create: its jobs would never be admitted",
                               "point it at the stack's ClusterQueue (infra/plan/training/kueue.py)", r))
    return out


def _identity(r: Resource) -> str | None:
    """The training identity component a grant belongs to (from its URN's parent chain)."""
    chain = r.urn.split("::")[2] if r.urn.count("::") >= 3 else ""
    parents = [t for t in chain.split("$")[:-1] if t.startswith(TRAINING_COMPONENT)]
    if not parents:
        return None
    return r.parent or parents[-1]


def _gcs_writes(r: Resource) -> list[tuple[str, str] | Finding]:
    role, bucket = r.props.get("role"), r.props.get("bucket")
    if role not in GCS_WRITE_ROLES:
        return []
    expr = str(dig(r.props, "condition", "expression") or "")
    if "||" in expr or not expr.startswith(_GCS_PREFIX) or expr.count("startsWith") != 1:
        return [Finding(f"grants {role} on bucket {bucket!r} without a condition to one object prefix",
                        f"condition it: resource.name.startsWith(\"projects/_/buckets/<bucket>/objects/<prefix>/\"); "
                        f"{_FIX}", r)]
    path = expr[len(_GCS_PREFIX):].split('"', maxsplit=1)[0]  # <bucket>/objects/<prefix>/
    grant_bucket, _, prefix = path.partition("/objects/")
    if grant_bucket != bucket or not prefix.strip("/"):
        return [Finding(f"grants {role} on bucket {bucket!r} to {path!r}, not to a prefix of that bucket",
                        _FIX, r)]
    return [(str(bucket), prefix)]


def _s3_writes(r: Resource) -> list[tuple[str, str] | Finding]:
    text = r.props.get("policy")
    try:
        doc = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        return []
    out: list[tuple[str, str] | Finding] = []
    for st in as_list(doc.get("Statement")):
        actions = [a.lower() for a in ([st.get("Action")] if isinstance(st.get("Action"), str) else
                                       as_list(st.get("Action")))]
        if st.get("Effect") != "Allow" or not any(a.startswith(S3_WRITE_VERBS) or a in S3_WRITE_VERBS
                                                   for a in actions):
            continue
        resources = [st.get("Resource")] if isinstance(st.get("Resource"), str) else as_list(st.get("Resource"))
        for arn in resources:
            bucket, _, rest = str(arn).removeprefix("arn:aws:s3:::").partition("/")
            prefix = rest.removesuffix("*")
            if not str(arn).startswith("arn:aws:s3:::") or "*" in bucket or not prefix.strip("/") \
                    or not prefix.endswith("/") or "*" in prefix:
                out.append(Finding(f"statement {st.get('Sid', '?')!r} allows {', '.join(actions)} on {arn!r}, not on "
                                   "one object prefix", f"name arn:aws:s3:::<bucket>/<prefix>/*; {_FIX}", r))
            else:
                out.append((bucket, prefix))
    return out


def check_identity_writes(resources: Sequence[Resource], settings: Settings) -> list[Finding]:
    """Every write grant of a training identity names one object prefix, and no two
    identities may write into each other's prefixes (one model's job never touches another
    model's versions or checkpoints)."""
    out: list[Finding] = []
    writes: dict[str, list[tuple[str, str, Resource]]] = {}
    for r in resources:
        owner = _identity(r)
        if owner is None:
            continue
        if r.type.startswith(("gcp:projects/", "gcp:organizations/", "aws:iam/rolePolicyAttachment")):
            out.append(Finding("a training identity holds a project- or managed-policy-wide grant", _FIX, r))
            continue
        found = _gcs_writes(r) if r.type in GCS_IAM else _s3_writes(r) if r.type == AWS_ROLE_POLICY else []
        for item in found:
            if isinstance(item, Finding):
                out.append(item)
            else:
                writes.setdefault(owner, []).append((*item, r))
    owners = sorted(writes)
    for i, a in enumerate(owners):
        for b in owners[i + 1:]:
            for bucket, pa, ra in writes[a]:
                for bucket_b, pb, _ in writes[b]:
                    if bucket == bucket_b and (pa.startswith(pb) or pb.startswith(pa)):
                        out.append(Finding(f"two training identities may write under the same prefix of bucket "
                                           f"{bucket!r} ({pa!r} and {pb!r})",
                                           "give each model its own artifact.prefix, neither inside the other", ra))
    return out


POLICIES = (
    ResourcePolicy(
        id="training-job-queue", severity="high", check=check_job_queue,
        description="Every JobSet, and every Job asking for GPUs or TPUs, names its Kueue queue "
                    "(kueue.x-k8s.io/queue-name), so it is admitted against the training quotas.",
        remediation="Submit training with `tfplat train`; it labels the JobSet with the team's LocalQueue."),
    StackPolicy(
        id="training-queue-enforced", severity="high", check=check_queue_enforced,
        description="Kueue holds jobs that name no queue in the training namespaces, and every LocalQueue "
                    "feeds a ClusterQueue of the stack.",
        remediation="Keep the Kueue configuration and queues infra/plan/training renders."),
    StackPolicy(
        id="training-identity-scoped-writes", severity="critical", check=check_identity_writes,
        description="A training identity writes only under its own prefixes (checkpoints/<model>/ and the "
                    "model's artifact prefix): every write grant names one object prefix, and no two identities "
                    "share one.",
        remediation="Grant writes per prefix (GCS IAM conditions, S3 object ARNs) as infra/plan/training/iam.py "
                    "does; give models disjoint artifact prefixes."),
)
