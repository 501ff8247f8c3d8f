"""The rendered alert rules and dashboard queries against a real Prometheus scraping
exporters that behave like the pinned ones (tests/harness).

promtool unit tests (test_alert_rules.py) prove the rules' logic on series we write; this
proves the rules meet reality: for every alert a failure scenario where it must fire
within its stated time, and healthy scenarios (steady, a fresh rollout, idle models) where
no alert may fire; every dashboard panel must return data in the healthy scenario.

All scenarios run at once, one Prometheus each, on the harness clock (1 s of wall time =
30 s of production time, timescale.py). Times are polled, never slept; budgets are
generous so a loaded 2-core machine does not flake. Figures (time to fire, false fires)
go to build/harness/alert-figures.md.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
import time

import pytest

from infra.plan.monitoring import metrics as m
from infra.plan.monitoring.plan import MonitoringPlan
from infra.plan.monitoring.scope import FleetScope
from infra.plan.stack import StackPlan
from tests.conftest import REPO
from tests.harness import ksm, timescale
from tests.harness.harness import Harness, rig, scrape_gaps
from tests.monitoring.live_scenarios import ONSET, Expected, Scenario, scenarios, steady

# Production seconds a scheduling hiccup may add before an alert shows (10 wall seconds).
SLACK_S = 300.0
FIGURES = REPO / "build" / "harness" / "alert-figures.md"


@dataclass
class Outcome:
    scenario: Scenario
    first_fired: dict[tuple[str, tuple[tuple[str, str], ...]], float] = field(default_factory=dict)  # sim s
    panels_without_data: list[str] = field(default_factory=list)
    old_rules: dict[str, bool] = field(default_factory=dict)  # old expression -> returned data
    error: str = ""
    # Targets the loaded machine left unscraped for a while: a failed scrape marks the
    # target's series stale, which restarts a pending alert's `for` (said when one is late).
    scrape_gaps: list[str] = field(default_factory=list)


def _stack() -> tuple[StackPlan, MonitoringPlan, ksm.KsmConfig]:
    return rig(REPO, "dev")


def _key(labels: dict[str, str]) -> tuple[str, tuple[tuple[str, str], ...]]:
    keep = ("model", "color", "version")
    return labels["alertname"], tuple((k, labels[k]) for k in keep if k in labels)


def _run(sc: Scenario, plan: StackPlan, mon: MonitoringPlan, cfg: ksm.KsmConfig, workdir: Path) -> Outcome:
    out = Outcome(sc)
    h = Harness(workdir, plan, mon, cfg)
    (sc.setup or steady)(h, plan)
    tfplat = {r["alert"] for g in mon.rule_groups.values() for r in g["rules"]}
    changed = sc.change is None
    started = time.monotonic()
    with h:
        while h.now() < sc.duration_s:
            if not changed and h.now() >= ONSET:
                assert sc.change is not None
                with h.cluster.lock:
                    sc.change(h, plan)
                changed = True
            for labels in h.firing():
                if labels["alertname"] in tfplat:
                    out.first_fired.setdefault(_key(labels), h.now())
            if sc.name == "healthy" and not out.old_rules and h.now() >= ONSET:
                out.panels_without_data = _panels_without_data(h, mon)
                out.old_rules = _old_rules(h, mon)
            if sc.expect and changed and all(_fired(out, e) for e in sc.expect) and \
                    h.now() > max(out.first_fired.values()) + SLACK_S:
                break  # every expected alert fired and a margin passed for wrong ones
            time.sleep(0.5)
        try:  # every harness job scrapes at least once a second
            out.scrape_gaps = scrape_gaps(h.scrapes(time.monotonic() - started), longer_than_s=1.5)
        except OSError as err:  # evidence for a message only: never the scenario's failure
            out.scrape_gaps = [f"(no scrape record: {err})"]
    return out


def _fired(out: Outcome, e: Expected) -> float | None:
    times = [t for (name, labels), t in out.first_fired.items()
             if name == e.alert and set(e.labels.items()) <= set(labels)]
    return min(times) if times else None


def _panels_without_data(h: Harness, mon: MonitoringPlan) -> list[str]:
    window = timescale.scale("5m")  # Grafana's $__rate_interval at the production scrape interval
    missing = []
    for uid, board in mon.dashboards.items():
        for panel in board["panels"]:
            for target in panel.get("targets") or []:
                expr = timescale.scale_expr(target["expr"].replace("$__rate_interval", "5m"))
                if not h.query(expr):
                    missing.append(f"{uid} / {panel['title']}: {target['expr'][:90]} (window {window})")
    return missing


def _old_rules(h: Harness, mon: MonitoringPlan) -> dict[str, bool]:
    """The rules this change replaced, asked of the same healthy cluster."""
    out = {}
    for scope in mon.scopes:
        out[f'absent(kube_endpoint_address{{namespace="{scope.namespace}",endpoint="{scope.live_service}",'
            'ready="true"})'] = True
    return {expr: bool(h.query(expr)) for expr in out}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> list[Outcome]:
    plan, mon, cfg = _stack()
    todo = scenarios(plan)
    # Made here, not in the threads: the worker's first temp folder is created on first use,
    # and two threads creating it at once collide (FileExistsError).
    folders = {sc.name: tmp_path_factory.mktemp(sc.name.split()[0]) for sc in todo}

    def run(sc: Scenario) -> Outcome:
        try:
            return _run(sc, plan, mon, cfg, folders[sc.name])
        except Exception as err:  # noqa: BLE001 (reported per scenario by the tests below)
            return Outcome(sc, error=f"{type(err).__name__}: {err}")

    with ThreadPoolExecutor(max_workers=len(todo)) as pool:
        results = list(pool.map(run, todo))
    _write_figures(results)
    return results


def _write_figures(results: list[Outcome]) -> None:
    lines = ["| scenario | alert | stated (s) | fired after onset (s) | false fires |", "|---|---|---|---|---|"]
    for o in results:
        expected = {e.alert for e in o.scenario.expect}
        false = sorted({f"{n}{dict(lbl)}" for (n, lbl) in o.first_fired if n not in expected})
        if not o.scenario.expect:
            lines.append(f"| {o.scenario.name} | - | - | - | {len(false)} {', '.join(false)} |")
        for e in o.scenario.expect:
            t = _fired(o, e)
            after = "never" if t is None else f"{t - ONSET:.0f}"
            lines.append(f"| {o.scenario.name} | {e.alert} | {e.stated_s:.0f} | {after} | {len(false)} "
                         f"{', '.join(false)} |")
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    FIGURES.write_text("\n".join(lines) + "\n")
    print("\n" + "\n".join(lines))


def test_rendered_chart_runs_the_collectors_the_rules_read() -> None:
    _, _, cfg = _stack()
    assert cfg.image.endswith(":v2.18.0")
    assert set(m.KSM_COLLECTORS) <= cfg.resources
    assert "endpoints" not in cfg.resources  # why kube_endpoint_address never exists
    assert cfg.labels_allowlist == dict(m.KSM_LABEL_ALLOWLIST)


def test_every_alert_fires_in_time_and_only_when_it_should(outcomes: list[Outcome]) -> None:
    problems = []
    for o in outcomes:
        name = o.scenario.name
        if o.error:
            problems.append(f"{name}: {o.error}")
            continue
        expected = {e.alert for e in o.scenario.expect}
        for e in o.scenario.expect:
            t = _fired(o, e)
            late = t is None or t - ONSET > e.stated_s + SLACK_S
            if t is None:
                problems.append(f"{name}: {e.alert} {e.labels} never fired")
            elif late:
                problems.append(f"{name}: {e.alert} fired {t - ONSET:.0f}s after the onset, stated {e.stated_s:.0f}s")
            if late and o.scrape_gaps:
                problems.append("    scrape gaps in that scenario: " + "; ".join(o.scrape_gaps))
        for (alert, labels), t in o.first_fired.items():
            if alert not in expected:
                problems.append(f"{name}: false fire {alert} {dict(labels)} at {t:.0f}s")
    assert not problems, "\n".join(problems)


def test_every_alert_has_a_failure_scenario(outcomes: list[Outcome]) -> None:
    _, mon, _ = _stack()
    generated = {r["alert"] for g in mon.rule_groups.values() for r in g["rules"]}
    assert generated == {e.alert for o in outcomes for e in o.scenario.expect}


def test_every_dashboard_panel_returns_data_when_healthy(outcomes: list[Outcome]) -> None:
    healthy = next(o for o in outcomes if o.scenario.name == "healthy")
    assert healthy.old_rules, "the healthy scenario never reached its onset"
    assert healthy.panels_without_data == []


def test_the_replaced_rules_were_wrong_against_the_same_exporters(outcomes: list[Outcome]) -> None:
    """The old no-ready rule pages on a healthy cluster: kube_endpoint_address never exists."""
    healthy = next(o for o in outcomes if o.scenario.name == "healthy")
    assert healthy.old_rules and all(healthy.old_rules.values()), healthy.old_rules


def test_scopes_cover_the_scenario_models() -> None:
    plan, mon, _ = _stack()
    assert {s.model for s in mon.scopes} == {"resnet50", "mobilenet", "bert-ranker"}
    assert {FleetScope.of(f).accelerator for f in plan.fleets} == {"gpu", "cpu", "tpu"}
