"""Static checks of the lines a runbook shows but the test cannot run (they need a cloud):
every stack, resource URN, Service, route, namespace, pool, model and cluster they name must
exist in the repository at that point of the runbook.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
import hashlib
from pathlib import Path
import re
from typing import Any

from infra.config.errors import ConfigError
from infra.config.loader import available_stacks, load
from infra.offline.urns import engine_urns
from infra.plan.manifests.traffic import GATEWAY_NAME
from infra.plan.stack import plan_stack
from infra.rules import names
from tests.delivery.runbook_lines import Command

PROJECT = "tfplat"  # Pulumi.yaml name: the project part of every URN


@dataclass
class Facts:
    """What skipped (cloud) lines may name: the copy's models, stacks, pools, clusters, URNs."""

    root: Path
    stacks: list[str]
    models: set[str]
    namespaces: set[str]
    pools: set[str]
    clusters: dict[str, tuple[str, str]]  # cluster name -> (cloud, location)
    projects: set[str]
    regions: set[str]
    _urns: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, root: Path) -> Facts:
        stacks = available_stacks(root)
        models: set[str] = set()
        namespaces = {"monitoring", "kube-system"}
        pools: set[str] = set()
        clusters: dict[str, tuple[str, str]] = {}
        projects: set[str] = set()
        regions: set[str] = set()
        for stack in stacks:
            loaded = load(root, stack)
            models |= set(loaded.models)
            plan = plan_stack(loaded)
            namespaces.add(loaded.stack.serving.namespace)
            if plan.training is not None:  # Kueue's, JobSet's and the teams' training namespaces
                namespaces |= {"kueue-system", "jobset-system", *plan.training.namespaces.values()}
            pools |= set(loaded.stack.node_pools)
            clusters[plan.cloud.cluster_name] = (loaded.stack.cloud, plan.cloud.location)
            regions.add(loaded.stack.region)
            if loaded.stack.gcp is not None:
                projects.add(loaded.stack.gcp.project)
        return cls(root=root, stacks=stacks, models=models, namespaces=namespaces, pools=pools,
                   clusters=clusters, projects=projects, regions=regions)

    def services(self) -> set[str]:
        return {names.live_service_name(m) for m in self.models} | {
            names.fleet_name(m, c) for m in self.models for c in ("blue", "green")}

    def routes(self) -> set[str]:
        return {f"{m}-{p}" for m in self.models for p in ("rest", "grpc")}

    def urns(self, stack: str) -> set[str]:
        """Real Pulumi URNs of every resource the stack's program registers: the program under
        the mock engine, as the offline plan runs it (the URNs do not depend on the charts'
        rendering or validation, which the offline plan's own tests cover)."""
        if stack not in self._urns:
            key = (config_digest(self.root), stack)
            if key not in _URNS:
                from infra.offline.plan import project_name, run_offline
                from infra.offline.render import resources_document

                try:
                    _, result = run_offline(self.root, stack)
                except ConfigError:
                    return set()  # the stack file is gone or broken: no URN can be checked as valid
                _URNS[key] = real_urns(resources_document(stack, project_name(self.root), result), stack)
            self._urns[stack] = _URNS[key]
        return self._urns[stack]


#: URNs by (config digest, stack): runbooks start from the same repository, so their copies
#: share most configs; the program is the same code in one test process.
_URNS: dict[tuple[str, str], set[str]] = {}


def config_digest(root: Path) -> str:
    """Of what the program reads from a copy: Pulumi.yaml, models/ and stacks/."""
    digest = hashlib.sha256()
    files = [root / "Pulumi.yaml", *(root / "models").glob("*.yaml"), *(root / "stacks").glob("*.yaml")]
    for path in sorted(p for p in files if p.is_file()):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


class FactsCache:
    """Facts of the copy as the runbook goes: recomputed when models/ or stacks/ changed, and
    accumulated, because a runbook may name what it removed a step earlier (the project of a
    stack it tore down, for example)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._seen: set[str] = set()
        self._known: Facts | None = None

    def now(self) -> Facts:
        key = config_digest(self.root)
        if key not in self._seen:
            self._seen.add(key)
            fresh = Facts.of(self.root)
            if self._known is None:
                self._known = fresh
            else:
                k = self._known
                k.stacks = sorted({*k.stacks, *fresh.stacks})
                k.models |= fresh.models
                k.namespaces |= fresh.namespaces
                k.pools |= fresh.pools
                k.clusters.update(fresh.clusters)
                k.projects |= fresh.projects
                k.regions |= fresh.regions
                k._urns.clear()  # the program's resources may have changed with the config
        assert self._known is not None
        return self._known


def real_urns(doc: Mapping[str, Any], stack: str, project: str = PROJECT) -> set[str]:
    """urn:pulumi:<stack>::<project>::<type chain>::<name> of each resource, as the engine
    forms them (infra.offline.urns; also from plans written with the mock's naming)."""
    return {f"urn:pulumi:{stack}::{project}::{tail}" for tail in engine_urns(doc["resources"]).values()}


def _flag_values(argv: tuple[str, ...], *flags: str) -> Iterator[str]:
    for i, arg in enumerate(argv):
        for flag in flags:
            if arg == flag and i + 1 < len(argv):
                yield argv[i + 1]
            elif flag.startswith("--") and arg.startswith(flag + "="):
                yield arg.split("=", 1)[1]


def cloud_problems(cmd: Command, facts: Facts) -> list[str]:
    """Static checks of a skipped line: every name it uses must exist in the repository."""
    argv, word = cmd.argv, cmd.argv[0] if cmd.argv else ""
    problems: list[str] = []

    def need(value: str, allowed: set[str] | list[str], what: str) -> None:
        if "<" in value:
            return  # a documented placeholder
        if value not in allowed:
            problems.append(f"{cmd}: {what} {value!r} does not exist (known: {', '.join(sorted(allowed))})")

    if word == "pulumi":
        for stack in _flag_values(argv, "-s", "--stack"):
            need(stack, facts.stacks, "stack")
        if argv[1:3] in (("stack", "select"), ("stack", "init"), ("stack", "rm")):
            for arg in argv[3:]:
                if not arg.startswith("-") and argv[argv.index(arg) - 1] not in ("-s", "--stack",
                                                                                  "--secrets-provider"):
                    need(arg, facts.stacks, "stack")
        packs, configs = list(_flag_values(argv, "--policy-pack")), list(_flag_values(argv, "--policy-pack-config"))
        for pack in packs:
            if not (facts.root / pack).is_dir():
                problems.append(f"{cmd}: policy pack folder {pack!r} does not exist")
        if len(configs) != len(packs):
            problems.append(f"{cmd}: give each --policy-pack its --policy-pack-config "
                            "(policies/config/<tfplat:environment>.json), as CI does")
        for config in configs:
            if not (facts.root / config).is_file():
                problems.append(f"{cmd}: policy pack config {config!r} does not exist")
        for arg in argv:
            for urn in re.findall(r"urn:pulumi:[^\s'\"]+", arg):
                stack = urn.split(":")[2]
                if stack not in facts.stacks:
                    problems.append(f"{cmd}: URN of unknown stack {stack!r}")
                elif urn not in facts.urns(stack):
                    problems.append(f"{cmd}: {urn} is not a resource of stack {stack} (see build/{stack}/"
                                    "resources.json; the URN is urn:pulumi:<stack>::tfplat::<parent types>$<type>::"
                                    "<name>)")
    elif word == "kubectl":
        for ns in _flag_values(argv, "-n", "--namespace"):
            need(ns, facts.namespaces, "namespace")
        for arg in argv[1:]:
            m = re.fullmatch(r"(svc|service|services|deploy|deployment|deployments|httproute|httproutes)/(.+)", arg)
            if m:
                kind, name = m.groups()
                allowed = (facts.services() if kind.startswith(("svc", "service"))
                           else facts.routes() if kind.startswith("httproute")
                           else {names.fleet_name(x, c) for x in facts.models for c in ("blue", "green")})
                need(name, allowed, kind)
        for i, arg in enumerate(argv[:-1]):
            if arg in ("httproute", "httproutes") and not argv[i + 1].startswith("-"):
                need(argv[i + 1], facts.routes(), "httproute")
            if arg in ("gateway", "gateways") and not argv[i + 1].startswith("-"):
                need(argv[i + 1], {GATEWAY_NAME}, "gateway")
        for selector in _flag_values(argv, "-l", "--selector"):
            for part in selector.split(","):
                key, _, value = part.partition("=")
                if key == names.LABEL_POOL:
                    need(value, facts.pools, "node pool")
                elif key == names.LABEL_MODEL:
                    need(value, facts.models, "model")
    elif word == "curl":
        for arg in argv:
            for model, rest in re.findall(r"/v1/models/([^/:?\s]+)((?:/versions/[^/:?\s]+)?)", arg):
                need(model, facts.models, "model")
                if rest and not re.fullmatch(r"/versions/[1-9][0-9]*", rest):
                    problems.append(f"{cmd}: {rest!r} is not /versions/<positive integer>")
    elif word == "gcloud":
        if argv[1:4] == ("container", "clusters", "get-credentials"):
            need(argv[4], set(facts.clusters), "cluster")
        if argv[1:3] == ("container", "node-pools"):
            for name in _flag_values(argv, "--cluster"):
                need(name, set(facts.clusters), "cluster")
        for project in _flag_values(argv, "--project"):
            need(project, facts.projects, "GCP project")
    elif word == "aws":
        for name in _flag_values(argv, "--name"):
            if argv[1:3] == ("eks", "update-kubeconfig"):
                need(name, set(facts.clusters), "cluster")
        for region in _flag_values(argv, "--region"):
            need(region, facts.regions, "region")
    return problems


