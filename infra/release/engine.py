"""The release sequence: stage, wait for Ready, each canary step with its analysis, switch,
settle; on a failed gate, too many inconclusive intervals, a metrics outage longer than
the policy allows, or any error it cannot classify, back to where it started.

All decisions come from infra.release.decide (pure); this module only sequences steps
(infra.release.steps), reads metrics (infra.release.reading) and waits on a clock. The
state lives in the stack file (each step a commit; tfplat:models.<model>.release_in_progress
says a release is under way and where it started), so `resume` needs nothing but the
checkout: it re-applies the stack file as it stands, then carries on from that state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
import time
from typing import Any, Literal, Protocol

from infra.config.release_spec import ReleaseMarker
from infra.plan.monitoring.scope import FleetScope
from infra.plan.release_policy import ReleasePolicy
from infra.release.decide import Decision, Progress, advance, judge
from infra.release.reading import Reader
from infra.release.steps import Stepper, clear_marker, set_marker, unchanged
from infra.rules.rollout import Color, Rollout, canary, stage, switch

Status = Literal["released", "rolled back", "aborted", "rollback failed", "interrupted"]
EXIT: dict[Status, int] = {"released": 0, "rolled back": 1, "aborted": 1, "rollback failed": 3, "interrupted": 130}


class Clock(Protocol):
    def now(self) -> float: ...  # seconds, monotonic

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))


class Stop(Exception):  # noqa: N818 - control flow: end the release the way `decision` says
    def __init__(self, decision: Decision) -> None:
        super().__init__(decision.reason)
        self.decision = decision


@dataclass(frozen=True)
class Outcome:
    status: Status
    reason: str

    @property
    def exit_code(self) -> int:
        return EXIT[self.status]


@dataclass
class Release:
    marker: ReleaseMarker
    policy: ReleasePolicy
    scope: FleetScope
    stepper: Stepper
    reader: Reader
    clock: Clock
    log: Callable[..., Any]
    _ready_seen: bool = False

    # ------------------------------------------------------------------ entry points
    def start(self) -> Outcome:
        """A new release: stage the version (with the marker), then go forward."""
        return self._guarded(self._stage_then_forward)

    def resume(self) -> Outcome:
        """Carry on from the state the stack file holds (re-applied first: the run that
        stopped may have committed a step it never applied)."""
        def go() -> Outcome:
            r, _ = self.stepper.current()
            self.log("resume", state=r.describe())
            self.stepper.apply("resume: apply the stack file as committed")
            return self._forward()
        return self._guarded(go)

    def abort(self, reason: str) -> Outcome:
        """Back to where the release started, on request."""
        try:
            self.stepper.restore(self.marker, reason)
        except Exception as err:  # noqa: BLE001 - any failure here needs a human; say so, never hide it
            return self._end("rollback failed", f"{reason}; then the rollback failed: {type(err).__name__}: {err}")
        return self._end("aborted", reason)

    # ------------------------------------------------------------------ the sequence
    def _guarded(self, body: Callable[[], Outcome]) -> Outcome:
        try:
            return body()
        except Stop as stop:
            return self._roll_back(stop.decision)
        except KeyboardInterrupt:
            r, _ = self.stepper.current()
            return self._end("interrupted", f"stopped at {r.describe()}; the stack file records the release: "
                                            "--resume continues it, --abort rolls it back")
        except Exception as err:  # noqa: BLE001 - "any error it cannot classify" rolls back
            return self._roll_back(Decision(action="rollback", reason=f"unexpected error: {type(err).__name__}: "
                                                                      f"{err}"))

    @property
    def version(self) -> int:
        return self.marker.version

    def _new_color(self, r: Rollout) -> Color:
        if r.version(r.live) == self.version:
            return r.live
        return r.idle

    def _stage_then_forward(self) -> Outcome:
        r, _ = self.stepper.current()
        version = self.version

        def step(s: Rollout) -> Rollout:
            return s if s.version(s.idle) == version else stage(s, version)

        self.stepper.take(f"stage v{self.version} in {r.idle}", step, entry_edit=set_marker(self.marker))
        return self._forward()

    def _forward(self) -> Outcome:
        r, _ = self.stepper.current()
        new = self._new_color(r)
        if r.live != new:
            self._wait_ready(new)
            if r.canary_percent:
                self._analyse(f"canary {r.canary_percent}% (resumed)", new, self.policy.passes_per_step, True)
            for percent in [p for p in self.policy.steps if p > r.canary_percent]:
                self._wait_ready(new)  # never more weight on a color that is not Ready
                self.stepper.take(f"canary {percent}%", _canary(percent))
                self._analyse(f"canary {percent}%", new, self.policy.passes_per_step, True)
            self.stepper.take(f"switch to {new}", switch)
        if self.policy.passes_to_settle:
            self._analyse("settle", new, self.policy.passes_to_settle, False)
        self.stepper.take("release done", unchanged, entry_edit=clear_marker, apply=False)
        return self._end("released", f"v{self.version} is live in {new}; the old color stays warm "
                                     f"(retire it with tfplat retire {self.scope.model} --stack {self.stepper.stack})")

    def _wait_ready(self, color: Color) -> None:
        started, slept = self.clock.now(), False
        poll = max(5.0, self.policy.analysis_interval_s / 4)
        while True:
            ok, seen = self.reader.ready(color, self.version)
            waited = self.clock.now() - started
            if ok:
                if slept or not self._ready_seen:  # a re-check before a step that found it ready says nothing
                    self.log("ready", color=color, seen=seen, waited_s=round(waited))
                self._ready_seen = True
                return
            if waited > self.policy.ready_timeout_s:
                raise Stop(Decision(action="abort", reason=f"v{self.version} in {color} was not Ready within "
                                                           f"{self.policy.ready_timeout_s}s: {seen}"))
            self.clock.sleep(poll)
            slept = True

    def _analyse(self, phase: str, new: Color, needed: int, compare_live: bool) -> None:
        """Intervals back to back from now until the phase is decided; returns on promote."""
        live: Color = "green" if new == "blue" else "blue"
        progress, start = Progress(), self.clock.now()
        while True:
            self.clock.sleep(start + (progress.intervals + 1) * self.policy.analysis_interval_s - self.clock.now())
            reading = self.reader.interval(new, live)
            result = judge(self.policy, reading, compare_live=compare_live)
            progress, decision = advance(self.policy, progress, result, needed)
            self.log("interval", phase=phase, n=progress.intervals, verdict=result.verdict, reason=result.reason,
                     new_requests=result.new_requests, live_requests=result.live_requests,
                     checks=[vars(c) for c in result.checks], action=decision.action, decision=decision.reason)
            if decision.action == "promote":
                return
            if decision.action != "continue":
                raise Stop(decision)

    def _roll_back(self, decision: Decision) -> Outcome:
        self.log("decision", action=decision.action, reason=decision.reason)
        status: Status = "aborted" if decision.action == "abort" else "rolled back"
        try:
            self.stepper.restore(self.marker, decision.reason)
        except Exception as err:  # noqa: BLE001 - any failure here needs a human; say so, never hide it
            return self._end("rollback failed", f"{decision.reason}; then the rollback failed: "
                                                f"{type(err).__name__}: {err}")
        return self._end(status, decision.reason)

    def _end(self, status: Status, reason: str) -> Outcome:
        self.log("end", status=status, reason=reason)
        return Outcome(status, reason)



def _canary(percent: int) -> Callable[[Rollout], Rollout]:
    return lambda r: canary(r, percent)
