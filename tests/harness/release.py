"""Release scenarios on the harness: the stand-in cluster follows what the release applies.

`Follower` watches the records the offline applier writes (infra.release.appliers: one
JSON file per apply, with each color's version and the gateway's weights, read from the
objects the offline plan renders) and does to the stand-in cluster what the apply would
do to a real one: a color whose version changed rolls out (its pods start, load, become
ready on the harness clock), a retired color's pods go, the live Service moves, and the
gateway splits the model's traffic by the weights. A scenario script says how good each
version is at each weight and how long it has had it (errors, latency, click-through), so
a failure can start at a chosen step and moment; the follower notes when the first bad
request was served (the onset). A stand-in search frontend exports the business metrics
(impressions and clicks per model and color) for business gates.

`ScaledClock` runs the release's clock on the harness's time scale (timescale.py), and
`scaled_source` rewrites each query's durations the same way, so a production policy
(2m intervals, minutes of bake) runs in seconds with the same number of scrapes per window.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
import json
from pathlib import Path
import threading
import time

from infra.release.metrics_source import PrometheusApi
from tests.harness import timescale
from tests.harness.cluster import Behaviour
from tests.harness.exposition import Page
from tests.harness.harness import Harness
from tests.harness.traffic import Traffic, pieces

FRONTEND_JOB = "search-frontend"
HEALTHY_LATENCY: Sequence[tuple[float, float]] = ((8.0, 0.9), (15.0, 0.09), (30.0, 0.01))
POD = Behaviour(start_delay_s=10, load_s=30)


class ScaledClock:
    """Production seconds, passing 1/factor times faster than wall time (the harness's scale)."""

    def __init__(self, factor: float = timescale.FACTOR) -> None:
        self.factor = factor

    def now(self) -> float:
        return time.monotonic() / self.factor

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds) * self.factor)


def scaled_source(h: Harness) -> PrometheusApi:
    return PrometheusApi(h.prometheus.url, rewrite=lambda e: timescale.scale_expr(e, h.factor),
                         description=f"harness Prometheus at {h.prometheus.url} (time-scaled)")


@dataclass(frozen=True)
class Quality:
    server_error_ratio: float = 0.0
    latency_ms: Sequence[tuple[float, float]] = HEALTHY_LATENCY
    click_through: float = 0.05
    bad: bool = False  # this is the scenario's failure (the first such request is the onset)


#: (version, weight percent, production seconds the color has had this weight) -> quality
Script = Callable[[int, int, float], Quality]


def healthy(_version: int, _weight: int, _since: float) -> Quality:
    return Quality()


@dataclass
class _Color:
    version: int
    weight: int = 0
    since: float = 0.0


@dataclass
class Follower:
    h: Harness
    record_dir: Path
    model: str
    script: Script = healthy
    total_rps: float = 40.0
    # What the gateway really does with a color's weight, given how long it has had it
    # (default: honours it).
    route: Callable[[str, int, float], int] = field(default=lambda _color, weight, _since: weight)
    onset: float | None = None  # harness seconds of the first bad request
    applied: list[dict[str, object]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._colors: dict[str, _Color] = {}
        # The colors' states over time, one snapshot per change: the traffic at any past
        # moment (the exporters integrate it between scrapes; traffic.py).
        self._times: list[float] = []
        self._states: list[dict[str, _Color]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._counters: dict[tuple[str, str], float] = {}
        self._last_page: float | None = None

    # --- the starting state: what runs before the release -------------------------------
    def deploy(self, color: str, version: int, *, live: bool, at: float) -> None:
        model = self.h.cluster.models[self.model]
        if live:
            model.live, model.created = color, at
        self.h.cluster.deploy(self.model, color, version, 2, POD, at=at)
        self._colors[color] = _Color(version=version, weight=100 if live else 0, since=at)
        self._snapshot(at)

    def start(self) -> None:
        self.h.schedule.script = self
        self.h.put_target(FRONTEND_JOB, "frontend", {"instance": "10.4.0.20:9090", "namespace": "search"},
                          self._frontend_page)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    # --- following the applies ------------------------------------------------------------
    def _loop(self) -> None:
        seen = 0
        while not self._stop.is_set():
            records = sorted(self.record_dir.glob("applied-*.json"))
            for path in records[seen:]:
                self._apply(json.loads(path.read_text(encoding="utf-8")))
            seen = len(records)
            self._stop.wait(0.05)

    def _apply(self, record: dict[str, object]) -> None:
        state = record["models"][self.model]  # type: ignore[index]
        with self.h.cluster.lock, self._lock:
            now = self.h.now()  # under the cluster lock: no render has integrated past it
            model = self.h.cluster.models[self.model]
            for color in [c for c in model.deployments if c not in state["colors"]]:  # retired
                for pod in model.deployments.pop(color).pods:
                    pod.deleted = now if pod.deleted is None else pod.deleted
                self._colors.pop(color, None)
            for color, spec in state["colors"].items():
                current = self._colors.get(color)
                if current is None or current.version != spec["version"]:
                    self.h.cluster.deploy(self.model, color, spec["version"], 2, POD, at=now)
                    self._colors[color] = _Color(version=spec["version"], since=now)
            model.live = state["live"]
            for color, c in self._colors.items():
                weight = int(state["weights"].get(color, 0))
                if weight != c.weight:
                    c.weight, c.since = weight, now
            self._snapshot(now)
        self.applied.append(record)

    def _snapshot(self, t: float) -> None:
        assert not self._times or t >= self._times[-1], f"a change at {t}, before the last at {self._times[-1]}"
        self._times.append(t)
        self._states.append({color: replace(c) for color, c in self._colors.items()})

    # --- what the gateway and the models do (traffic.Script) ------------------------------
    def changes(self) -> Sequence[float]:
        with self._lock:
            return list(self._times)

    def _colors_at(self, t: float) -> dict[str, _Color]:
        with self._lock:
            i = bisect_right(self._times, t)
            return self._states[i - 1] if i else {}

    def _quality(self, color: str, t: float) -> tuple[int, Quality] | None:
        """The weight the gateway gave the color at sim time t, and how good it was then."""
        c = self._colors_at(t).get(color)
        if c is None:
            return None
        since = t - c.since
        weight = self.route(color, c.weight, since)
        quality = self.script(c.version, c.weight, since)
        if quality.bad and weight:
            with self._lock:  # renders integrate in any order: the onset is the earliest
                self.onset = t if self.onset is None else min(self.onset, t)
        return weight, quality

    def at(self, model: str, color: str, t: float) -> Traffic | None:
        if model != self.model:
            return None
        found = self._quality(color, t)
        if found is None:
            return Traffic()
        weight, q = found
        return Traffic(rps=self.total_rps * weight / 100, server_error_ratio=q.server_error_ratio,
                       latency_ms=q.latency_ms)

    def _frontend_page(self) -> str:
        """search_impressions_total / search_clicks_total per model and color (one impression
        per request the color answered), counted since the frontend's first scrape."""
        with self.h.cluster.lock:
            now = self.h.now()
            start, self._last_page = (self._last_page if self._last_page is not None else now), now
            for at, seconds in pieces(start, now, self.changes()):
                for color in self._colors_at(at):
                    found = self._quality(color, at)
                    if found is None:
                        continue
                    weight, q = found
                    shown = self.total_rps * weight / 100 * seconds
                    for kind, n in (("impressions", shown), ("clicks", shown * q.click_through)):
                        self._counters[(kind, color)] = self._counters.get((kind, color), 0.0) + n
        page = Page()
        for kind in ("impressions", "clicks"):
            page.family(f"search_{kind}_total", "counter",
                        [({"model": self.model, "color": color}, round(v, 3))
                         for (k, color), v in sorted(self._counters.items()) if k == kind])
        return page.text()
