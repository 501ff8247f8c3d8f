"""How a serving fleet scales: start-up time per accelerator kind, the HPA behaviour sized
for it, the batching queue rule and the request target a replica is held to.

Pure rules over plain numbers (the planner and the config checks apply them; docs/scaling.md
states them). Figures are planning estimates, stated so a reviewer can disagree with one
number rather than with a hidden behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil, floor
from typing import Literal

Kind = Literal["cpu", "gpu", "tpu"]


@dataclass(frozen=True, kw_only=True)
class Startup:
    """What delays a new replica before it answers, by accelerator kind (seconds)."""

    node_provisioning_s: int  # a new node joins, its drivers or TPU runtime ready
    image_pull_s: int  # the serving image on a fresh node
    # The model's own load and warmup are bounded by its load_timeout_s (models/<m>.yaml).


#: GKE and EKS figures for a node the cluster autoscaler must create: a CPU node joins in
#: about a minute and a half; a GPU node also installs its driver (GKE's installer DaemonSet,
#: the AL2023 NVIDIA AMI's modules) and advertises nvidia.com/gpu; a TPU VM host takes longest.
#: Image pull: the TF Serving CPU image is about 0.5 GB, the GPU one (CUDA, cuDNN) about
#: 3 GB, a TPU build with libtpu about as large.
STARTUP: dict[Kind, Startup] = {
    "cpu": Startup(node_provisioning_s=90, image_pull_s=60),
    "gpu": Startup(node_provisioning_s=300, image_pull_s=180),
    "tpu": Startup(node_provisioning_s=600, image_pull_s=180),
}

#: The HPA's default tolerance (kube-controller-manager --horizontal-pod-autoscaler-tolerance):
#: no change while current/target is within 10 %.
TOLERANCE = 0.1
#: KEDA polls each trigger this often; equal to the Prometheus scrape interval, so a poll
#: never reads the same samples twice in a row for long.
POLLING_INTERVAL_S = 30
#: Share of a replica's measured capacity the request trigger aims at: the rest absorbs a
#: step until new replicas are ready.
REQUEST_TARGET_SHARE = 0.7
#: p99 latency the latency trigger aims at, as a share of the objective: scale before the
#: objective (and the alert) is crossed.
LATENCY_TARGET_SHARE = 0.8
#: Accelerator duty cycle a replica is held to (percent). Below the saturation alert (90).
ACCELERATOR_TARGET_PERCENT = 75
#: Bounds of the scale-down stabilisation window (seconds).
MIN_STABILIZATION_S = 300
MAX_STABILIZATION_S = 3600


def startup_s(kind: Kind, load_timeout_s: int) -> int:
    """Worst-case time from "a replica is wanted" to "it answers": a new node, the image and
    the model's load budget (load plus warmup, as the startup probe allows)."""
    s = STARTUP[kind]
    return s.node_provisioning_s + s.image_pull_s + load_timeout_s


@dataclass(frozen=True, kw_only=True)
class Policy:
    type: Literal["Pods", "Percent"]
    value: int
    period_s: int


@dataclass(frozen=True, kw_only=True)
class Behavior:
    """autoscaling/v2 HorizontalPodAutoscalerBehavior, which KEDA passes to the HPA it owns."""

    scale_up_stabilization_s: int
    scale_up: tuple[Policy, ...]  # the largest change of any policy applies (selectPolicy Max)
    scale_down_stabilization_s: int
    scale_down: tuple[Policy, ...]  # the smallest change applies (selectPolicy Min)


def behavior(kind: Kind, load_timeout_s: int) -> Behavior:
    """Up fast, down slowly, sized by how long a replica takes to start.

    Scaling down uses the highest recommendation of the last window, and the window is as
    long as a start (within 5 minutes to an hour): a replica given up now would take that long
    to get back, so it is kept through any dip shorter than that (and a replica still starting
    is never given up). CPU pods scale down by a
    quarter a minute; accelerator pods by one pod every two minutes (each is a node).
    Scaling up waits for nothing: doubling per minute (at least 2 pods, 4 on CPU) keeps up
    with a step while each new replica still takes `startup_s` to answer.
    """
    window = min(MAX_STABILIZATION_S, max(MIN_STABILIZATION_S, startup_s(kind, load_timeout_s)))
    if kind == "cpu":
        up = (Policy(type="Percent", value=100, period_s=30), Policy(type="Pods", value=4, period_s=30))
        down = (Policy(type="Percent", value=25, period_s=60),)
    else:
        up = (Policy(type="Percent", value=100, period_s=60), Policy(type="Pods", value=2, period_s=60))
        down = (Policy(type="Pods", value=1, period_s=120),)
    return Behavior(scale_up_stabilization_s=0, scale_up=up, scale_down_stabilization_s=window, scale_down=down)


def cooldown_s(cold_start_budget_s: int) -> int:
    """KEDA's cooldownPeriod (last activity -> zero replicas): never shorter than a cold start,
    so a replica woken for load is not given up while it still waits for its node."""
    return max(MIN_STABILIZATION_S, cold_start_budget_s)


# --- batching ----------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class QueueBudget:
    """The worst wait of a request under the batching settings, against the objective."""

    timeout_ms: float  # batch_timeout_micros: the first request of a batch waits for more
    batches_ahead: int  # batches queued ahead of it per batch thread
    execution_ms: float  # one batch of the execution size on the accelerator
    objective_ms: int

    @property
    def worst_ms(self) -> float:
        """Timeout, the batches ahead of it, then its own batch."""
        return self.timeout_ms + (self.batches_ahead + 1) * self.execution_ms

    @property
    def fits(self) -> bool:
        return self.worst_ms <= self.objective_ms


def queue_budget(*, objective_ms: int, timeout_micros: int, execution_ms: float, max_enqueued_batches: int,
                 num_batch_threads: int) -> QueueBudget:
    return QueueBudget(timeout_ms=timeout_micros / 1000, batches_ahead=ceil(max_enqueued_batches / num_batch_threads),
                       execution_ms=execution_ms, objective_ms=objective_ms)


def max_enqueued_batches(*, objective_ms: int, timeout_micros: int, execution_ms: float,
                         num_batch_threads: int) -> int:
    """The deepest queue whose worst wait stays within the objective, in whole rounds of the
    batch threads (TF Serving's guide: about num_batch_threads batches for online serving).
    At least one round: a queue cannot be shallower (refused by `queue_budget` if even that
    misses the objective)."""
    rounds = floor((objective_ms - timeout_micros / 1000) / execution_ms) - 1
    return num_batch_threads * max(1, rounds)


def default_execution_ms(objective_ms: int) -> float:
    """Time of one batch when the model file does not state it: a quarter of the objective
    (a batch that took longer could not queue behind another one and still meet it)."""
    return objective_ms / 4


def large_batch_splitting(kind: Kind, explicit: bool | None) -> bool:
    """On GPUs and TPUs (by default), split a large request batch into execution batches the
    device runs well (and pads less); a CPU gains nothing from splitting."""
    return kind != "cpu" if explicit is None else explicit


def execution_size(*, max_batch_size: int, allowed_batch_sizes: tuple[int, ...], explicit: int | None,
                   splitting: bool) -> int:
    """The largest batch one execution runs: max_execution_batch_size with splitting (default:
    the last allowed size, else max_batch_size), max_batch_size without."""
    if not splitting:
        return max_batch_size
    return explicit or (allowed_batch_sizes[-1] if allowed_batch_sizes else max_batch_size)


def replica_capacity_rps(*, kind: Kind, execution_batch: int, execution_ms: float, batch_threads: int) -> float:
    """Requests a replica serves per second at full batches. One accelerator runs batches one
    after another (threads only overlap host work); on CPU the batch threads run side by side."""
    parallel = batch_threads if kind == "cpu" else 1
    return parallel * execution_batch * 1000 / execution_ms


def request_target(capacity_rps: float) -> int:
    """The request trigger's target per replica (at least 1 request per second)."""
    return max(1, floor(capacity_rps * REQUEST_TARGET_SHARE))


# --- the HPA algorithm (what KEDA's HPA computes each poll), for checks and replays ---------

def desired_replicas(current: int, metric: float, target: float) -> int:
    """Kubernetes' HPA: ceil(current x metric / target), unchanged within the tolerance."""
    if current == 0 or target <= 0:
        return current
    ratio = metric / target
    if abs(ratio - 1) <= TOLERANCE:
        return current
    return max(0, ceil(current * ratio))


# --- version changes that fit their pool ----------------------------------------------------

VersionChange = Literal["parallel", "swap"]


def version_change(mode: str, *, min_replicas: int, units_per_replica: int, offer_units: int | None) -> VersionChange:
    """auto: parallel where the pool can hold both colors' minimums (units: GPUs, or TPU
    hosts), else swap. `offer_units` None: not a scarce pool (CPU, shared GPUs): parallel."""
    if mode in ("parallel", "swap"):
        return "swap" if mode == "swap" else "parallel"
    if offer_units is None:
        return "parallel"
    return "parallel" if 2 * min_replicas * units_per_replica <= offer_units else "swap"


def color_floors(min_replicas: int, weights: dict[str, int], mode: VersionChange) -> dict[str, int]:
    """Each color's replica floor. One color, or parallel: each gets the fleet's minimum.
    swap with both colors: the minimum is shared in proportion to the traffic weights (each
    color keeps at least one replica, so the staged color can be judged), so the two
    together need at most min + 1 replicas, and the staged color grows only as weight - and
    with it load - moves to it from the live one."""
    if len(weights) < 2 or mode == "parallel":
        return {c: min_replicas for c in weights}
    return {c: max(1, round(min_replicas * w / 100)) for c, w in weights.items()}


# --- memory for a version change ---------------------------------------------------------------

#: TF Serving holds about twice a model's size while it loads a version (the SavedModel read
#: and the restored variables side by side, or the old and the new version during a reload).
RELOAD_FACTOR = 2.0
#: The server process itself and the warmup requests' batches (TF Serving's runtime, the
#: batching queue's buffers), on top of the model.
RUNTIME_AND_WARMUP_BYTES = 512 * 2**20


@dataclass(frozen=True, kw_only=True)
class MemoryNeed:
    saved_model_bytes: int
    need_bytes: int  # reload factor x size + runtime and warmup
    limit_bytes: int  # the container's memory limit

    @property
    def fits(self) -> bool:
        return self.need_bytes <= self.limit_bytes


def version_memory(saved_model_bytes: int, limit_bytes: int) -> MemoryNeed:
    need = ceil(saved_model_bytes * RELOAD_FACTOR) + RUNTIME_AND_WARMUP_BYTES
    return MemoryNeed(saved_model_bytes=saved_model_bytes, need_bytes=need, limit_bytes=limit_bytes)


def memory_to_fit(need_bytes: int, headroom_percent: int) -> int:
    """The smallest serving.resources.memory (bytes, whole MiB) whose limit with the headroom holds `need_bytes`."""
    mib = 2**20
    return ceil(need_bytes / (1 + headroom_percent / 100) / mib) * mib


def headroom_to_fit(need_bytes: int, memory_bytes: int) -> int:
    """The smallest memory_headroom_percent that holds `need_bytes` on top of `memory_bytes`."""
    return max(0, ceil((need_bytes / memory_bytes - 1) * 100))
