"""Checks of .github/workflows/*.yml, as functions that return problems (empty = fine).

Kept apart from the tests so that the tests can also feed them broken workflows and show
that each check fires.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
import re
import shlex
import tomllib
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / ".github" / "workflows"

Workflow = dict[str, Any]

SHA_PIN = re.compile(r"^[\w.-]+/[\w.-]+(?:/[\w./-]+)?@[0-9a-f]{40}$")
VERSION_PIN = re.compile(r"^[\w.-]+/[\w.-]+(?:/[\w./-]+)?@v\d+\.\d+\.\d+$")
#: The inputs of pulumi/actions v6 (its action.yml); a misspelt input is silently ignored by
#: GitHub, so the test refuses names outside this list.
PULUMI_ACTION_INPUTS = frozenset({
    "command", "stack-name", "pulumi-version", "pulumi-version-file", "work-dir", "comment-on-pr",
    "comment-on-pr-number", "comment-on-summary", "github-token", "cloud-url", "secrets-provider", "parallel",
    "message", "config-map", "expect-no-changes", "diff", "replace", "target", "target-dependents",
    "policyPacks", "policyPackConfigs", "refresh", "upsert", "remove", "edit-pr-comment", "color",
    "exclude-protected", "plan", "suppress-outputs", "suppress-progress", "always-include-summary",
    "log-verbosity", "log-flow", "debug", "omit-stdout", "continue-on-error",
})
#: Permissions a job may ask to write, and why.
WRITE_ALLOWED = {"id-token": "OIDC login to a cloud", "pull-requests": "PR comments"}
#: Writes one job of one workflow may have besides those, and why.
WRITE_ALLOWED_IN_JOB = {("release.yml", "release", "contents"): "pushes each release step's stack-file commit"}
OUTPUT_DIRS = frozenset({"diff", "build"})  # written by the scripts themselves


def load(path: Path) -> Workflow:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path.name}: not a mapping")
    # YAML 1.1 (PyYAML) reads the key `on` as True.
    if True in data:
        data["on"] = data.pop(True)
    return data


def load_all(folder: Path = WORKFLOWS) -> dict[str, Workflow]:
    return {p.name: load(p) for p in sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")])}


def triggers(wf: Workflow) -> dict[str, Any]:
    on = wf.get("on")
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return dict.fromkeys(on)
    return dict(on or {})


def jobs(wf: Workflow) -> dict[str, dict[str, Any]]:
    return dict(wf.get("jobs") or {})


def steps(wf: Workflow) -> Iterator[tuple[str, dict[str, Any]]]:
    for job_id, job in jobs(wf).items():
        for step in job.get("steps") or []:
            yield job_id, step


def uses(wf: Workflow) -> Iterator[tuple[str, str]]:
    """(where, ref) of every action and reusable workflow a workflow uses."""
    for job_id, job in jobs(wf).items():
        if "uses" in job:
            yield f"job {job_id}", str(job["uses"])
    for job_id, step in steps(wf):
        if "uses" in step:
            yield f"job {job_id} step {step.get('name', step['uses'])}", str(step["uses"])


# --------------------------------------------------------------------------- checks


def shape_problems(name: str, wf: Workflow) -> list[str]:
    problems = [f"{name}: missing {key!r}" for key in ("name", "on", "jobs") if not wf.get(key)]
    for job_id, job in jobs(wf).items():
        if "uses" in job:
            continue  # a reusable workflow call has no runs-on/steps
        if "runs-on" not in job:
            problems.append(f"{name}: job {job_id} has no runs-on")
        if not job.get("steps"):
            problems.append(f"{name}: job {job_id} has no steps")
        for i, step in enumerate(job.get("steps") or []):
            if ("uses" in step) == ("run" in step):
                problems.append(f"{name}: job {job_id} step {i} needs exactly one of uses/run")
    return problems


def permission_problems(name: str, wf: Workflow) -> list[str]:
    """Permissions declared at the top (ideally {}) and per job, minimal, no blanket grants."""
    problems = []
    if "permissions" not in wf:
        problems.append(f"{name}: no top-level permissions (use `permissions: {{}}` and grant per job)")
    elif wf["permissions"] not in ({}, None) and not isinstance(wf["permissions"], dict):
        problems.append(f"{name}: top-level permissions {wf['permissions']!r}: grant scopes per job instead")
    elif isinstance(wf["permissions"], dict) and any(v != "read" for v in wf["permissions"].values()):
        problems.append(f"{name}: top-level permissions grant writes: {wf['permissions']}")
    for job_id, job in jobs(wf).items():
        perms = job.get("permissions")
        if perms is None:
            problems.append(f"{name}: job {job_id} declares no permissions")
            continue
        if not isinstance(perms, dict):
            problems.append(f"{name}: job {job_id} permissions {perms!r}: list the scopes it needs")
            continue
        for scope, level in perms.items():
            if level == "write" and scope not in WRITE_ALLOWED and (name, job_id, scope) not in WRITE_ALLOWED_IN_JOB:
                problems.append(f"{name}: job {job_id} writes {scope}, allowed only: {sorted(WRITE_ALLOWED)}")
        job_uses = [str(s.get("uses", "")) for s in job.get("steps") or []] + [str(job.get("uses", ""))]
        oidc = any(u.startswith(("google-github-actions/auth@", "aws-actions/configure-aws-credentials@"))
                   for u in job_uses) or job.get("uses", "").startswith("./")
        if perms.get("id-token") == "write" and not oidc:
            problems.append(f"{name}: job {job_id} asks for id-token: write but logs in to no cloud")
        if oidc and "uses" not in job and perms.get("id-token") != "write":
            problems.append(f"{name}: job {job_id} logs in with OIDC but lacks id-token: write")
    return problems


def pin_problems(name: str, wf: Workflow, text: str) -> list[str]:
    """Every third-party action pinned to a full commit SHA (with its version in a comment) or
    an exact vX.Y.Z tag; local ones (./) exist."""
    problems = []
    for where, ref in uses(wf):
        if ref.startswith("./"):
            if not (REPO / ref).exists():
                problems.append(f"{name}: {where}: {ref} does not exist")
            continue
        if ref.startswith("docker://"):
            if "@sha256:" not in ref:
                problems.append(f"{name}: {where}: {ref} is not pinned by digest")
            continue
        if SHA_PIN.match(ref):
            line = next((ln for ln in text.splitlines() if ref in ln), "")
            if not re.search(r"#\s*v\d+\.\d+\.\d+", line):
                problems.append(f"{name}: {where}: {ref} needs its version as a comment (# vX.Y.Z)")
        elif not VERSION_PIN.match(ref):
            problems.append(f"{name}: {where}: {ref} is not pinned (use a full commit SHA or an exact vX.Y.Z)")
    return problems


def consistent_pin_problems(all_wf: Mapping[str, Workflow]) -> list[str]:
    seen: dict[str, set[str]] = {}
    for wf in all_wf.values():
        for _, ref in uses(wf):
            if "@" in ref and not ref.startswith("./"):
                action, version = ref.split("@", 1)
                seen.setdefault(action, set()).add(version)
    return [f"{action} is pinned to different refs: {sorted(v)}" for action, v in sorted(seen.items()) if len(v) > 1]


def make_targets(repo: Path = REPO) -> set[str]:
    """Targets of the Makefile and the files it includes."""
    files = [repo / "Makefile"]
    text = files[0].read_text(encoding="utf-8")
    files += [repo / inc for inc in re.findall(r"^-?include\s+(\S+)", text, re.M) if (repo / inc).exists()]
    targets: set[str] = set()
    for f in files:
        for line in f.read_text(encoding="utf-8").splitlines():
            m = re.match(r"^([A-Za-z0-9_.\-/$()]+(?:\s+[A-Za-z0-9_.\-/$()]+)*)\s*:(?![=])", line)
            if m and not line.startswith(("\t", "#")):
                targets |= {t for t in m.group(1).split() if not t.startswith((".", "$"))}
    return targets


def venv_tools(repo: Path = REPO) -> set[str]:
    """What `make setup` puts in .venv/bin: python, pip, the project's scripts, its tools."""
    project = tomllib.loads((repo / "pyproject.toml").read_text(encoding="utf-8"))
    tools = {"python", "python3", "pip", *project.get("project", {}).get("scripts", {})}
    for req in ("requirements.txt", "requirements-dev.txt"):
        for line in (repo / req).read_text(encoding="utf-8").splitlines():
            m = re.match(r"^([A-Za-z0-9_.-]+)", line.strip())
            if m and not line.startswith(("#", "-")):
                tools.add(m.group(1).lower())
    return tools


def _shell_commands(script: str) -> Iterator[list[str]]:
    """Simple commands of a run: script (split at newlines and control operators)."""
    for line in script.replace("\\\n", " ").splitlines():
        try:
            lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
            lexer.commenters = "#"
            tokens = list(lexer)
        except ValueError:
            continue
        cmd: list[str] = []
        for tok in tokens:
            if tok and all(ch in ";&|()" for ch in tok):
                if cmd:
                    yield cmd
                cmd = []
            else:
                cmd.append(tok)
        if cmd:
            yield cmd


def run_script_problems(name: str, wf: Workflow, repo: Path = REPO) -> list[str]:
    """Make targets exist; repository paths a script names exist; .venv tools are installed."""
    problems = []
    targets, tools = make_targets(repo), venv_tools(repo)
    for job_id, step in steps(wf):
        where = f"{name}: job {job_id} step {step.get('name', step.get('uses', '?'))}"
        script = str(step.get("run") or "")
        for cmd in _shell_commands(script):
            words = [w for w in cmd if not re.match(r"^[A-Z_][A-Z0-9_]*=", w)] if cmd[0] != "make" else cmd
            if not words:
                continue
            if words[0] == "make":
                for t in (w for w in words[1:] if not w.startswith("-") and "=" not in w):
                    if t not in targets:
                        problems.append(f"{where}: make target {t!r} is not in the Makefile")
            for word in words:
                if word.startswith(".venv/bin/"):
                    if word.removeprefix(".venv/bin/") not in tools:
                        problems.append(f"{where}: {word} is not installed by make setup")
                elif re.fullmatch(r"(\./)?[\w.-]+(/[\w.-]+)+/?", word) and "$" not in word:
                    first = word.removeprefix("./").split("/")[0]
                    if first not in OUTPUT_DIRS and not (repo / word).exists():
                        problems.append(f"{where}: {word} does not exist in the repository")
        script_js = str((step.get("with") or {}).get("script") or "")
        for path in re.findall(r"require\(['\"](\./[^'\"]+)['\"]\)", script_js):
            if not (repo / path).is_file():
                problems.append(f"{where}: script {path} does not exist")
        packs = (step.get("with") or {}).get("policyPacks")
        for pack in str(packs or "").split():
            if not (repo / pack).is_dir():
                problems.append(f"{where}: policy pack folder {pack} does not exist")
    return problems


def reusable_call_problems(name: str, wf: Workflow, repo: Path = REPO) -> list[str]:
    """Calls of local reusable workflows pass exactly the inputs they declare."""
    problems = []
    for job_id, job in jobs(wf).items():
        ref = str(job.get("uses", ""))
        if not ref.startswith("./"):
            continue
        called = load(repo / ref)
        declared = (triggers(called).get("workflow_call") or {}).get("inputs") or {}
        given = job.get("with") or {}
        for key in set(given) - set(declared):
            problems.append(f"{name}: job {job_id} passes {key!r}, which {ref} does not declare")
        for key, spec in declared.items():
            if spec.get("required") and key not in given:
                problems.append(f"{name}: job {job_id} omits required input {key!r} of {ref}")
    return problems


#: Runner labels of GitHub-hosted machines: outside every VPC, so they reach only public and
#: GKE DNS endpoints (docs/runbooks/cluster-access.md).
GITHUB_HOSTED = re.compile(r"^(ubuntu|windows|macos)-")


@dataclass(frozen=True)
class StackFacts:
    cloud: str
    region: str
    environment: str  # tfplat:environment: picks policies/config/<environment>.json
    endpoint_access: str = "public"  # tfplat:cluster.endpoint.access (public when unset outside prod)

    @property
    def policy_config(self) -> str:
        return f"policies/config/{self.environment}.json"


def stack_facts(stacks_dir: Path) -> dict[str, StackFacts]:
    """{stack: facts} read from stacks/Pulumi.<stack>.yaml."""
    out = {}
    for path in sorted(stacks_dir.glob("Pulumi.*.yaml")):
        config = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("config") or {}
        endpoint = (config.get("tfplat:cluster") or {}).get("endpoint") or {}
        legacy = endpoint.get("public")
        access = endpoint.get("access") or ("private" if legacy is False else "public")
        out[path.name[len("Pulumi."):-len(".yaml")]] = StackFacts(
            cloud=str(config.get("tfplat:cloud")), region=str(config.get("tfplat:region")),
            environment=str(config.get("tfplat:environment")), endpoint_access=str(access))
    return out


def _entry_problems(where: str, stack: str, entry: Mapping[str, Any], facts: StackFacts,
                    repo: Path) -> list[str]:
    got = (entry.get("cloud"), entry.get("region"), entry.get("policy-config"))
    want = (facts.cloud, facts.region, facts.policy_config)
    problems = []
    if got != want:
        problems.append(f"{where}: {stack} has cloud/region/policy-config {got}, the stack file says {want}")
    if not (repo / facts.policy_config).is_file():
        problems.append(f"{where}: {stack}: {facts.policy_config} does not exist")
    runner = str(entry.get("runner", ""))
    if not runner:
        problems.append(f"{where}: {stack} names no runner")
    elif facts.endpoint_access == "private" and GITHUB_HOSTED.match(runner):
        problems.append(f"{where}: {stack} has a private API endpoint, which the GitHub-hosted runner {runner!r} "
                        "cannot reach: use the label of a self-hosted runner in its VPC "
                        "(docs/runbooks/cluster-access.md)")
    return problems


def matrix_problems(pr: Workflow, deploy: Workflow, stacks: Mapping[str, StackFacts],
                    repo: Path = REPO) -> list[str]:
    """Every stack is planned, previewed and deployed; clouds, regions and policy configs
    agree with the stack files; the deploy order holds."""
    problems = []
    wanted = set(stacks)
    plan_matrix = set(jobs(pr).get("plan", {}).get("strategy", {}).get("matrix", {}).get("stack") or [])
    if plan_matrix != wanted:
        problems.append(f"pr.yml plan matrix {sorted(plan_matrix)} != stacks/ {sorted(wanted)}")
    include = jobs(pr).get("preview", {}).get("strategy", {}).get("matrix", {}).get("include") or []
    previewed = {str(e.get("stack")): e for e in include}
    if set(previewed) != wanted:
        problems.append(f"pr.yml preview matrix {sorted(previewed)} != stacks/ {sorted(wanted)}")
    for stack, entry in previewed.items():
        if stack in stacks:
            problems += _entry_problems("pr.yml preview", stack, entry, stacks[stack], repo)
    deployed: dict[str, str] = {}
    for job_id, job in jobs(deploy).items():
        args = job.get("with") or {}
        if "stack" not in args:
            continue
        stack = str(args["stack"])
        deployed[stack] = job_id
        if stack in stacks:
            problems += _entry_problems(f"deploy.yml {job_id}", stack, args, stacks[stack], repo)
        concurrency = job.get("concurrency") or {}
        if concurrency.get("group") != f"pulumi-{stack}" or concurrency.get("cancel-in-progress") is not False:
            problems.append(f"deploy.yml {job_id}: needs its own concurrency group per stack "
                            "(group: pulumi-<stack>, cancel-in-progress: false)")
    if set(deployed) != wanted:
        problems.append(f"deploy.yml deploys {sorted(deployed)} != stacks/ {sorted(wanted)}")
    problems += order_problems(deploy, deployed)
    return problems


def _ancestors(deploy: Workflow, job_id: str) -> set[str]:
    out: set[str] = set()
    todo = [job_id]
    while todo:
        needs = jobs(deploy).get(todo.pop(), {}).get("needs") or []
        for n in [needs] if isinstance(needs, str) else needs:
            if n not in out:
                out.add(n)
                todo.append(n)
    return out


def order_problems(deploy: Workflow, deployed: Mapping[str, str]) -> list[str]:
    """dev before staging before every prod stack; prod stacks wait for `production`."""
    problems = []
    dev, staging = deployed.get("dev"), deployed.get("staging")
    for stack, job_id in deployed.items():
        before = _ancestors(deploy, job_id)
        environment = (jobs(deploy)[job_id].get("with") or {}).get("environment")
        if stack == "staging" and dev and dev not in before:
            problems.append("deploy.yml: staging does not wait for dev")
        if stack.startswith("prod"):
            for earlier in (dev, staging):
                if earlier and earlier not in before:
                    problems.append(f"deploy.yml: {stack} does not wait for {earlier}")
            if environment != "production":
                problems.append(f"deploy.yml: {stack} is not behind the production environment")
    return problems


def all_problems(folder: Path = WORKFLOWS, repo: Path = REPO) -> list[str]:
    """Every check over every workflow file of `folder` (the suite's one-call entry point)."""
    all_wf = load_all(folder)
    problems: list[str] = []
    for name, wf in all_wf.items():
        text = (folder / name).read_text(encoding="utf-8")
        problems += shape_problems(name, wf) + permission_problems(name, wf) + pin_problems(name, wf, text)
        problems += run_script_problems(name, wf, repo) + reusable_call_problems(name, wf, repo)
    problems += consistent_pin_problems(all_wf)
    if "pr.yml" in all_wf and "deploy.yml" in all_wf:
        problems += matrix_problems(all_wf["pr.yml"], all_wf["deploy.yml"], stack_facts(repo / "stacks"))
    else:
        problems.append("pr.yml and deploy.yml are both required")
    return problems
