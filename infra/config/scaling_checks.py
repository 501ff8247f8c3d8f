"""Checks of a model's batching and autoscaling that the JSON Schema cannot express.

The rules are infra.rules.scaling's (the queue rule, start-up per accelerator kind, large
batch splitting); this module says where in the model file a value breaks one and which
number to change.
"""

from __future__ import annotations

from functools import cache

from infra.config.errors import ConfigIssue, did_you_mean
from infra.config.spec import ModelSpec, StackSpec
from infra.config.yamlio import YamlDoc
from infra.config.yamlio import issue_at as _at
from infra.rules import scaling

BATCHING = ("serving", "batching")
AUTOSCALING = ("serving", "autoscaling")


def check_batching(doc: YamlDoc, spec: ModelSpec) -> list[ConfigIssue]:
    b = spec.serving.batching
    kind = spec.serving.accelerator.kind
    objective = spec.serving.latency_objective_ms
    issues: list[ConfigIssue] = []
    split = scaling.large_batch_splitting(kind, b.enable_large_batch_splitting)
    if b.max_execution_batch_size is not None and not split:
        issues.append(_at(doc, (*BATCHING, "max_execution_batch_size"),
                          "only applies with enable_large_batch_splitting (TF Serving ignores it otherwise)",
                          "set enable_large_batch_splitting: true, or remove max_execution_batch_size",
                          b.max_execution_batch_size))
    if b.max_execution_batch_size is not None and b.max_execution_batch_size > b.max_batch_size:
        issues.append(_at(doc, (*BATCHING, "max_execution_batch_size"),
                          f"is above max_batch_size ({b.max_batch_size}); an execution batch is at most an input batch",
                          f"use at most {b.max_batch_size}, or raise max_batch_size", b.max_execution_batch_size))
    execution = scaling.execution_size(max_batch_size=b.max_batch_size, allowed_batch_sizes=b.allowed_batch_sizes,
                                       explicit=b.max_execution_batch_size, splitting=split)
    sizes = list(b.allowed_batch_sizes)
    end = "max_execution_batch_size" if split and b.max_execution_batch_size is not None else "max_batch_size"
    if sizes and (sizes != sorted(sizes) or sizes[-1] != execution):
        issues.append(_at(doc, (*BATCHING, "allowed_batch_sizes"),
                          f"must be increasing and end with {end} ({execution}; TF Serving rejects it otherwise)",
                          "for example [" + ", ".join(str(s) for s in sorted({*sizes, execution}) if s <= execution)
                          + "]", sizes))
    execution_ms = b.batch_execution_ms or scaling.default_execution_ms(objective)
    timeout_ms = b.batch_timeout_micros / 1000
    source = "batch_execution_ms" if b.batch_execution_ms else f"the default batch_execution_ms ({execution_ms:g})"
    if timeout_ms + execution_ms > objective:
        issues.append(_at(doc, (*BATCHING, "batch_timeout_micros"),
                          f"{timeout_ms:g} ms of batch timeout plus one batch ({source}) exceed the latency objective "
                          f"({objective} ms) before any request queues",
                          "lower batch_timeout_micros (TF Serving's guide: about 1000 for online serving) or the "
                          "batch size, or raise latency_objective_ms", b.batch_timeout_micros))
    elif b.max_enqueued_batches is not None:
        budget = scaling.queue_budget(objective_ms=objective, timeout_micros=b.batch_timeout_micros,
                                      execution_ms=execution_ms, max_enqueued_batches=b.max_enqueued_batches,
                                      num_batch_threads=b.num_batch_threads)
        if not budget.fits:
            deepest = scaling.max_enqueued_batches(objective_ms=objective, timeout_micros=b.batch_timeout_micros,
                                                   execution_ms=execution_ms, num_batch_threads=b.num_batch_threads)
            issues.append(_at(doc, (*BATCHING, "max_enqueued_batches"),
                              f"a full queue makes a request wait {budget.worst_ms:g} ms ({timeout_ms:g} ms timeout + "
                              f"{budget.batches_ahead} batches ahead per thread + its own, {execution_ms:g} ms each "
                              f"from {source}), over the {objective} ms latency objective",
                              f"use at most {deepest} (or remove it: that is the default), so a full queue sheds "
                              "requests to other replicas instead of holding them", b.max_enqueued_batches))
    return issues


def check_autoscaling(doc: YamlDoc, spec: ModelSpec) -> list[ConfigIssue]:
    a = spec.serving.autoscaling
    kind = spec.serving.accelerator.kind
    issues: list[ConfigIssue] = []
    if a.min_replicas > a.max_replicas:
        issues.append(_at(doc, (*AUTOSCALING, "min_replicas"), f"is above max_replicas ({a.max_replicas})",
                          "make min_replicas <= max_replicas", a.min_replicas))
    if a.signals is not None and "queue" in a.signals and not spec.serving.batching.enabled:
        issues.append(_at(doc, (*AUTOSCALING, "signals"), "the queue signal needs batching (TF Serving exports "
                          "the batching queue only with --enable_batching)",
                          "remove queue from signals, or enable batching", list(a.signals)))
    if a.signals is not None and "accelerator" in a.signals and kind == "cpu":
        issues.append(_at(doc, (*AUTOSCALING, "signals"), "a CPU model has no accelerator duty cycle",
                          "use cpu instead of accelerator", list(a.signals)))
    startup = scaling.startup_s(kind, spec.serving.load_timeout_s)
    if a.cold_start_budget_s is not None and a.cold_start_budget_s < startup:
        s = scaling.STARTUP[kind]
        issues.append(_at(doc, (*AUTOSCALING, "cold_start_budget_s"),
                          f"is shorter than a start on {kind}: {s.node_provisioning_s} s node provisioning + "
                          f"{s.image_pull_s} s image pull + {spec.serving.load_timeout_s} s load_timeout_s "
                          f"= {startup} s",
                          f"raise cold_start_budget_s to {startup} or more (or lower load_timeout_s if the model "
                          "loads faster)", a.cold_start_budget_s))
    return issues


def check_scale_to_zero(doc: YamlDoc, stack: StackSpec) -> list[ConfigIssue]:
    """The awake hours must be a window within one day (the cron trigger's start before its
    end), in a time zone KEDA's cron scaler can load (an IANA name)."""
    awake = stack.serving.scale_to_zero.awake
    if awake is None:
        return []
    path = ("config", "tfplat:serving", "scale_to_zero", "awake")
    issues = []
    if awake.start >= awake.end:  # HH:MM compares as text
        issues.append(_at(doc, (*path, "to"), f"is not after from ({awake.start}): the awake hours are a window "
                          "within one day", "make to later than from (a window over midnight is two stacks' worth "
                          "of hours: use the longer part, or turn scale to zero off)", awake.end))
    known = _time_zones()  # the tzdata package's names (requirements.txt): the same on every machine
    if awake.timezone not in known:
        issues.append(_at(doc, (*path, "timezone"), "is not an IANA time zone (KEDA's cron trigger would fail)",
                          f"use a name such as UTC or Europe/Berlin{did_you_mean(awake.timezone, sorted(known))}",
                          awake.timezone))
    return issues


@cache
def _time_zones() -> frozenset[str]:
    import zoneinfo

    return frozenset(zoneinfo.available_timezones())
