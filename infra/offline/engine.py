"""Run the real Pulumi program in-process under Pulumi's mock engine and record everything.

`pulumi.runtime.set_mocks` replaces the engine's resource monitor; a subclass of its
MockMonitor records each RegisterResource request exactly as the program sent it (type,
name, parent, dependencies, options, inputs), which is what the engine would diff against
state in a real `pulumi preview`. No CLI, no plugins, no credentials, no network.

URNs are formed as the engine forms them (the mock's own keep only the parent's last type),
and aliases are recorded as the URNs the engine collapses them to: resource names are a
contract, so the offline plan shows the names `pulumi up` would use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
import contextlib
from dataclasses import dataclass, field
import gc
import os
import signal
import sys
import threading
from typing import Any

import pulumi
from pulumi.runtime import mocks as pmocks
from pulumi.runtime import rpc, settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from infra.offline.outputs import ID, computed_outputs, invoke_result

SECRET = "[secret]"
STACK_TYPE = "pulumi:pulumi:Stack"


@dataclass(frozen=True, kw_only=True)
class Record:
    urn: str
    type: str
    name: str
    parent: str | None
    custom: bool
    provider: str | None
    depends_on: tuple[str, ...]
    options: Mapping[str, Any]
    inputs: Mapping[str, Any]


def _masked(value: Any) -> Any:
    """A secret's shape with every leaf replaced, so objects stay schema-valid and nothing leaks."""
    if rpc.is_rpc_secret(value):
        return _masked(rpc.unwrap_rpc_secret(value))
    if isinstance(value, dict):
        return {str(k): _masked(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_masked(v) for v in value]
    return SECRET


def _plain(value: Any) -> Any:
    """Deserialized property -> JSON-able data; secrets masked, resources by URN."""
    if rpc.is_rpc_secret(value):
        return _masked(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, pulumi.Resource):
        return {"$resource": type(value).__name__}
    if isinstance(value, (pulumi.Asset, pulumi.Archive)):
        return {"$asset": type(value).__name__}
    if isinstance(value, float) and value.is_integer():
        return int(value)  # protobuf Struct numbers are doubles
    return value


def engine_urn(stack: str, project: str, parent: str, type_: str, name: str) -> str:
    """The engine's URN (pkg/resource/deploy, generateURN): the type is qualified by the
    parent's whole type chain, except the root stack's."""
    if parent:
        chain = parent.split("::")[2]
        if chain != STACK_TYPE:
            type_ = f"{chain}${type_}"
    return f"urn:pulumi:{stack}::{project}::{type_}::{name}"


def alias_urn(alias: Any, *, parent: str, type_: str, name: str) -> str:
    """An alias as the URN it names (the engine's collapseAliasToUrn): unset parts of a spec
    are the resource's own; noParent means the resource had none (it sat under the stack)."""
    if alias.WhichOneof("alias") == "urn":
        return str(alias.urn)
    spec = alias.spec
    old_parent = "" if spec.noParent else (spec.parentUrn or parent)
    return engine_urn(spec.stack or pulumi.get_stack(), spec.project or pulumi.get_project(), old_parent,
                      spec.type or type_, spec.name or name)


def _options(request: Any) -> dict[str, Any]:
    opts: dict[str, Any] = {}
    if request.protect:
        opts["protect"] = True
    if request.deleteBeforeReplace:
        opts["deleteBeforeReplace"] = True
    if request.retainOnDelete:
        opts["retainOnDelete"] = True
    if list(request.ignoreChanges):
        opts["ignoreChanges"] = sorted(request.ignoreChanges)
    if list(request.replaceOnChanges):
        opts["replaceOnChanges"] = sorted(request.replaceOnChanges)
    if request.deletedWith:
        opts["deletedWith"] = request.deletedWith
    if list(request.aliasURNs) or list(request.aliases):
        opts["aliases"] = sorted({*request.aliasURNs, *(
            alias_urn(a, parent=request.parent, type_=request.type, name=request.name) for a in request.aliases)})
    timeouts = request.customTimeouts
    if timeouts.create or timeouts.update or timeouts.delete:
        opts["customTimeouts"] = {k: v for k, v in (("create", timeouts.create), ("update", timeouts.update),
                                                    ("delete", timeouts.delete)) if v}
    return opts


class PlanMocks(pmocks.Mocks):
    """Deterministic outputs: what the cloud would compute, plus the inputs echoed back
    for cloud resources (the program reads their outputs; it never reads a Kubernetes
    object's, so echoing those would only cost serialization)."""

    def __init__(self) -> None:
        # The SDK calls the monitor from executor threads; new_resource runs inside the
        # same thread's RegisterResource, so a thread-local hands the inputs over.
        self._local = threading.local()

    def take_inputs(self) -> dict[str, Any]:
        inputs: dict[str, Any] = self._local.inputs
        return inputs

    def new_resource(self, args: pmocks.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        self._local.inputs = args.inputs  # the monitor records them: decoded once, here
        state = {} if args.typ.startswith("kubernetes:") else dict(args.inputs)
        computed = computed_outputs(args.typ, args.name, args.inputs)
        resource_id = computed.pop(ID, f"{args.name}-id")
        state.update(computed)
        return (resource_id if args.custom else None), state

    def call(self, args: pmocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return invoke_result(args.token, args.args), []


class RecordingMonitor(pmocks.MockMonitor):
    def make_urn(self, parent: str, type_: str, name: str) -> str:
        return engine_urn(pulumi.get_stack(), pulumi.get_project(), parent, type_, name)

    def __init__(self, mocks: PlanMocks) -> None:
        super().__init__(mocks)
        self.records: list[Record] = []
        self.stack_outputs: dict[str, Any] = {}
        self._stack_urn = ""

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        if request.type == STACK_TYPE:
            self._stack_urn = response.urn
            return response
        mocks: PlanMocks = self.mocks  # type: ignore[assignment]
        inputs = mocks.take_inputs()
        self.records.append(Record(
            urn=response.urn, type=request.type, name=request.name,
            parent=request.parent or None, custom=bool(request.custom),
            provider=request.provider or None,
            depends_on=tuple(sorted(set(request.dependencies))),
            options=_options(request), inputs=_plain(inputs),
        ))
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802
        if request.urn == self._stack_urn:
            self.stack_outputs = _plain(rpc.deserialize_properties(request.outputs))
        return super().RegisterResourceOutputs(request)  # type: ignore[no-untyped-call]


class ProgramFailedError(Exception):
    """The program raised; `records` holds what it had registered by then."""

    def __init__(self, cause: BaseException, records: list[Record]) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.records = records


@dataclass
class RunResult:
    records: list[Record] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)


#: Exit status of a run stopped by Ctrl-C (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED = 130


@contextlib.contextmanager
def _stop_on_interrupt() -> Iterator[None]:
    """Ctrl-C stops the run at once. The Pulumi SDK catches KeyboardInterrupt (BaseException)
    and first waits for every queued registration, i.e. the whole plan; the engine has
    written nothing yet (the build folder is written after it, atomically), so exiting
    here leaves nothing half-written."""
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGINT) is signal.SIG_IGN:  # e.g. a background job of a script
        yield
        return

    def stop(_signum: int, _frame: object) -> None:
        sys.stdout.flush()
        sys.stderr.write("\ninterrupted: stopped the plan; nothing was written\n")
        sys.stderr.flush()
        os._exit(EXIT_INTERRUPTED)

    previous = signal.signal(signal.SIGINT, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def young_collections_only() -> Iterator[None]:
    """No automatic full garbage collection inside: only the young generations are collected.

    A plan only grows its heap (every resource, Output and record lives to the end), so each
    full collection walks everything allocated so far, to free almost nothing: at 1,000 models
    (19,000 resources) CPython ran 26 of them, a third of the plan's time. Young collections
    still free the short-lived cycles (asyncio tasks, tracebacks) and reference counting
    everything else; the next full collection after the plan is the usual one."""
    before = gc.get_threshold()
    gc.set_threshold(before[0], before[1], 2**30)  # generation 2 runs after 2**30 young collections
    try:
        yield
    finally:
        gc.set_threshold(*before)


@contextlib.contextmanager
def _no_stack_traces() -> Iterator[None]:
    """The SDK captures, for every resource, the Python stack that created it
    (traceback.extract_stack, then a file URI per frame) for the engine's source positions.
    Under the mocks nothing reads them (a Record keeps none), yet at 1,000 models they were
    a sixth of the program's time, and the SDK has no option to skip them: for this run its
    function gives the answer it gives itself when it finds no frame, an empty stack trace.
    A real `pulumi up` never runs through here."""
    from pulumi.runtime import resource as sdk_resource
    from pulumi.runtime.proto import source_pb2

    real = getattr(sdk_resource, "_get_stack_trace", None)
    if real is None:  # an SDK without it (a private function): nothing to skip
        yield
        return
    sdk_resource._get_stack_trace = source_pb2.StackTrace
    try:
        yield
    finally:
        sdk_resource._get_stack_trace = real


def _discard(_: object) -> None:
    """The program's return value (the plan infra.program.main returns) is its caller's, not the SDK's."""


def run(program: Callable[[], object], *, project: str, stack: str,
        config: Mapping[str, str], secret_keys: frozenset[str] = frozenset()) -> RunResult:
    """Run `program` once under mocks; config is what the engine would pass (strings)."""
    settings.ROOT.set(None)  # a fresh root stack per run, also within one process
    settings.SETTINGS.rpc_manager.clear()
    settings.SETTINGS.outputs.clear()
    pulumi.runtime.set_all_config(dict(config), sorted(secret_keys))
    mocks = PlanMocks()
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor)
    try:
        with _stop_on_interrupt(), young_collections_only(), _no_stack_traces():
            _sync_await(run_pulumi_func(lambda: _discard(program())))
    except Exception as exc:
        raise ProgramFailedError(exc, list(monitor.records)) from exc
    outputs = monitor.stack_outputs
    root = settings.get_root_resource()
    if not outputs and root is not None:
        # Under mocks the root stack registered its outputs before the program ran;
        # resolve the exports it collected since.
        exported = getattr(root, "outputs", {}) or {}
        outputs = _plain(_sync_await(pulumi.Output.from_input(exported).future()) or {})
    return RunResult(records=list(monitor.records), outputs=outputs)
