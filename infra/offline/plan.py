"""The offline plan: the real program under the mock engine, rendered and validated."""

from __future__ import annotations

from dataclasses import dataclass
import json
import os
from pathlib import Path
import time
from typing import Any

from infra import bounded_yaml
from infra.config.capacity import check_stack_capacity
from infra.config.loader import load, stack_file
from infra.config.yamlio import read_yaml
from infra.engines.crds import NO_CRD, CrdCatalog
from infra.engines.scan import ScanReport
from infra.engines.schema import Invalid, is_builtin, validate_builtin
from infra.offline import charts, engine, provider_inputs, render
from infra.offline.rulecheck import RuleCheck
from infra.plan.monitoring.latency import objective_warning
from infra.plan.stack import StackPlan
from infra.rules.images import VersionPinError


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


class _Clock:
    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = now - self._last
        self._last = now


class ScanFindingsError(Exception):
    """checkov failed checks on objects the stack deploys, neither fixed nor waived."""

    def __init__(self, report: ScanReport) -> None:
        self.report = report
        super().__init__("\n".join(f.render() for f in report.findings))


@dataclass(frozen=True)
class PlanOutcome:
    stack: str
    plan: StackPlan
    result: engine.RunResult
    files: dict[str, str]
    summary: str
    notes: tuple[str, ...]
    charts: charts.StackCharts
    scan: ScanReport | None
    timings: dict[str, float]  # seconds per phase (bench/plan_bench.py prints them)


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


def run_offline(root: Path, stack: str, *, project: str | None = None) -> tuple[StackPlan, engine.RunResult]:
    """Load (raises ConfigError), then run the program under mocks: (the plan the program
    made from the config the engine passed, the run). Planned once: by the program."""
    load(root, stack)  # the file's mistakes as ConfigError, before the engine would log them
    values, secret = engine_config(root, stack)
    plans: list[StackPlan] = []

    def program() -> None:
        from infra.program import main

        plans.append(main())

    try:
        result = engine.run(program, project=project or project_name(root), stack=stack, config=values,
                            secret_keys=secret)
    except engine.ProgramFailedError as err:
        # A mistake in images/versions.yaml surfaces while the program plans (load() above
        # judged models and stacks): the CLI reports it as the config error it is (exit 2).
        if isinstance(err.cause, (bounded_yaml.YamlFileError, VersionPinError)):
            raise err.cause from None
        raise
    return plans[0], result



def check_admission_cel(objects: dict[str, dict[str, Any]]) -> list[Invalid]:
    """Every CEL expression of every ValidatingAdmissionPolicy compiles (the API server would
    only warn in the policy's status, and refuse every request it matches)."""
    from infra.engines.admission import compile_problems

    return [Invalid(where, "", problem) for where, obj in sorted(objects.items())
            if obj["kind"] == "ValidatingAdmissionPolicy" for problem in compile_problems(obj)]


def check_objects(objects: list[dict[str, Any]], version: str, catalog: CrdCatalog | None = None, *,
                  folder: str = "manifests") -> list[Invalid]:
    """Built-in kinds against Kubernetes `version`; custom resources against `catalog` (by
    default the pinned charts' CRDs and the Gateway API CRDs, infra.offline.charts.
    default_catalog); every PrometheusRule with promtool; every ValidatingAdmissionPolicy's CEL
    compiles."""
    problems, rules = start_checks(objects, version, catalog, folder=folder)
    return problems + rules.problems()


def start_checks(objects: list[dict[str, Any]], version: str, catalog: CrdCatalog | None = None, *,
                 folder: str = "manifests") -> tuple[list[Invalid], RuleCheck]:
    """check_objects with promtool still running: (the schema and CEL problems, the rule check,
    whose problems() waits for promtool and comes after them)."""
    builtin = {f"{folder}/{render.manifest_path(o)}": o for o in objects if is_builtin(o["apiVersion"])}
    custom = {f"{folder}/{render.manifest_path(o)}": o for o in objects if not is_builtin(o["apiVersion"])}
    rules = RuleCheck(custom.values(), folder=folder)  # promtool check rules, on the other core from now
    try:
        problems = validate_builtin(builtin, version)
        problems += check_admission_cel(builtin)
        if custom:
            from infra.offline.crd_validate import validate_custom

            problems += validate_custom(custom, catalog if catalog is not None else charts.default_catalog())
    except BaseException:
        rules.close()
        raise
    return problems, rules


def _gateway_api_pin(plan: StackPlan) -> str | None:
    """The Gateway API version the stack installs (AWS: with the LBC); None where the cloud does (GKE)."""
    if plan.stack.cloud != "aws":
        return None
    from infra.plan.aws_lbc import controller_pins

    return controller_pins().gateway_api_crds.version


def render_stack_charts(plan: StackPlan, records: list[engine.Record]) -> charts.StackCharts:
    """Every Helm release the program registered, rendered with real helm as the offline
    plan renders it (build/<stack>/charts/): the plan's Kubernetes version and CRDs."""
    return charts.render_charts(records, plan.stack.cluster.version, gateway_api_pin=_gateway_api_pin(plan))


def chart_files(stack_charts: charts.StackCharts) -> dict[str, list[dict[str, Any]]]:
    """{folder under build/<stack>/: objects}: manifests/ is tfplat's, charts/<release>/ each chart's."""
    return {f"charts/{r.release.name}": list(r.objects) for r in stack_charts.rendered}


def offline_plan(root: Path, stack: str, out_dir: Path, *, scan: bool = False, manifests: bool = True) -> PlanOutcome:
    """Plan `stack` into out_dir/<stack>/: run the program, render its charts, validate every
    object, write the files, check policies and (scan=True) scan everything with checkov.
    manifests=False writes resources.json alone (what `tfplat diff` reads): every object is
    still rendered and validated, none is written out as YAML."""
    if scan and not manifests:
        raise ValueError("the scan reads the manifests: plan them to scan them")
    with engine.young_collections_only():  # the validation and writing only add to the heap too
        return _offline_plan(root, stack, out_dir, scan=scan, manifests=manifests)


def _offline_plan(root: Path, stack: str, out_dir: Path, *, scan: bool, manifests: bool) -> PlanOutcome:
    clock = _Clock()
    project = project_name(root)
    plan, result = run_offline(root, stack, project=project)
    clock.lap("program")
    version = plan.stack.cluster.version
    stack_charts = render_stack_charts(plan, result.records)
    clock.lap("charts")
    if stack_charts.unrendered and os.environ.get("TFPLAT_REQUIRE_CHARTS") == "1":
        raise charts.ChartsUnavailableError(stack_charts.unrendered)
    objects = render.kubernetes_objects(result.records)
    problems, rules = start_checks(objects, version, stack_charts.catalog)
    try:
        later = provider_inputs.check_records(result.records)  # the providers' own schemas
        clock.lap("validate")
        folders = chart_files(stack_charts)
        for folder, chart_objects in folders.items():
            later += check_objects(chart_objects, version, stack_charts.catalog, folder=folder)
        clock.lap("validate-charts")
        document = render.resources_document(stack, project, result)
        files = render.write_build(out_dir, stack, document, objects if manifests else (),
                                   folders if manifests else None)
        clock.lap("write")
        problems += rules.problems()  # promtool ran while the rest was validated and written
    finally:
        rules.close()
    problems += later
    clock.lap("rules")
    unvalidated: list[str] = []
    if stack_charts.incomplete:
        # Without every chart (or the Gateway API CRDs) some kinds have no CRD to check against:
        # said loudly below rather than reported as unknown kinds.
        unvalidated = sorted({f"{p.where} ({p.message})" for p in problems if p.message.startswith(NO_CRD)})
        problems = [p for p in problems if not p.message.startswith(NO_CRD)]
    if problems:
        raise InvalidPlanError(problems)
    from policies.tfplat_policies import check_records, check_stack_file, exemptions, stack_waivers

    records = document["resources"]
    waivers = stack_waivers(engine_config(root, stack)[0])
    violations = check_records(records, environment=plan.stack.environment, waivers=waivers)
    violations += check_stack_file(root, stack)
    blocking = [v for v in violations if v.enforcement == "mandatory"]
    if blocking:
        raise PolicyViolationError(blocking)
    clock.lap("policies")
    report = None
    if scan:
        from infra.engines.scan import scan as run_scan

        report = run_scan({rel: text for rel, text in files.items() if rel.endswith(".yaml")})
        clock.lap("scan")
        if report.findings:
            raise ScanFindingsError(report)
    notes = tuple(f"UNRENDERED (no chart source): {u}" for u in stack_charts.unrendered)
    notes += tuple(f"NOT VALIDATED (no CRD): {u}" for u in unvalidated)
    notes += tuple(sorted({f"image {f.image.ref} is pinned by tag only; run `make pin-images` to add its digest"
                           for f in plan.fleets if not f.image.pinned_by_digest}))
    notes += tuple(stack_charts.notes)
    notes += tuple(f"capacity: {f.message}\n    {f.hint}" for f in check_stack_capacity(
        plan.stack, {f.name: f.model for f in plan.fleets})
                   if not f.error)
    notes += tuple(f"policy (advisory at {plan.stack.environment}): {v.render()}" for v in violations)
    notes += tuple(f"policy exemption: {e}" for e in exemptions(records))
    notes += tuple(f"policy waiver: {policy} is waived by {stack}'s config: {why}" for policy, why in waivers.items())
    notes += tuple(f"image admission: {ref} may run without a digest: {why}"
                   for ref, why in plan.admission.tag_only.items())
    notes += tuple(w for f in plan.fleets if (w := objective_warning(f.name, f.model.serving.latency_objective_ms)))
    if report is not None:
        notes += tuple(f"scan waiver: {w.render()}" for w in report.waivers)
    return PlanOutcome(stack=stack, plan=plan, result=result, files=files,
                       summary=render.summary(stack, result, plan.fleets), notes=notes, charts=stack_charts,
                       scan=report, timings=clock.laps)
