"""Checks of training config: a model's `training:` recipe, a stack's `tfplat:training`, and
the two together (pools that can run each recipe, quotas that can hold it, identities).

The rules (catalog, which pools fit, machine shapes) live in the rules layer; this module
only applies them and says where a failure is.
"""

from __future__ import annotations

from collections.abc import Mapping

from infra.config.errors import ConfigIssue, did_you_mean, one_of
from infra.config.spec import ModelSpec, NodePoolSpec, StackSpec, TrainingSettings
from infra.config.yamlio import YamlDoc
from infra.config.yamlio import issue_at as _at
from infra.rules import catalog, machines
from infra.rules import training as rules
from infra.rules.quantity import cpu_millis, memory_bytes

_STRATEGY_KIND = {"mirrored": "gpu", "multi-worker-mirrored": "gpu", "tpu": "tpu"}


def _slice(t: TrainingSettings) -> catalog.TpuTopology | None:
    acc = t.accelerator
    if acc.kind != "tpu" or acc.type is None or acc.topology is None:
        return None
    try:
        return catalog.resolve_tpu_pool(accelerator=acc.type, topology=acc.topology)
    except catalog.CatalogError:
        return None


def worker_count(t: TrainingSettings) -> int:
    shape = _slice(t)
    return rules.workers(t.strategy, t.workers, shape.nodes if shape else None)


def check_model_training(doc: YamlDoc, spec: ModelSpec) -> list[ConfigIssue]:
    t = spec.training
    if t is None:
        return []
    base: tuple[str | int, ...] = ("training",)
    acc, apath = t.accelerator, (*base, "accelerator")
    want = _STRATEGY_KIND[t.strategy]
    if acc.kind != want:
        return [_at(doc, (*apath, "kind"), f"strategy {t.strategy} runs on {want} workers, not {acc.kind}",
                    "use kind gpu with mirrored or multi-worker-mirrored, kind tpu with tpu", acc.kind)]
    issues: list[ConfigIssue] = []
    assert acc.type is not None
    if acc.kind == "gpu":
        gpus = catalog.gpu_types()
        if acc.type not in gpus:
            names = sorted(gpus)
            return [_at(doc, (*apath, "type"), "unknown GPU type",
                        f"use one of: {one_of(names)}{did_you_mean(acc.type, names)}", acc.type)]
        offered = sorted({*gpus[acc.type].gke_machine_types, *gpus[acc.type].eks_instance_types})
        if offered and acc.count > max(offered):
            issues.append(_at(doc, (*apath, "count"), f"no machine offers {acc.count} x {acc.type}",
                              f"use at most {max(offered)} GPUs per worker", acc.count))
    else:
        assert acc.topology is not None
        try:
            shape = catalog.resolve_tpu_pool(accelerator=acc.type, topology=acc.topology)
            catalog.check_tensorflow(acc.type)
        except catalog.CatalogError as err:
            return [_at(doc, apath, err.message, err.hint, {"type": acc.type, "topology": acc.topology})]
        if t.workers is not None and t.workers != shape.nodes:
            issues.append(_at(doc, (*base, "workers"), f"a {acc.topology} slice of {acc.type} has {shape.nodes} "
                                                       "host(s), and a TPU job runs one worker per host",
                              f"remove workers (it follows from the topology) or set it to {shape.nodes}", t.workers))
    if t.strategy == "mirrored" and t.workers not in (None, 1):
        issues.append(_at(doc, (*base, "workers"), "mirrored training runs one worker (every GPU of one node)",
                          "use strategy: multi-worker-mirrored for several nodes, or remove workers", t.workers))
    return issues


def _pool_need(t: TrainingSettings) -> str:
    acc = t.accelerator
    if acc.kind == "gpu":
        return f"accelerator {{type: {acc.type}, count: >= {acc.count}}}"
    return f"accelerator {{type: {acc.type}, topology: {acc.topology}}}"


def _capacity(pools: list[NodePoolSpec], t: TrainingSettings) -> int:
    shape = _slice(t)
    chips = shape.chips_per_node if shape else None
    return sum(p.max_nodes * rules.per_node(p, chips) for p in pools)


def _fits_a_node(stack: StackSpec, pools: list[NodePoolSpec], t: TrainingSettings) -> list[str]:
    """Pools none of whose nodes can give one worker its CPU and memory (shape known)."""
    too_small = []
    for pool in pools:
        machine = _machine_type(stack, pool)
        shape = machines.machine_shape(machine, stack.cloud) if machine else None
        if shape is None:
            continue
        node = machines.for_pods(shape, stack.cloud)
        if cpu_millis(t.cpu) > node.cpu_millis or memory_bytes(t.memory) > node.memory_bytes:
            too_small.append(f"{pool.name} ({machine}: {node.cpu_millis / 1000:g} CPU, "
                             f"{node.memory_bytes // machines.GIB} GiB for pods)")
    return too_small


def _machine_type(stack: StackSpec, pool: NodePoolSpec) -> str | None:
    acc = pool.accelerator
    if acc is None:
        return pool.machine_type
    try:
        if acc.topology is not None:
            return catalog.resolve_tpu_pool(accelerator=acc.type, topology=acc.topology,
                                            machine_type=pool.machine_type).machine_type
        return catalog.resolve_gpu_pool(cloud=stack.cloud, accelerator=acc.type, count=acc.count or 1,
                                        machine_type=pool.machine_type).machine_type
    except catalog.CatalogError:
        return None


def check_stack_training(doc: YamlDoc, stack: StackSpec, models: Mapping[str, ModelSpec],
                         broken: set[str]) -> list[ConfigIssue]:
    tr = stack.training
    base: tuple[str | int, ...] = ("config", "tfplat:training")
    issues: list[ConfigIssue] = []
    for pool in stack.node_pools.values():
        if pool.role == "training" and pool.accelerator is None:
            issues.append(_at(doc, ("config", "tfplat:node_pools", pool.name, "role"),
                              "a training pool needs an accelerator (jobs run on GPU or TPU workers)",
                              "add accelerator: {type: ..., count: ...} or use role: serving", pool.role))
    if not tr.enabled:
        if tr.models or tr.teams:
            issues.append(_at(doc, (*base, "enabled"), "models or teams are set but training is disabled",
                              "set enabled: true, or remove models and teams", tr.enabled))
        return issues
    pools = [p for p in stack.node_pools.values() if p.role == "training"]
    if not pools:
        issues.append(_at(doc, ("config", "tfplat:node_pools"), "training is enabled and no pool has role: training",
                          "add a pool for the jobs, e.g. train-l4: {role: training, accelerator: {type: nvidia-l4, "
                          "count: 1}, min_nodes: 0, max_nodes: 4, spot: true}"))
    reserved = {stack.serving.namespace: "the serving namespace",
                stack.monitoring.namespace: "the monitoring namespace"}
    seen: dict[str, str] = {}
    for team, ns in tr.teams.items():
        where = (*base, "teams", team, "namespace")
        if ns in reserved or ns.startswith("kube-") or ns in ("default", "kueue-system", "jobset-system"):
            issues.append(_at(doc, where, f"is {reserved.get(ns, 'a system namespace')}; training jobs get their own",
                              f"use a namespace of the team's own, e.g. train-{team.removesuffix('-team')}", ns))
        elif ns in seen:
            issues.append(_at(doc, where, f"is also team {seen[ns]}'s namespace (one LocalQueue per team)",
                              "give each team its own namespace", ns))
        seen.setdefault(ns, team)
    for i, name in enumerate(tr.models):
        where = (*base, "models", i)
        if name in broken:
            continue
        model = models.get(name)
        if model is None:
            known = sorted(models)
            issues.append(_at(doc, where, f"no model file models/{name}.yaml",
                              f"use one of: {one_of(known)}{did_you_mean(name, known)}", name))
            continue
        issues += _model_in_stack(doc, stack, model, where, pools)
    return issues


def _model_in_stack(doc: YamlDoc, stack: StackSpec, model: ModelSpec, where: tuple[str | int, ...],
                    pools: list[NodePoolSpec]) -> list[ConfigIssue]:
    t = model.training
    if t is None:
        return [_at(doc, where, f"{model.file} has no training: section",
                    f"add training: (image, command, strategy, accelerator, resources, data) to {model.file}, "
                    "or remove the model from tfplat:training.models", model.name)]
    issues: list[ConfigIssue] = []
    if model.owner not in stack.training.teams:
        issues.append(_at(doc, ("config", "tfplat:training", "teams"),
                          f"team {model.owner} (owner of {model.name}) has no training namespace",
                          f"add {model.owner}: {{namespace: train-{model.owner.removesuffix('-team')}}}"))
    if t.accelerator.kind == "tpu" and stack.cloud == "aws":
        return [*issues, _at(doc, where, f"{model.name} trains on TPU {t.accelerator.type}, and stack {stack.name} is "
                                         "on AWS, which has no TPUs",
                             "train it from a GCP stack, or give it a GPU training recipe")]
    scheme = "gs" if stack.cloud == "gcp" else "s3"
    for j, loc in enumerate(t.data):
        if not loc.startswith(f"{scheme}://"):
            issues.append(_at(doc, where, f"{model.file} training.data[{j}] is {loc}; a {stack.cloud} stack's jobs "
                                          f"read {scheme}:// locations",
                              f"copy the data to a {scheme}:// bucket and point training.data at it", loc))
    fitting = rules.training_pools(pools, t.accelerator, spot=t.spot)
    if not fitting:
        spot_only = [p.name for p in rules.training_pools(pools, t.accelerator, spot=True)]
        hint = (f"the fitting pools ({one_of(spot_only)}) are spot and {model.file} has training.spot: false; "
                "set spot: true there or add an on-demand pool" if spot_only else
                f"add a pool with role: training and {_pool_need(t)} to tfplat:node_pools")
        return [*issues, _at(doc, where, f"no training pool can run a worker of {model.name}", hint)]
    shape = _slice(t)
    need = worker_count(t) * (t.accelerator.count if t.accelerator.kind == "gpu" else
                              shape.chips_per_node if shape else 1)
    room = _capacity(fitting, t)
    if need > room:
        issues.append(_at(doc, where, f"{model.name} needs {need} accelerators and its pools "
                                      f"({one_of([p.name for p in fitting])}) hold at most {room}: Kueue "
                                      "would never admit it",
                          "raise the pools' max_nodes, or lower training.workers in the model file"))
    small = _fits_a_node(stack, fitting, t)
    if len(small) == len(fitting):
        issues.append(_at(doc, where, f"one worker of {model.name} asks for {t.cpu} CPU and {t.memory}, more than a "
                                      f"node gives pods: {one_of(small)}",
                          "lower training.resources in the model file, or use a larger machine_type"))
    return issues
