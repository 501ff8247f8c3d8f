"""The offline plan: the real program under the mock engine, rendered and validated."""

from __future__ import annotations

from dataclasses import dataclass
import json
from pathlib import Path
from typing import Any

from infra import bounded_yaml
from infra.config.capacity import check_stack_capacity
from infra.config.loader import load, stack_file
from infra.config.yamlio import read_yaml
from infra.offline import engine, render
from infra.offline.validate import Invalid, is_builtin, validate_builtin
from infra.plan.monitoring.latency import objective_warning
from infra.plan.stack import StackPlan, plan_stack


class PolicyViolationError(Exception):
    """Mandatory policy violations at the stack's tier (policies/, same code as CrossGuard)."""

    def __init__(self, violations: list[Any]) -> None:
        self.violations = violations
        super().__init__("\n".join(v.render() for v in violations))


class InvalidPlanError(Exception):
    """Rendered objects failed schema validation (a platform bug or an unsupported setting)."""

    def __init__(self, problems: list[Invalid]) -> None:
        self.problems = problems
        super().__init__("\n".join(p.render() for p in problems))


@dataclass(frozen=True)
class PlanOutcome:
    stack: str
    plan: StackPlan
    result: engine.RunResult
    files: dict[str, str]
    summary: str
    notes: tuple[str, ...]


def project_name(root: Path) -> str:
    data = bounded_yaml.load_file(root / "Pulumi.yaml", str(root / "Pulumi.yaml"))
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise bounded_yaml.YamlFileError(str(root / "Pulumi.yaml"), None, "the project file has no name",
                                         "set `name: tfplat` (the Pulumi project name) at its top")
    return str(data["name"])


def engine_config(root: Path, stack: str) -> tuple[dict[str, str], frozenset[str]]:
    """The stack file's config as the Pulumi CLI would hand it to the program."""
    doc, _ = read_yaml(stack_file(root, stack), "")
    assert doc is not None, "load() already reported unreadable stack files"
    values = {k: v if isinstance(v, str) else json.dumps(v, sort_keys=True)
              for k, v in doc.data["config"].items()}
    secret = doc.secret_config_keys()
    return values, secret


def _program() -> None:
    from infra.program import main

    main()


def run_offline(root: Path, stack: str, *, project: str | None = None) -> tuple[StackPlan, engine.RunResult]:
    """Load (raises ConfigError), plan, and run the program under mocks."""
    plan = plan_stack(load(root, stack))
    values, secret = engine_config(root, stack)
    result = engine.run(_program, project=project or project_name(root), stack=stack, config=values,
                        secret_keys=secret)
    return plan, result


def check_objects(objects: list[dict[str, Any]], version: str) -> list[Invalid]:
    builtin = {f"manifests/{render.manifest_path(o)}": o for o in objects if is_builtin(o["apiVersion"])}
    custom = {f"manifests/{render.manifest_path(o)}": o for o in objects if not is_builtin(o["apiVersion"])}
    problems = validate_builtin(builtin, version)
    if custom:
        from infra.offline.crd_validate import validate_custom
        from infra.offline.rulecheck import check_rule_objects

        problems += validate_custom(custom)
        problems += check_rule_objects(custom.values())  # promtool check rules on every PrometheusRule
    return problems


def offline_plan(root: Path, stack: str, out_dir: Path) -> PlanOutcome:
    project = project_name(root)
    plan, result = run_offline(root, stack, project=project)
    objects = render.kubernetes_objects(result.records)
    problems = check_objects(objects, plan.stack.cluster.version)
    document = render.resources_document(stack, project, result)
    files = render.write_build(out_dir, stack, document, objects)
    if problems:
        raise InvalidPlanError(problems)
    from policies.tfplat_policies import check_records, check_stack_file, exemptions

    records = document["resources"]
    violations = check_records(records, environment=plan.stack.environment) + check_stack_file(root, stack)
    blocking = [v for v in violations if v.enforcement == "mandatory"]
    if blocking:
        raise PolicyViolationError(blocking)
    notes = tuple(sorted({f"image {f.image.ref} is pinned by tag only; run `make pin-images` to add its digest"
                          for f in plan.fleets if not f.image.pinned_by_digest}))
    notes += tuple(f"capacity: {f.message}\n    {f.hint}" for f in check_stack_capacity(
        plan.stack, {f.name: f.model for f in plan.fleets})
                   if not f.error)
    from infra.offline.crd_validate import awaiting_chart_crds

    notes += tuple(f"NOT VALIDATED (the chart's CRD is not rendered yet): {w}" for w in awaiting_chart_crds(
        {f"manifests/{render.manifest_path(o)}": o for o in objects}))
    notes += tuple(f"policy (advisory at {plan.stack.environment}): {v.render()}" for v in violations)
    notes += tuple(f"policy exemption: {e}" for e in exemptions(records))
    notes += tuple(w for f in plan.fleets if (w := objective_warning(f.name, f.model.serving.latency_objective_ms)))
    return PlanOutcome(stack=stack, plan=plan, result=result, files=files,
                       summary=render.summary(stack, result, plan.fleets), notes=notes)
