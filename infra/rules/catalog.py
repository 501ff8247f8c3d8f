"""Accelerator catalog: which GPU/TPU node shapes exist on GKE and EKS.

The catalog is data, not policy: every entry mirrors the cloud's own
documentation (sources per family are in docs/accelerator-catalog.md) so the
planner can reject an impossible node pool before any cloud API is called.
Pure stdlib on purpose: it is imported by config validation and tests that
must not pull in Pulumi.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from infra.rules.catalog_data import GPUS, PLACEMENTS, TPUS, GpuType, TpuTopology, TpuType

__all__ = ["ACCELERATOR_KINDS", "CLOUDS", "PLACEMENTS", "SHARING_STRATEGIES", "TIME_SHARING_MAX_CLIENTS",
           "TIME_SHARING_MIN_CLIENTS", "CatalogError", "GpuPoolShape", "GpuType", "TpuTopology", "TpuType",
           "accelerator_kind", "check_gpu_sharing", "check_tensorflow", "check_tpu_autoscaling",
           "gpu_of_machine_type", "gpu_types", "resolve_gpu_pool", "resolve_tpu_pool", "tpu_types"]

ACCELERATOR_KINDS = ("cpu", "gpu", "tpu")
CLOUDS = ("gcp", "aws")
SHARING_STRATEGIES = ("none", "time-sharing", "mig")
# GKE rejects max-shared-clients-per-gpu outside 2..48 (time-sharing docs and
# the ComputeClass CRD reference both state the 48-container ceiling).
TIME_SHARING_MIN_CLIENTS = 2
TIME_SHARING_MAX_CLIENTS = 48


class CatalogError(ValueError):
    """A request the catalog cannot satisfy.

    ``message`` says what is wrong and repeats the offending value; ``hint``
    says how to fix it and names the valid values, so CLI output is actionable
    without reading this file.
    """

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(f"{message} (hint: {hint})")
        self.message = message
        self.hint = hint


def _names(values: Iterable[object]) -> str:
    # One formatting rule for every hint keeps error text predictable for tests
    # and for users grepping logs.
    return ", ".join(str(v) for v in values)


# --------------------------------------------------------------------------- GPUs


@dataclass(frozen=True, kw_only=True)
class GpuPoolShape:
    """A resolved GPU node shape: what the node-pool component provisions."""

    accelerator: str
    count: int
    machine_type: str
    cloud: str


_GPUS = GPUS
_TPUS = TPUS
_GPU_INDEX: Mapping[str, GpuType] = MappingProxyType({g.name: g for g in _GPUS})


def gpu_types() -> Mapping[str, GpuType]:
    """Catalog GPUs keyed by their GKE accelerator name (read-only)."""
    return _GPU_INDEX


def _check_cloud(cloud: str) -> None:
    if cloud not in CLOUDS:
        hint = f"valid clouds: {_names(CLOUDS)}"
        raise CatalogError(f"unknown cloud {cloud!r}", hint)


def _gpu_or_error(accelerator: str) -> GpuType:
    gpu = _GPU_INDEX.get(accelerator)
    if gpu is not None:
        return gpu
    hint = f"valid GPU accelerators: {_names(_GPU_INDEX)}"
    if accelerator in _TPU_INDEX:
        hint = f"{accelerator!r} is a TPU; use resolve_tpu_pool. " + hint
    raise CatalogError(f"unknown GPU accelerator {accelerator!r}", hint)


def gpu_of_machine_type(machine_type: str, cloud: str) -> tuple[str, int] | None:
    """(GPU name, GPUs per node) if `machine_type` is a GPU shape of the catalog on `cloud`:
    error messages say what a wrongly chosen type really carries."""
    for gpu in _GPUS:
        for count, types in gpu.node_shapes(cloud).items():
            if machine_type in types:
                return gpu.name, count
    return None


def resolve_gpu_pool(
    *, cloud: str, accelerator: str, count: int, machine_type: str | None
) -> GpuPoolShape:
    """Derive the machine/instance type from (accelerator, GPUs per node).

    An explicit ``machine_type`` must be one the catalog lists for exactly that
    pair: attaching the wrong count is a hard provisioning error on both clouds.
    """
    _check_cloud(cloud)
    gpu = _gpu_or_error(accelerator)
    shapes = gpu.node_shapes(cloud)
    if not shapes:
        offered = [g.name for g in _GPUS if g.node_shapes(cloud)]
        other = [c for c in CLOUDS if gpu.node_shapes(c)]
        raise CatalogError(
            f"GPU {accelerator!r} is not available on cloud {cloud!r}",
            f"it is offered on: {_names(other)}; GPUs on {cloud}: {_names(offered)}",
        )
    if isinstance(count, bool) or count not in shapes:
        raise CatalogError(
            f"{accelerator} has no node shape with {count!r} GPUs per node on {cloud}",
            f"valid GPUs per node for {accelerator} on {cloud}: {_names(shapes)}",
        )
    valid = shapes[count]
    chosen = valid[0] if machine_type is None else machine_type
    if chosen not in valid:
        owner = gpu_of_machine_type(chosen, cloud)
        why = "" if owner is None else f" ({chosen} carries {owner[1]} x {owner[0]})"
        raise CatalogError(
            f"machine type {chosen!r} does not fit {count} x {accelerator}"
            f" on {cloud}{why}",
            f"valid machine types for {count} x {accelerator} on {cloud}:"
            f" {_names(valid)}"
            " (or omit machine_type to use the first)",
        )
    return GpuPoolShape(
        accelerator=accelerator, count=count, machine_type=chosen, cloud=cloud
    )


def check_gpu_sharing(
    *,
    accelerator: str,
    strategy: str,
    max_shared_clients: int | None,
    partition_size: str | None,
) -> None:
    """Validate a GKE GPU-sharing request; raise CatalogError if GKE would reject it.

    ``time-sharing`` may carry a ``partition_size`` because GKE supports
    time-sharing MIG partitions; ``mig`` alone must not carry a client count,
    since that setting only exists for time-sharing.
    """
    gpu = _gpu_or_error(accelerator)
    if strategy not in SHARING_STRATEGIES:
        raise CatalogError(
            f"unknown GPU sharing strategy {strategy!r}",
            f"valid strategies: {_names(SHARING_STRATEGIES)}",
        )
    if strategy == "none":
        if max_shared_clients is not None or partition_size is not None:
            raise CatalogError(
                "strategy 'none' takes neither max_shared_clients nor partition_size",
                "drop them, or pick strategy time-sharing or mig",
            )
        return
    if strategy == "mig" and max_shared_clients is not None:
        raise CatalogError(
            f"strategy 'mig' does not take max_shared_clients ({max_shared_clients!r})",
            "to time-share MIG partitions use strategy time-sharing"
            " with partition_size",
        )
    if strategy == "time-sharing":
        if not gpu.time_sharing:
            capable = [g.name for g in _GPUS if g.time_sharing]
            raise CatalogError(
                f"GPU {accelerator!r} does not support GKE GPU time-sharing",
                f"GPUs with time-sharing: {_names(capable)}",
            )
        lo, hi = TIME_SHARING_MIN_CLIENTS, TIME_SHARING_MAX_CLIENTS
        clients = max_shared_clients
        if (
            isinstance(clients, bool)  # True is an int; reject it explicitly
            or not isinstance(clients, int)
            or not lo <= clients <= hi
        ):
            raise CatalogError(
                f"max_shared_clients {clients!r} is out of range for time-sharing",
                f"set an integer from {lo} to {hi}"
                f" (GKE allows at most {hi} containers per GPU)",
            )
        if partition_size is None:
            return
    if not gpu.mig_partitions:
        capable = [g.name for g in _GPUS if g.mig_partitions]
        raise CatalogError(
            f"GPU {accelerator!r} does not support multi-instance GPU (MIG) partitions",
            f"GPUs with MIG: {_names(capable)}",
        )
    if partition_size is None or partition_size not in gpu.mig_partitions:
        raise CatalogError(
            f"partition size {partition_size!r} is not valid for {accelerator}",
            f"valid partition sizes for {accelerator}: {_names(gpu.mig_partitions)}",
        )


# --------------------------------------------------------------------------- TPUs


_TPU_INDEX: Mapping[str, TpuType] = MappingProxyType({t.name: t for t in _TPUS})


def tpu_types() -> Mapping[str, TpuType]:
    """Catalog TPUs keyed by GKE TPU accelerator label value (read-only)."""
    return _TPU_INDEX


def resolve_tpu_pool(
    *, accelerator: str, topology: str, machine_type: str | None = None
) -> TpuTopology:
    """Find the slice shape for (accelerator, topology[, machine_type]).

    Where a topology exists both single- and multi-host (v5e/v6e 2x4), the
    single-host VM is the default: one node is simpler to schedule and scale.
    """
    tpu = _TPU_INDEX.get(accelerator)
    if tpu is None:
        hint = f"valid TPU accelerators: {_names(_TPU_INDEX)}"
        if accelerator in _GPU_INDEX:
            hint = f"{accelerator!r} is a GPU; use resolve_gpu_pool. " + hint
        raise CatalogError(f"unknown TPU accelerator {accelerator!r}", hint)
    matches = [t for t in tpu.topologies if t.topology == topology]
    if not matches:
        valid = dict.fromkeys(t.topology for t in tpu.topologies)
        raise CatalogError(
            f"topology {topology!r} is not offered for {accelerator} ({tpu.version})",
            f"valid topologies for {accelerator}: {_names(valid)}",
        )
    if machine_type is None:
        return min(matches, key=lambda t: t.nodes)
    for shape in matches:
        if shape.machine_type == machine_type:
            return shape
    raise CatalogError(
        f"machine type {machine_type!r} cannot form topology {topology}"
        f" of {accelerator}",
        f"valid machine types for {topology}:"
        f" {_names(t.machine_type for t in matches)}",
    )


def check_tpu_autoscaling(
    shape: TpuTopology, *, min_nodes: int, max_nodes: int
) -> None:
    """Node-pool autoscaling bounds must be whole slices.

    GKE creates or deletes a multi-host slice as one unit, so a bound that is
    not a multiple of ``shape.nodes`` can never be reached. (One multi-host
    node pool is one slice, i.e. 0 or ``shape.nodes`` nodes; larger multiples
    only make sense as totals over several slice node pools.)
    """
    if min_nodes < 0 or max_nodes < min_nodes:
        raise CatalogError(
            f"invalid autoscaling bounds min={min_nodes} max={max_nodes}",
            "need 0 <= min_nodes <= max_nodes",
        )
    step = shape.nodes
    bounds = (("min_nodes", min_nodes), ("max_nodes", max_nodes))
    bad = [f"{k}={v}" for k, v in bounds if v % step]
    if bad:
        raise CatalogError(
            f"{', '.join(bad)} is not a whole number of {shape.topology} slices"
            f" ({step} nodes of {shape.machine_type} each)",
            f"use multiples of {step}, e.g. {_names(range(0, 3 * step + 1, step))}",
        )


def check_tensorflow(accelerator: str) -> None:
    """Raise CatalogError if TensorFlow cannot run on this TPU generation (tfplat serves and
    trains TensorFlow models only). GPUs and unknown names pass: other checks handle those."""
    tpu = _TPU_INDEX.get(accelerator)
    if tpu is not None and tpu.no_tensorflow:
        capable = [t.name for t in _TPUS if not t.no_tensorflow]
        raise CatalogError(
            f"TensorFlow does not run on {accelerator} ({tpu.version}): {tpu.no_tensorflow}",
            f"TPUs that run TensorFlow: {_names(capable)}",
        )


# ------------------------------------------------------------------------- kinds


def accelerator_kind(name: str) -> str:
    """Return "gpu" or "tpu" for a catalog accelerator name."""
    if name in _GPU_INDEX:
        return "gpu"
    if name in _TPU_INDEX:
        return "tpu"
    raise CatalogError(
        f"unknown accelerator {name!r}",
        f"valid accelerators: {_names([*_GPU_INDEX, *_TPU_INDEX])}",
    )
