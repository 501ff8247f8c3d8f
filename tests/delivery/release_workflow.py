"""Checks of .github/workflows/release.yml (problems as strings, like workflows.py): it
releases through `tfplat release`, shares the deploy workflow's lock per stack, puts
production behind the same environment as deploy.yml, never splices inputs into scripts."""

from __future__ import annotations

import re

from tests.delivery.workflows import Workflow, jobs, steps, triggers

JOB = "release"
GROUP = "pulumi-${{ inputs.stack }}"
ENVIRONMENT = "${{ startsWith(inputs.stack, 'prod') && 'production' || inputs.stack }}"


def runner_of(expression: str, stack: str) -> str | None:
    """What a runs-on expression of the form `${{ inputs.stack == 'a' && 'x' || ... || 'default' }}`
    (or a plain label) gives for a stack; None for another shape."""
    body = re.fullmatch(r"\$\{\{\s*(.*?)\s*\}\}", expression)
    if body is None:
        return expression
    *cases, default = [p.strip() for p in body.group(1).split("||")]
    for case in cases:
        m = re.fullmatch(r"inputs\.stack == '([^']+)' && '([^']+)'", case)
        if m is None:
            return None
        if m.group(1) == stack:
            return m.group(2)
    m = re.fullmatch(r"'([^']+)'", default)
    return m.group(1) if m else None


def environment_of(stack: str) -> str:
    """What the job's environment expression gives for a stack."""
    return "production" if stack.startswith("prod") else stack


def release_problems(wf: Workflow, deploy: Workflow, stacks: list[str]) -> list[str]:
    problems = []
    on = triggers(wf)
    if set(on) != {"workflow_dispatch"}:
        problems.append(f"release.yml: triggers {sorted(on)}, want only workflow_dispatch")
    inputs = (on.get("workflow_dispatch") or {}).get("inputs") or {}
    for name in ("model", "version", "stack", "action"):
        if name not in inputs:
            problems.append(f"release.yml: no input {name!r}")
    stack_input = inputs.get("stack") or {}
    if stack_input.get("type") != "choice" or sorted(stack_input.get("options") or []) != sorted(stacks):
        problems.append(f"release.yml: input stack must be a choice of the stacks {sorted(stacks)}")
    if sorted((inputs.get("action") or {}).get("options") or []) != ["abort", "resume", "start"]:
        problems.append("release.yml: input action must offer start, resume and abort")
    concurrency = wf.get("concurrency") or {}
    if concurrency.get("group") != GROUP or concurrency.get("cancel-in-progress") is not False:
        problems.append(f"release.yml: concurrency must be the deploy lock of the stack ({GROUP}, "
                        "cancel-in-progress: false)")
    job = jobs(wf).get(JOB) or {}
    if job.get("environment") != ENVIRONMENT:
        problems.append(f"release.yml: job {JOB} must run in environment {ENVIRONMENT}")
    for deploy_job in jobs(deploy).values():
        args = deploy_job.get("with") or {}
        if "stack" in args and args.get("environment") != environment_of(str(args["stack"])):
            problems.append(f"release.yml: stack {args['stack']} would release in environment "
                            f"{environment_of(str(args['stack']))!r}, deploy.yml deploys it in "
                            f"{args.get('environment')!r}")
        runner = runner_of(str(job.get("runs-on", "")), str(args.get("stack")))
        if "stack" in args and runner != args.get("runner"):
            problems.append(f"release.yml: stack {args['stack']} would release on runner {runner!r}, deploy.yml "
                            f"deploys it on {args.get('runner')!r} (where its API server is reachable)")
    runs = [(step.get("name", "?"), str(step.get("run") or "")) for _, step in steps(wf)]
    for name, script in runs:
        if re.search(r"\$\{\{\s*(inputs|github\.event)\.", script):
            problems.append(f"release.yml: step {name!r} splices an input into its script (pass it through env:)")
    release = [str(s.get("run")) for _, s in steps(wf) if ".venv/bin/tfplat release" in str(s.get("run", ""))
               and "cancelled()" not in str(s.get("if", ""))]
    if not release or "--push" not in release[0]:
        problems.append("release.yml: no step runs `.venv/bin/tfplat release ... --push`")
    cancelled = [s for _, s in steps(wf) if "cancelled()" in str(s.get("if", ""))]
    if not any("--abort" in str(s.get("run", "")) for s in cancelled):
        problems.append("release.yml: a cancelled run must roll back (an `if: cancelled()` step with --abort)")
    if not any("GITHUB_STEP_SUMMARY" in s for _, s in runs):
        problems.append("release.yml: the report must become the job summary ($GITHUB_STEP_SUMMARY)")
    return problems

