"""Applying the stack file as it now stands: `pulumi up` through the Automation API, or the
offline plan (a rehearsal that records what each apply would have made the cluster).

Both take the committed stack file of the checkout as their input; neither decides
anything. `apply` returns a one-line summary or raises ApplyError.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping
import contextlib
from dataclasses import dataclass
import datetime as dt
import json
import os
from pathlib import Path
import shutil
import threading
from typing import Any, Protocol

from infra import atomic


class ApplyError(Exception):
    """The apply did not complete; the cluster may be between two states."""


class Applier(Protocol):
    name: str

    def problem(self, root: Path, stack: str) -> str | None:
        """Why this applier cannot apply here (None: it can); asked before anything moves."""

    def apply(self, root: Path, stack: str, environment: str, message: str) -> str: ...


class PulumiApplier:
    """`pulumi up` of the project's stack with the policy pack, through pulumi.automation.

    Selects the existing stack of the project at `root` (Pulumi.yaml there, stack files in
    stacks/), exactly as `pulumi up -s <stack> --policy-pack policies --policy-pack-config
    policies/config/<tier>.json` run in the checkout would; needs the Pulumi CLI, a logged-in
    backend (PULUMI_BACKEND_URL or `pulumi login`) and the stack's secrets passphrase.
    """

    name = "pulumi"

    def __init__(self, on_output: Callable[[str], Any] | None = None) -> None:
        self.on_output = on_output

    def problem(self, root: Path, stack: str) -> str | None:
        if shutil.which("pulumi") is None:
            return ("the Pulumi CLI is not installed (`pulumi` is not on PATH): install it "
                    "(https://www.pulumi.com/docs/install/), or rehearse with --applier offline")
        if not (root / "policies" / "PulumiPolicy.yaml").is_file():
            return f"the policy pack is missing ({root / 'policies'}): every apply runs it"
        return None

    def apply(self, root: Path, stack: str, environment: str, message: str) -> str:
        from pulumi import automation as auto

        try:
            selected = auto.select_stack(stack_name=stack, work_dir=str(root))
            result = selected.up(message=message, policy_packs=[str(root / "policies")],
                                 policy_pack_configs=[str(root / "policies" / "config" / f"{environment}.json")],
                                 on_output=self.on_output, color="never", suppress_progress=True)
        except auto.CommandError as err:
            raise ApplyError(f"pulumi up -s {stack} failed: {str(err).strip()[-2000:]}") from err
        changes = ", ".join(f"{k} {v}" for k, v in sorted((result.summary.resource_changes or {}).items()))
        return f"pulumi up -s {stack}: {result.summary.result} ({changes or 'no changes'})"


# The offline plan runs the program in this process under Pulumi's mock engine, whose
# settings are process-global: one run at a time.
_OFFLINE = threading.Lock()


@dataclass(frozen=True)
class AppliedColor:
    version: int
    min_replicas: int


@dataclass(frozen=True)
class AppliedModel:
    live: str  # the color the model's Service selects
    colors: Mapping[str, AppliedColor]  # color -> what its Deployment runs
    weights: Mapping[str, int]  # color -> gateway weight (percent)


def applied_models(objects: list[dict[str, Any]]) -> dict[str, AppliedModel]:
    """What the rendered objects make each model's fleet: versions, live color, weights."""
    from infra.rules import names

    deployments: dict[str, dict[str, AppliedColor]] = {}
    # The fleets' scalers: KEDA ScaledObjects (minReplicaCount while active).
    hpa_min = {o["spec"]["scaleTargetRef"]["name"]: int(o["spec"].get("minReplicaCount", 1))
               for o in objects if o["kind"] == "ScaledObject"}
    for o in objects:
        labels = o["metadata"].get("labels") or {}
        if o["kind"] == "Deployment" and names.LABEL_COLOR in labels and names.LABEL_MODEL in labels:
            deployments.setdefault(labels[names.LABEL_MODEL], {})[labels[names.LABEL_COLOR]] = AppliedColor(
                version=int(labels[names.LABEL_VERSION]), min_replicas=hpa_min.get(o["metadata"]["name"], 1))
    out = {}
    for model, colors in deployments.items():
        service = next(o for o in objects if o["kind"] == "Service" and o["metadata"]["name"] ==
                       names.live_service_name(model))
        route = next(o for o in objects if o["kind"] == "HTTPRoute" and
                     (o["metadata"].get("labels") or {}).get(names.LABEL_MODEL) == model)
        weights = {ref["name"].rsplit("-", 1)[1]: int(ref.get("weight", 1))
                   for rule in route["spec"]["rules"] for ref in rule["backendRefs"]}
        out[model] = AppliedModel(live=service["spec"]["selector"][names.LABEL_COLOR], colors=colors,
                                  weights=weights)
    return out


class OfflineApplier:
    """Runs the offline plan of the stack (the real program under the mock engine, with
    the mandatory policies of its tier) and records the state it renders as
    <record_dir>/applied-<n>.json, n counting up: a cluster stand-in (tests/harness) follows
    these records as a cluster follows `pulumi up`."""

    name = "offline"

    def __init__(self, record_dir: Path) -> None:
        self.record_dir = record_dir

    def problem(self, root: Path, stack: str) -> str | None:
        return None  # needs nothing but the checkout

    def apply(self, root: Path, stack: str, environment: str, message: str) -> str:
        from infra.offline import render
        from infra.offline.plan import project_name, run_offline
        from policies.tfplat_policies import check_records

        with _OFFLINE, _project_root(root), _event_loop():
            project = project_name(root)
            plan, result = run_offline(root, stack, project=project)
            document = render.resources_document(stack, project, result)
            objects = render.kubernetes_objects(result.records)
        blocking = [v for v in check_records(document["resources"], environment=plan.stack.environment)
                    if v.enforcement == "mandatory"]
        if blocking:
            raise ApplyError("the policy pack refuses the plan: " + "; ".join(v.render() for v in blocking))
        models = applied_models(objects)
        self.record_dir.mkdir(parents=True, exist_ok=True)
        seq = 1 + max((int(p.stem.split("-")[1]) for p in self.record_dir.glob("applied-*.json")), default=0)
        record = {"seq": seq, "stack": stack, "message": message,
                  "applied_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                  "models": {m: {"live": a.live, "weights": dict(a.weights),
                                 "colors": {c: {"version": v.version, "min_replicas": v.min_replicas}
                                            for c, v in sorted(a.colors.items())}}
                             for m, a in sorted(models.items())}}
        path = atomic.write_text(self.record_dir / f"applied-{seq:04d}.json", json.dumps(record, indent=1) + "\n")
        return f"offline plan of {stack} applied as {path} ({len(objects)} Kubernetes objects)"


@contextlib.contextmanager
def _event_loop() -> Iterator[None]:
    """Pulumi's mock engine runs on the thread's asyncio loop; a thread other than the main
    one has none until it is given one (the release may run in any thread)."""
    try:
        asyncio.get_running_loop()
        yield  # pragma: no cover - the engine is never called from inside a running loop
        return
    except RuntimeError:
        pass
    policy = asyncio.get_event_loop_policy()
    try:
        loop = policy.get_event_loop()
        yield
        return
    except RuntimeError:
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        yield
    finally:
        asyncio.set_event_loop(None)
        loop.close()


@contextlib.contextmanager
def _project_root(root: Path) -> Iterator[None]:
    """The program finds its project like the CLI does (TFPLAT_ROOT, else the current
    folder): point it at the checkout being applied for the length of the run."""
    saved = os.environ.get("TFPLAT_ROOT")
    os.environ["TFPLAT_ROOT"] = str(root)
    try:
        yield
    finally:
        if saved is None:
            del os.environ["TFPLAT_ROOT"]
        else:
            os.environ["TFPLAT_ROOT"] = saved


def read_applied(record_dir: Path) -> list[dict[str, Any]]:
    """Every record an OfflineApplier wrote there, in order."""
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(record_dir.glob("applied-*.json"))]
