"""A release in a child process (spawned), so a test can kill it mid-step with SIGKILL."""

from __future__ import annotations

from pathlib import Path

from infra.release.appliers import OfflineApplier
from infra.release.metrics_source import PrometheusApi
from tests.harness import timescale
from tests.harness.release import ScaledClock


def run_release(root: str, prometheus_url: str, factor: float, words: list[str]) -> None:
    from infra.cli.main import build_parser
    from infra.cli.release_cmd import execute, prepare

    args = build_parser().parse_args(words)
    source = PrometheusApi(prometheus_url, rewrite=lambda e: timescale.scale_expr(e, factor))
    prepared = prepare(args, Path(root), source)
    execute(prepared, applier=OfflineApplier(Path(root) / "build" / "releases" / args.stack / "applied"),
            clock=ScaledClock(factor))
