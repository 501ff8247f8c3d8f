"""Release policy mistakes as the CLI reports every config mistake: file, line, field, value, fix.

The planner says what is wrong (infra.plan.release_policy.policy_problems, with the layer
that set the value); this module says where it is written, and has promtool parse each
custom gate's query (the same parser that checks the alert rules). `tfplat validate`,
`tfplat plan` and `tfplat release` raise these as one ConfigError (exit 2).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
import shutil
import subprocess
import tempfile

import yaml

from infra.config.errors import ConfigIssue, format_path
from infra.config.loader import LoadedConfig
from infra.config.yamlio import YamlDoc, read_yaml
from infra.plan.monitoring import queries as q
from infra.plan.release_gates import custom_gate_problems
from infra.plan.release_policy import Problem, policy_problems


def _where(loaded: LoadedConfig, model: str, problem: Problem) -> tuple[str, tuple[str | int, ...]]:
    if problem.origin == "model":
        return loaded.models[model].file, ("release", *problem.path)
    if problem.origin == "stack-model":
        return loaded.stack.file, ("config", "tfplat:models", model, "release", *problem.path)
    if problem.origin == "stack":
        return loaded.stack.file, ("config", "tfplat:release", *problem.path)
    # A tier default that does not fit this stack (e.g. its canary step limit): say so at
    # the stack's release settings, where an override would go.
    return loaded.stack.file, ("config", "tfplat:release", *problem.path)


def release_issues(root: Path, loaded: LoadedConfig) -> list[ConfigIssue]:
    """Every release policy mistake of the stack's models (and every model's custom gates)."""
    issues: list[ConfigIssue] = []
    docs: dict[str, YamlDoc | None] = {}

    def line(file: str, path: tuple[str | int, ...]) -> int | None:
        if file not in docs:
            docs[file] = read_yaml(root / file, file)[0]
        doc = docs[file]
        return doc.line_of(path) if doc is not None else None

    problems: list[tuple[str, Problem]] = []
    for name in sorted(loaded.stack.models):
        if name in loaded.models:
            problems += [(name, p) for p in policy_problems(loaded.stack, loaded.models[name])]
    for name, spec in sorted(loaded.models.items()):
        if name not in loaded.stack.models:
            problems += [(name, Problem(origin="model", path=path, message=msg, hint=hint, value=value))
                         for path, msg, hint, value in custom_gate_problems(spec.release)]
        for gate in spec.release.custom_gates.values():
            error = promql_error(q.custom_gate(gate.query, color="green", model=name, namespace="serving",
                                               window="2m"))
            if error:
                problems.append((name, Problem(origin="model", path=("gates", "custom", gate.name, "query"),
                                               value=gate.query, message=f"is not valid PromQL: {error}",
                                               hint="fix the expression (promtool parses it as Prometheus "
                                                    "would)")))
    for model, p in problems:
        file, path = _where(loaded, model, p)
        issue = ConfigIssue(file=file, path=format_path(path), line=line(file, path), message=p.message,
                            hint=p.hint, value=p.value)
        if issue not in issues:
            issues.append(issue)
    return issues


@cache
def promql_error(expr: str) -> str | None:
    """promtool's complaint about `expr` (None: it parses, or promtool is not installed:
    then the release's preflight query finds a bad expression before anything moves)."""
    tool = shutil.which("promtool")
    if tool is None:
        return None
    with tempfile.TemporaryDirectory(prefix="tfplat-gate-") as tmp:
        path = Path(tmp) / "gate.yaml"
        path.write_text(yaml.safe_dump({"groups": [{"name": "gate", "rules": [{"record": "tfplat:gate",
                                                                               "expr": expr}]}]}, width=10000))
        proc = subprocess.run([tool, "check", "rules", str(path)], capture_output=True, text=True, check=False,
                              timeout=60)
    if proc.returncode == 0:
        return None
    text = (proc.stderr or proc.stdout).replace(str(path), "gate")
    found = [ln.strip() for ln in text.splitlines() if "parse error" in ln or "error" in ln.lower()]
    return (found[-1] if found else text.strip())[-300:]

