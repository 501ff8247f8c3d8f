"""`tfplat train --status`: what each run is doing, read from its JobSet and Kueue Workload.

States, in the order a run goes through them: queued (Kueue has not admitted it: no quota
yet, or its pods were evicted for not starting in time), admitted (quota reserved, pods
starting), running (every worker ready), restarted (JobSet recreated all workers after a
failure; the count says how often), done, failed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, kw_only=True)
class RunStatus:
    name: str
    namespace: str
    model: str
    state: str  # queued | admitted | running | restarted | done | failed
    restarts: int
    ready: int
    workers: int
    detail: str


def _condition(obj: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == kind:
            return c  # type: ignore[no-any-return]
    return None


def _true(obj: Mapping[str, Any] | None, kind: str) -> bool:
    c = _condition(obj or {}, kind)
    return c is not None and c.get("status") == "True"


def workers_of(jobset: Mapping[str, Any]) -> int:
    return sum(int(rj.get("replicas", 1)) * int(rj["template"]["spec"].get("parallelism", 1))
               for rj in jobset["spec"]["replicatedJobs"])


def status_of(jobset: Mapping[str, Any], workload: Mapping[str, Any] | None) -> RunStatus:
    meta, st = jobset["metadata"], jobset.get("status") or {}
    restarts = int(st.get("restarts") or 0)
    total = workers_of(jobset)
    per_job = {rj["name"]: int(rj["template"]["spec"].get("parallelism", 1))
               for rj in jobset["spec"]["replicatedJobs"]}
    ready = sum(int(r.get("ready", 0)) * per_job.get(r.get("name", ""), 1)
                for r in st.get("replicatedJobsStatus") or [])
    terminal = st.get("terminalState") or ("Completed" if _true(jobset, "Completed") else
                                           "Failed" if _true(jobset, "Failed") else "")
    detail = ""
    if terminal == "Completed":
        state = "done"
    elif terminal == "Failed":
        state = "failed"
        detail = (_condition(jobset, "Failed") or {}).get("message", "")
    elif not _true(workload, "Admitted"):
        state = "queued"
        pending = _condition(workload or {}, "QuotaReserved") or _condition(workload or {}, "Evicted")
        detail = (pending or {}).get("message", "") if workload else "no Kueue workload yet"
    elif ready >= total:
        state = "restarted" if restarts else "running"
    else:
        state = "admitted"
        detail = f"{ready}/{total} workers ready"
    if restarts and state in ("admitted", "running", "restarted"):
        detail = f"restarted {restarts}x; {detail}".rstrip("; ")
    labels = meta.get("labels") or {}
    return RunStatus(name=meta["name"], namespace=meta.get("namespace", ""), model=labels.get("tfplat.dev/model", "?"),
                     state=state, restarts=restarts, ready=min(ready, total), workers=total, detail=detail)


def match_workloads(jobsets: Sequence[Mapping[str, Any]],
                    workloads: Sequence[Mapping[str, Any]]) -> list[RunStatus]:
    """One status per JobSet, paired with the Workload Kueue created for it (its owner)."""
    owned: dict[str, Mapping[str, Any]] = {}
    for w in workloads:
        for ref in w["metadata"].get("ownerReferences") or []:
            if ref.get("kind") == "JobSet":
                owned[ref.get("uid") or ref["name"]] = w
                owned.setdefault(ref["name"], w)
    out = []
    for js in jobsets:
        meta = js["metadata"]
        out.append(status_of(js, owned.get(meta.get("uid", "")) or owned.get(meta["name"])))
    return sorted(out, key=lambda s: (s.namespace, s.name))


def render(rows: Sequence[RunStatus]) -> str:
    if not rows:
        return "no training runs\n"
    header = ("run", "model", "state", "workers", "restarts", "detail")
    table = [header] + [(r.name, r.model, r.state, f"{r.ready}/{r.workers}", str(r.restarts), r.detail) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
    return "".join("  ".join(c.ljust(w) for c, w in zip(row[:-1], widths, strict=True)).rstrip() + "  " + row[-1]
                   + "\n" for row in table)
