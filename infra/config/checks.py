"""Semantic checks the JSON Schema cannot express, each returning located issues.

The rules themselves (catalog, rollout, placement, ...) live in the rules layer
(infra.rules); this module only runs them over specs and says where in which file a
failure is.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
import re

from infra.config import capacity
from infra.config.edge_checks import check_edge
from infra.config.errors import ConfigIssue, did_you_mean, format_path, one_of
from infra.config.replicas import check_replica_bounds
from infra.config.scaling_checks import check_autoscaling, check_batching, check_scale_to_zero
from infra.config.schema import marked_paths
from infra.config.spec import ModelSpec, NodePoolSpec, StackSpec
from infra.config.yamlio import YamlDoc
from infra.config.yamlio import issue_at as _at
from infra.rules import catalog
from infra.rules.cluster import SUPPORTED_KUBERNETES_VERSIONS, default_zones, example_zone, zone_in_region
from infra.rules.images import EKS_ADDONS, eks_addons, image, serving_image_key
from infra.rules.placement import matching_pools
from infra.rules.rollout import RolloutError, check_rollout

MACHINE_TYPE = {"gcp": (re.compile(r"^[a-z][a-z0-9]*-[a-z0-9-]+$"), "n2-standard-8"),
                "aws": (re.compile(r"^[a-z][a-z0-9-]*\.[0-9]*[a-z0-9]+$"), "m6i.xlarge")}
GCP_REGION = re.compile(r"^[a-z]+-[a-z]+[0-9]+$")
AWS_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]+$")
STACK_NAME = re.compile(r"^[a-z]([a-z0-9-]{0,13}[a-z0-9])?$")


# --------------------------------------------------------------------------- model files


def check_model(doc: YamlDoc, spec: ModelSpec) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    acc = spec.serving.accelerator
    acc_path: tuple[str | int, ...] = ("serving", "accelerator")
    if acc.kind == "gpu":
        assert acc.type is not None
        gpus = catalog.gpu_types()
        if acc.type not in gpus:
            names = sorted(gpus)
            issues.append(_at(doc, (*acc_path, "type"), "unknown GPU type",
                              f"use one of: {one_of(names)}{did_you_mean(acc.type, names)}", acc.type))
        else:
            gpu = gpus[acc.type]
            offered = sorted({*gpu.gke_machine_types, *gpu.eks_instance_types})
            if offered and acc.count > max(offered):
                issues.append(_at(doc, (*acc_path, "count"), f"no machine offers {acc.count} x {acc.type}",
                                  f"use at most {max(offered)} GPUs per pod", acc.count))
    elif acc.kind == "tpu":
        assert acc.type is not None and acc.topology is not None
        try:
            shape = catalog.resolve_tpu_pool(accelerator=acc.type, topology=acc.topology)
            catalog.check_tensorflow(acc.type)  # TF Serving cannot run where TensorFlow cannot
        except catalog.CatalogError as err:
            issues.append(_at(doc, acc_path, err.message, err.hint, {"type": acc.type, "topology": acc.topology}))
        else:
            if shape.multi_host:
                single = [t.topology for t in catalog.tpu_types()[acc.type].topologies if not t.multi_host]
                issues.append(_at(doc, (*acc_path, "topology"),
                                  f"topology {acc.topology} spans {shape.nodes} hosts; "
                                  "one serving pod runs on one host",
                                  f"use a single-host topology: {one_of(single)}", acc.topology))

    if spec.serving.batching.enabled:
        issues += check_batching(doc, spec)
    issues += check_autoscaling(doc, spec)
    if "int8" in spec.edge.variants and not spec.edge.samples:
        issues.append(_at(doc, ("edge", "samples"), "the int8 variant needs sample inputs",
                          "set edge.samples to an .npz of representative inputs, or drop int8 from edge.variants"))
    return issues


# --------------------------------------------------------------------------- stack file


def _pool_issues(doc: YamlDoc, stack: StackSpec, pool: NodePoolSpec) -> list[ConfigIssue]:
    base: tuple[str | int, ...] = ("config", "tfplat:node_pools", pool.name)
    issues: list[ConfigIssue] = []
    if pool.min_nodes > pool.max_nodes:
        issues.append(_at(doc, (*base, "min_nodes"), f"is above max_nodes ({pool.max_nodes})",
                          "make min_nodes <= max_nodes", pool.min_nodes))
    for i, zone in enumerate(pool.zones):
        if not zone_in_region(stack.cloud, stack.region, zone):
            issues.append(_at(doc, (*base, "zones", i), f"is not a zone of region {stack.region}",
                              f"use zones of {stack.region}, such as {default_zones(stack)[0]}", zone))
    acc = pool.accelerator
    fmt, example = MACHINE_TYPE[stack.cloud]
    if pool.machine_type and not fmt.match(pool.machine_type):
        issues.append(_at(doc, (*base, "machine_type"), f"is not a {stack.cloud} machine type",
                          f"use a {stack.cloud} machine type such as {example}", pool.machine_type))
    if acc is None:
        if not pool.machine_type:
            issues.append(_at(doc, (*base, "machine_type"), "a pool without an accelerator needs a machine type",
                              f"set machine_type (e.g. {example})"))
        else:
            carried = catalog.gpu_of_machine_type(pool.machine_type, stack.cloud)
            if carried:
                gpu, count = carried
                issues.append(_at(doc, (*base, "machine_type"), f"this machine type carries {count} x {gpu} GPUs",
                                  f"declare them: accelerator: {{type: {gpu}, count: {count}}} (GPU pools get "
                                  "drivers and the nvidia.com/gpu taint)", pool.machine_type))
        return issues
    if pool.role == "system":
        issues.append(_at(doc, (*base, "role"), "a system pool cannot have an accelerator",
                          "use role: serving (or training) for accelerator pools", pool.role))
    apath = (*base, "accelerator")
    try:
        kind = catalog.accelerator_kind(acc.type)
    except catalog.CatalogError as err:
        return [*issues, _at(doc, (*apath, "type"), err.message, err.hint, acc.type)]
    try:
        if kind == "tpu":
            if stack.cloud == "aws":
                return [*issues, _at(doc, (*apath, "type"),
                                     f"stack {stack.name} is on AWS, which has no TPUs",
                                     "remove this pool; TPU models are served from a GCP stack", acc.type)]
            if acc.count is not None or acc.sharing is not None:
                issues.append(_at(doc, apath, "a TPU pool takes type and topology only",
                                  "remove count/sharing; the topology fixes the chips"))
            if not acc.topology:
                return [*issues, _at(doc, (*apath, "topology"), "a TPU pool needs a topology",
                                     "add topology (e.g. 2x2 for tpu-v5-lite-podslice)")]
            shape = catalog.resolve_tpu_pool(accelerator=acc.type, topology=acc.topology,
                                             machine_type=pool.machine_type)
            catalog.check_tpu_autoscaling(shape, min_nodes=pool.min_nodes, max_nodes=pool.max_nodes)
            if shape.multi_host and len(pool.zones) != 1:
                issues.append(_at(doc, (*base, "zones"), "a multi-host TPU slice must sit in one zone",
                                  f"set zones: [<one zone of {stack.region} with {acc.type}>]", list(pool.zones)))
        else:
            if acc.topology is not None:
                issues.append(_at(doc, (*apath, "topology"), "topology is for TPU pools",
                                  "remove topology; use count for GPUs per node", acc.topology))
            catalog.resolve_gpu_pool(cloud=stack.cloud, accelerator=acc.type, count=acc.count or 1,
                                     machine_type=pool.machine_type)
            if acc.sharing is not None:
                if stack.cloud == "aws" and acc.sharing.strategy != "none":
                    issues.append(_at(doc, (*apath, "sharing"), "GPU sharing is configured by GKE only",
                                      "remove sharing on AWS (use the NVIDIA device plugin's "
                                      "time-slicing config instead)"))
                else:
                    catalog.check_gpu_sharing(accelerator=acc.type, strategy=acc.sharing.strategy,
                                              max_shared_clients=acc.sharing.max_shared_clients,
                                              partition_size=acc.sharing.partition_size)
    except catalog.CatalogError as err:
        issues.append(_at(doc, apath, err.message, err.hint,
                          {k: v for k, v in (("type", acc.type), ("count", acc.count), ("topology", acc.topology),
                                             ("machine_type", pool.machine_type)) if v is not None}))
    return issues


ConfigPath = tuple[str | int, ...]


def plaintext_secrets(marked: Iterable[ConfigPath], secret_paths: Collection[ConfigPath]) -> list[ConfigPath]:
    """Marked paths (under "config") that neither are nor sit inside a `secure:` value of the
    stack file. One rule for the loader and the config-secrets-encrypted policy."""
    return [p for p in marked if not any(p[:n] in secret_paths for n in range(2, len(p) + 1))]


def check_secrets(doc: YamlDoc, stack: StackSpec) -> list[ConfigIssue]:
    """Fields the schema marks x-secret must be Pulumi secrets, never plain text."""
    issues = []
    for path in plaintext_secrets(marked_paths("stack", doc.data, "x-secret"), doc.secret_paths):
        top = str(path[1]) if len(path) > 1 else ""
        # A key the stack file does not hold (config from an ESC environment, say) is known
        # only as the engine marks it: secret as a whole, or not.
        if ("config", top) not in doc.lines and top in stack.secret_keys:
            continue
        flag = format_path(path[1:])
        issues.append(_at(doc, path, "a secret is in plain text",
                          f"remove it from the file and run: pulumi config set --secret --path '{flag}' "
                          f"-s {stack.name} (the file then holds `secure:` ciphertext)", "<redacted>"))
    return issues


def check_stack(doc: YamlDoc, stack: StackSpec) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = check_secrets(doc, stack)
    raw = doc.data["config"]
    other = "tfplat:aws" if stack.cloud == "gcp" else "tfplat:gcp"
    if other in raw:
        issues.append(_at(doc, ("config", other), f"does not apply to a {stack.cloud} stack",
                          f"remove {other}, or set tfplat:cloud to {other.split(':')[1]}"))
    if stack.cloud == "gcp" and "tfplat:gcp" not in raw:
        issues.append(_at(doc, ("config",), "a gcp stack needs tfplat:gcp", "add tfplat:gcp: {project: <project id>}"))
    if stack.cloud == "aws" and "tfplat:aws" not in raw:
        issues.append(_at(doc, ("config",), "an aws stack needs tfplat:aws",
                          "add tfplat:aws: {account_id: <12-digit AWS account id>}"))
    region_format = {"gcp": (GCP_REGION, "us-central1"), "aws": (AWS_REGION, "us-east-1")}[stack.cloud]
    if not region_format[0].match(stack.region):
        issues.append(_at(doc, ("config", "tfplat:region"), f"is not a {stack.cloud} region name",
                          f"use a {stack.cloud} region such as {region_format[1]}", stack.region))
    if stack.cloud == "aws" and eks_addons(stack.cluster.version) is None:
        issues.append(_at(doc, ("config", "tfplat:cluster", "version"),
                          f"no EKS add-on versions are pinned for Kubernetes {stack.cluster.version}",
                          f"pin {', '.join(EKS_ADDONS)} for it under eks_addons "
                          "in images/versions.yaml (the comment there shows the aws CLI query)",
                          stack.cluster.version))
    if not STACK_NAME.match(stack.name):
        issues.append(ConfigIssue(file=doc.file, path="", value=stack.name,
                                  message="invalid stack name (it is part of cloud resource names)",
                                  hint="use 1-15 lowercase letters, digits and '-', starting with a letter, "
                                       "e.g. stacks/Pulumi.prod-eu.yaml"))
    if stack.cluster.version not in SUPPORTED_KUBERNETES_VERSIONS:
        issues.append(_at(doc, ("config", "tfplat:cluster", "version"), "unsupported Kubernetes version",
                          f"use one of: {one_of(SUPPORTED_KUBERNETES_VERSIONS)}", stack.cluster.version))
    cluster_zones: tuple[tuple[str, str], tuple[str, ...]] | None = (
        (("tfplat:gcp", "zones"), stack.gcp.zones) if stack.cloud == "gcp" and stack.gcp is not None
        else (("tfplat:aws", "availability_zones"), stack.aws.availability_zones) if stack.aws is not None
        else None)
    if cluster_zones is not None:
        (key, field), zones = cluster_zones
        for i, zone in enumerate(zones):
            if not zone_in_region(stack.cloud, stack.region, zone):
                issues.append(_at(doc, ("config", key, field, i), f"is not a zone of region {stack.region}",
                                  f"use zones such as {example_zone(stack.cloud, stack.region)}", zone))
    issues.extend(_gateway_tls(doc, stack))
    issues.extend(check_scale_to_zero(doc, stack))
    if not any(p.role == "system" for p in stack.node_pools.values()):
        issues.append(_at(doc, ("config", "tfplat:node_pools"), "no pool has role: system",
                          "add a small pool for cluster add-ons, e.g. system: {role: system, "
                          "machine_type: e2-standard-4, min_nodes: 1, max_nodes: 3}"))
    for pool in stack.node_pools.values():
        issues += _pool_issues(doc, stack, pool)
    return issues


def nested_pairs(where: Mapping[str, tuple[str | None, str]]) -> list[tuple[str, str]]:
    """Every pair (a, b) of names, a < b, whose (bucket, prefix) are in one bucket with nested
    prefixes (equal, or one a folder inside the other: vision/resnet50 is not in vision/resnet),
    in name order. Indexed by prefix, so that a thousand models cost a thousand look-ups and not
    half a million comparisons (tests/config/test_nested_prefixes.py holds it to the pairwise scan)."""
    by_prefix: dict[tuple[str | None, str], list[str]] = {}
    for name, spot in where.items():
        by_prefix.setdefault(spot, []).append(name)
    pairs: set[tuple[str, str]] = set()
    for name, (bucket, prefix) in where.items():
        # Models at this prefix or at a folder holding it (every prefix p with b.startswith(p + "/")).
        for folder in [prefix[:i] for i, ch in enumerate(prefix) if ch == "/"] + [prefix]:
            pairs.update((min(name, other), max(name, other)) for other in by_prefix.get((bucket, folder), ())
                         if other != name)
    return sorted(pairs)


def _sibling(prefix: str, name: str) -> str:
    return f"{prefix.rsplit('/', 1)[0]}/{name}" if "/" in prefix else name


def _suggest(a: str, prefix_a: str, b: str, prefix_b: str) -> str:
    """A prefix of its own for whichever model's prefix is not already named after it."""
    for name, prefix in ((a, prefix_a), (b, prefix_b)):
        if _sibling(prefix, name) != prefix:
            return f"{_sibling(prefix, name)} for {name}"
    return f"{prefix_b}-2 for {b}"


def check_artifact_prefixes(models: Mapping[str, ModelSpec], docs: Mapping[str, YamlDoc]) -> list[ConfigIssue]:
    """Two models whose versions live under the same (or a nested) prefix of one bucket would
    each load the other's SavedModels: TF Serving serves every numbered folder under its base
    path. Refused unless both name each other in artifact.shared_with. Models without an
    explicit bucket share the stack's model bucket."""
    issues = []
    for a, b in nested_pairs({name: (m.artifact.bucket, m.artifact.prefix) for name, m in models.items()}):
        ma, mb = models[a].artifact, models[b].artifact
        if b in ma.shared_with and a in mb.shared_with:
            continue
        where = "the same prefix" if ma.prefix == mb.prefix else "nested prefixes"
        bucket = f"bucket {ma.bucket}" if ma.bucket else "the stack's model bucket"
        issues.append(_at(docs[b], ("artifact", "prefix"),
                          f"{models[a].file} and {models[b].file} use {where} in {bucket} "
                          f"({ma.prefix!r} and {mb.prefix!r}): each model would serve the other's versions",
                          f"give each model its own prefix (e.g. {_suggest(a, ma.prefix, b, mb.prefix)}), or, if "
                          f"they share on purpose, add shared_with: [{a}] to {b}'s artifact and shared_with: "
                          f"[{b}] to {a}'s", mb.prefix))
    return issues


# --------------------------------------------------------------------------- stack x models


def _pool_label(pool: NodePoolSpec) -> str:
    acc = pool.accelerator
    if acc is None:
        return f"{pool.name} ({pool.role}, cpu)"
    detail = acc.topology if acc.topology else f"{acc.count or 1} per node"
    return f"{pool.name} ({acc.type} {detail})"


def check_rollouts(doc: YamlDoc, stack: StackSpec, models: Mapping[str, ModelSpec],
                   broken: set[str], *, pools_ok: bool = True) -> list[ConfigIssue]:
    """Stack x model checks. pools_ok=False (a pool already has errors) skips placement."""
    issues: list[ConfigIssue] = []
    for name, rollout in stack.models.items():
        base: tuple[str | int, ...] = ("config", "tfplat:models", name)
        if name in broken:
            continue  # its own file's errors are already reported
        if name not in models:
            known = sorted(models)
            issues.append(_at(doc, base, f'no model file models/{name}.yaml',
                              f"add models/{name}.yaml, or use one of: {one_of(known)}{did_you_mean(name, known)}"))
            continue
        try:
            check_rollout(rollout)
        except RolloutError as err:
            issues.append(_at(doc, (*base, err.field), err.message, err.hint, err.value))
        model = models[name]
        issues += check_replica_bounds(doc, base, rollout, model)
        acc = model.serving.accelerator
        if acc.kind == "tpu" and stack.cloud == "aws":
            issues.append(_at(doc, base, f"model {name} needs TPU {acc.type}, and stack {stack.name} "
                                         "is on AWS, which has no TPUs",
                              f"remove {name} from this stack's tfplat:models, or serve it from a GCP stack"))
            continue
        key = serving_image_key(acc.kind)
        if image(key, stack.serving.images) is None:
            issues.append(_at(doc, ("config", "tfplat:serving", "images", key),
                              f"model {name} runs on {acc.kind} and no {key} image is pinned",
                              f"set tfplat:serving.images.{key} to a TF Serving build for {acc.kind} "
                              "(<registry>/<repo>:<tag>@sha256:<digest>; see docs/tpu-serving.md)"))
        if pools_ok and not matching_pools(stack.node_pools.values(), acc):
            want = {"cpu": "a serving pool without accelerator",
                    "gpu": f"a serving pool with accelerator {{type: {acc.type}, count: >= {acc.count}}}",
                    "tpu": f"a serving pool with accelerator {{type: {acc.type}, topology: {acc.topology}}}"}[acc.kind]
            pools = [_pool_label(p) for p in stack.node_pools.values()]
            issues.append(_at(doc, base, f"no node pool can run model {name} ({model.file} asks for {acc.kind}"
                                         + (f" {acc.type}" if acc.type else "") + ")",
                              f"add {want} to tfplat:node_pools (pools here: {one_of(pools)})"))
    return issues


def check_capacity(doc: YamlDoc, stack: StackSpec, models: Mapping[str, ModelSpec]) -> list[ConfigIssue]:
    """Requests no node can hold and pools too small for their models' minimum replicas
    (infra.config.capacity); tight fits are warnings the offline plan prints."""
    issues = []
    for f in capacity.check_stack_capacity(stack, models):
        if not f.error:
            continue
        if f.model is not None:
            where: tuple[str | int, ...] = ("config", "tfplat:models", f.model)
            value: object = ...
        else:
            assert f.pool is not None
            where = ("config", "tfplat:node_pools", f.pool, "max_nodes")
            value = stack.node_pools[f.pool].max_nodes
        issues.append(_at(doc, where, f.message, f.hint, value))
    return issues


def check_observability_and_edge(doc: YamlDoc, stack: StackSpec, models: Mapping[str, ModelSpec],
                                 broken: set[str]) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    mon = stack.monitoring
    mpath: tuple[str | int, ...] = ("config", "tfplat:monitoring")
    for i, route in enumerate(mon.routes):
        if route.receiver not in mon.receivers:
            known = sorted(mon.receivers)
            issues.append(_at(doc, (*mpath, "alertmanager", "routes", i, "receiver"), "no such receiver",
                              f"use one of: {one_of(known)}{did_you_mean(route.receiver, known)}, "
                              "or add it under alertmanager.receivers", route.receiver))
    for name, rcv in mon.receivers.items():
        if not (rcv.slack_webhook_url or rcv.pagerduty_routing_key or rcv.webhook_url):
            issues.append(_at(doc, (*mpath, "alertmanager", "receivers", name), "receiver has no destination",
                              "set slack_webhook_url, pagerduty_routing_key or webhook_url (as a secret)"))
    if mon.tracing.storage == "external" and not mon.tracing.external_endpoint:
        issues.append(_at(doc, (*mpath, "tracing", "external_endpoint"), "external trace storage needs an endpoint",
                          "set external_endpoint to the OTLP gRPC host:port of your trace backend, or storage: memory"))
    if mon.gpu_metrics == "gke-managed" and stack.cloud != "gcp":
        issues.append(_at(doc, (*mpath, "gpu_metrics"), "GKE managed DCGM metrics exist on GCP only",
                          "use gpu_metrics: dcgm-exporter on AWS", mon.gpu_metrics))

    return issues + check_edge(doc, stack, models, broken)


def _gateway_tls(doc: YamlDoc, stack: StackSpec) -> list[ConfigIssue]:
    """Each cloud's gateway takes its HTTPS certificate from one place: GKE from a Kubernetes
    Secret (tls_secret), the AWS Load Balancer Controller only from ACM (certificate_arn).
    An ALB can only use an ACM certificate of its own account and region."""
    gw = stack.serving.gateway
    base = ("config", "tfplat:serving", "gateway")
    if not gw.enabled:
        return []
    out: list[ConfigIssue] = []
    if stack.cloud == "aws" and gw.tls_secret:
        out.append(_at(doc, (*base, "tls_secret"),
                       "the AWS Load Balancer Controller does not take certificates from Kubernetes Secrets",
                       "replace tls_secret with certificate_arn: <ACM certificate ARN> "
                       "(see docs/aws-load-balancer-controller.md)", gw.tls_secret))
    if stack.cloud == "gcp" and gw.certificate_arn:
        out.append(_at(doc, (*base, "certificate_arn"), "is an AWS ACM certificate; GKE gateways take a Secret",
                       "replace certificate_arn with tls_secret: <kubernetes.io/tls Secret in the serving "
                       "namespace>", gw.certificate_arn))
    if stack.cloud == "aws" and gw.certificate_arn and stack.aws is not None:
        # arn:<partition>:acm:<region>:<account>:certificate/<id> (the schema checked the shape)
        _, _, _, region, account, _ = gw.certificate_arn.split(":", 5)
        if region != stack.region:
            out.append(_at(doc, (*base, "certificate_arn"),
                           f"is in region {region}, but an ALB in {stack.region} can only use ACM certificates "
                           f"of its own region", f"request or import the certificate in {stack.region} and use "
                           "its ARN", gw.certificate_arn))
        if account != stack.aws.account_id:
            out.append(_at(doc, (*base, "certificate_arn"),
                           f"belongs to account {account}, not the stack's account {stack.aws.account_id}",
                           f"use a certificate of account {stack.aws.account_id} (ACM certificates cannot be "
                           "shared with another account's load balancers)", gw.certificate_arn))
    return out
