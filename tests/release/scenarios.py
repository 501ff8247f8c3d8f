"""Release scenarios against a real Prometheus (tests/harness), shared by the tests and
bench/release_bench.py.

Each scenario releases bert-ranker v3 in a copy of the dev stack (blue v2 live, nothing
in green) with `tfplat release`'s own code (prepare, preflight, execute: everything but the
system clock), the offline applier, and the harness's cluster following each apply. The
policy is production-shaped (2m intervals, 4m bake, 4m settle, 50 requests an interval)
on the harness time scale (1 s of wall time = 30 s), so a release takes about half a
minute. What is recorded: the outcome, every journal event, the harness time of each
printed line, the failure's onset, and what was applied.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
import json
from pathlib import Path
import re
import subprocess
import time
from typing import Any

from infra.cli.main import build_parser
from infra.cli.release_cmd import Prepared, execute, preflight, prepare
from infra.plan.monitoring import queries as q
from infra.plan.monitoring.plan import MonitoringPlan
from infra.plan.monitoring.scope import FleetScope
from infra.plan.stack import StackPlan
from infra.release.appliers import OfflineApplier
from infra.release.engine import Outcome
from infra.release.journal import Journal
from tests.conftest import copy_config
from tests.harness import ksm, timescale
from tests.harness.harness import Harness
from tests.harness.release import FRONTEND_JOB, Follower, Quality, ScaledClock, Script, healthy, scaled_source

MODEL, STACK, FROM_VERSION, VERSION = "bert-ranker", "dev", 2, 3
INTERVAL_S = 120
POLICY = {"bake_time": "4m", "analysis_interval": "2m", "min_requests": 50, "max_inconclusive": 3,
          "settle_time": "4m", "on_metrics_unavailable": "abort", "max_pause": "4m"}
WARM = -6000.0
GIT_ENV = {"GIT_AUTHOR_NAME": "release-test", "GIT_AUTHOR_EMAIL": "release@example.invalid",
           "GIT_COMMITTER_NAME": "release-test", "GIT_COMMITTER_EMAIL": "release@example.invalid"}

Route = Callable[[str, int, float], int]  # (color, weight, seconds at it) -> weight the gateway really uses


@dataclass
class Scenario:
    name: str
    expect: str  # the outcome status
    script: Script = healthy
    total_rps: float = 40.0
    route: Route | None = None
    policy: Mapping[str, Any] = field(default_factory=dict)
    # Called with each printed line; may act on the rig (stop Prometheus, ...); True: the
    # failure starts now (the onset, when no bad request marks it).
    during: Callable[[Harness, str], bool] | None = None
    # The printed line that marks the onset of a failure the data's absence is (no traffic).
    onset_line: str | None = None


@dataclass
class Result:
    scenario: Scenario
    outcome: Outcome | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    lines: list[tuple[float, str]] = field(default_factory=list)  # (harness seconds, line)
    walls: list[float] = field(default_factory=list)  # the wall clock (Unix seconds) of each line
    # Every scrape Prometheus made during the release: (job, instance) -> [(Unix seconds, up)].
    # The evidence when an interval had no data: a loaded machine can starve the rig's
    # exporters past the 1 s scrape timeout (the harness scale: production's 30 s).
    scrapes: dict[tuple[str, str], list[tuple[float, float]]] = field(default_factory=dict)
    onset: float | None = None
    applied: list[dict[str, Any]] = field(default_factory=list)
    stack_text: str = ""
    commits: list[str] = field(default_factory=list)
    report: str = ""
    wall_s: float = 0.0
    error: str = ""

    def first(self, prefix: str) -> float | None:
        return next((t for t, line in self.lines if line.startswith(prefix)), None)

    def intervals(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e["kind"] == "interval"]

    def timed_intervals(self) -> list[tuple[dict[str, Any], float, float]]:
        """Each interval with the harness time and the wall clock of its printed verdict."""
        times = [(at, wall) for (at, line), wall in zip(self.lines, self.walls, strict=True)
                 if _INTERVAL_LINE.match(line)]
        intervals = self.intervals()
        assert len(intervals) == len(times), (len(intervals), len(times), self.lines)
        return [(i, at, wall) for i, (at, wall) in zip(intervals, times, strict=True)]


_INTERVAL_LINE = re.compile(r"^.+ interval \d+: [A-Z]+\b")


# --- scripts -----------------------------------------------------------------------------------

def bad_from(version: int, when: Callable[[int, float], bool], quality: Quality) -> Script:
    """`version` turns into `quality` once when(weight, seconds at it) holds; healthy before."""
    def script(v: int, weight: int, since: float) -> Quality:
        return quality if v == version and weight and when(weight, since) else Quality()
    return script


ERRORS = Quality(server_error_ratio=0.3, bad=True)
SLOW = Quality(latency_ms=((180.0, 0.5), (300.0, 0.5)), bad=True)
FEW_CLICKS = Quality(click_through=0.01, bad=True)


def scenarios() -> list[Scenario]:
    def stop_prometheus_after_first_pass(h: Harness, line: str) -> bool:
        # Stopped before the release goes on: from a thread, a shutdown slowed by a loaded
        # machine let the next interval (4 wall seconds later) still be answered, and promote.
        # The first pass, whichever interval it is: a loaded machine can leave interval 1
        # without data (inconclusive), and then no "interval 1: PASS" ever comes.
        if line.startswith("canary 5% interval ") and ": PASS" in line and h.prometheus.running:
            h.prometheus.stop()
            return True
        return False

    canary = "step canary 5%"

    return [
        Scenario("healthy", "released"),
        Scenario("error spike at 5%", "rolled back",
                 script=bad_from(VERSION, lambda w, s: w == 5 and s >= INTERVAL_S * 1.5, ERRORS)),
        Scenario("latency regression at 50%", "rolled back", script=bad_from(VERSION, lambda w, s: w >= 50, SLOW)),
        Scenario("business gate fails", "rolled back", script=bad_from(VERSION, lambda w, s: True, FEW_CLICKS)),
        Scenario("no traffic at all", "aborted", total_rps=0.0, onset_line=canary),
        Scenario("only the live color's series", "aborted", route=lambda c, w, s: 0 if c == "green" else 100,
                 onset_line=canary),
        Scenario("zero-request windows (NaN)", "aborted", route=lambda c, w, s: w if c != "green" or s < 60 else 0,
                 onset_line=canary),
        Scenario("prometheus stops (abort)", "aborted", during=stop_prometheus_after_first_pass),
        Scenario("prometheus stops (pause)", "aborted", during=stop_prometheus_after_first_pass,
                 policy={"on_metrics_unavailable": "pause"}),
    ]


# --- the rig ----------------------------------------------------------------------------------

def git(root: Path, *args: str) -> str:
    import os

    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=True,
                          env={**os.environ, **GIT_ENV}).stdout.strip()


def release_repo(dest: Path, policy: Mapping[str, Any]) -> Path:
    """A git checkout of the config with the scenario's release policy for the dev stack."""
    root = copy_config(dest)
    path = root / "stacks" / f"Pulumi.{STACK}.yaml"
    lines = "".join(f"    {k}: {json.dumps(v)}\n" for k, v in {**POLICY, **policy}.items())
    path.write_text(path.read_text(encoding="utf-8").replace("config:\n", f"config:\n  tfplat:release:\n{lines}", 1),
                    encoding="utf-8")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "config under test")
    return root


def release_args(*extra: str, version: int | None = VERSION) -> Any:
    words = ["release", MODEL, *([str(version)] if version is not None else []), "--stack", STACK,
             "--applier", "offline", "--skip-preflight", *extra]
    return build_parser().parse_args(words)


def wait_for_scrapes(h: Harness, plan: StackPlan) -> None:
    """The live color is ready in Prometheus' eyes, and two intervals of its scrapes are in."""
    scope = FleetScope.of(next(f for f in plan.fleets if f.name == MODEL))
    ready = timescale.scale_expr(q.release_ready_pods(scope, "blue", FROM_VERSION), h.factor)
    h.wait_until(lambda: bool(h.query(ready)), sim_s=1800, what="the live color ready in Prometheus")
    until = h.now() + 2 * INTERVAL_S
    h.wait_until(lambda: h.now() >= until, sim_s=4 * INTERVAL_S, what="two intervals of scrapes")


def run(sc: Scenario, rig: tuple[StackPlan, MonitoringPlan, ksm.KsmConfig], workdir: Path) -> Result:
    plan, mon, cfg = rig
    result = Result(sc)
    root = release_repo(workdir / "repo", sc.policy)
    h = Harness(workdir / "harness", plan, mon, cfg, extra_jobs=[FRONTEND_JOB])
    record_dir = root / "build" / "releases" / STACK / "applied"
    route = sc.route

    follower = Follower(h, record_dir, MODEL, sc.script, sc.total_rps)
    if route is not None:
        follower.route = route
    follower.deploy("blue", FROM_VERSION, live=True, at=WARM)
    started = time.monotonic()
    try:
        with h:
            follower.start()
            wait_for_scrapes(h, plan)
            prepared: Prepared = prepare(release_args(), root, scaled_source(h))
            applier = OfflineApplier(record_dir)
            failure = preflight(prepared, applier)
            assert failure is None, failure

            def echo(line: str) -> None:
                now = h.now()
                result.lines.append((now, line))
                result.walls.append(time.time())
                starts = sc.during(h, line) if sc.during is not None else False
                if result.onset is None and (starts or (sc.onset_line and line.startswith(sc.onset_line))):
                    result.onset = now

            result.outcome = execute(prepared, applier=applier, clock=ScaledClock(h.factor),
                                     echo=echo)
            result.events = Journal(prepared.folder).events()
            result.report = (prepared.folder / "report.md").read_text(encoding="utf-8")
            if h.prometheus.running:  # (some scenarios stop it)
                result.scrapes = h.scrapes(time.monotonic() - started)
            time.sleep(0.3)  # the follower's last poll
    except Exception as err:  # noqa: BLE001 - reported per scenario by the tests
        result.error = f"{type(err).__name__}: {err}"
    finally:
        follower.stop()
    result.wall_s = time.monotonic() - started
    result.onset = follower.onset if follower.onset is not None else result.onset
    result.applied = follower.applied
    result.stack_text = (root / "stacks" / f"Pulumi.{STACK}.yaml").read_text(encoding="utf-8")
    result.commits = git(root, "log", "--format=%s", "-n", "20").splitlines()
    return result
