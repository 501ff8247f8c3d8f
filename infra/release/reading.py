"""Reading one analysis interval (and a color's readiness) from the metrics source.

Every query comes from infra.plan.monitoring.queries, the module that writes the alert
rules and dashboards, so a release is stopped by what would page a human.
"""

from __future__ import annotations

from dataclasses import dataclass

from infra.plan.monitoring import queries as q
from infra.plan.monitoring.scope import FleetScope
from infra.plan.release_policy import Gate, ReleasePolicy
from infra.release.decide import Reading
from infra.release.metrics_source import MetricsSource, MetricsUnavailable, is_number, single


def window(policy: ReleasePolicy) -> str:
    return q.duration(policy.analysis_interval_s)


def gate_query(gate: Gate, scope: FleetScope, color: str, win: str) -> str:
    if gate.kind == "error_ratio":
        return q.release_error_ratio(scope, color, win)
    if gate.kind == "latency_p99":
        return q.release_latency_p99(scope, color, win)
    assert gate.template is not None
    return q.custom_gate(gate.template, color=color, model=scope.model, namespace=scope.namespace, window=win)


def queries(policy: ReleasePolicy, scope: FleetScope, color: str) -> dict[str, str]:
    """Every query an interval asks about one color: "requests" and one per gate."""
    win = window(policy)
    return {"requests": q.release_requests(scope, color, win),
            **{g.name: gate_query(g, scope, color, win) for g in policy.gates}}


@dataclass
class Reader:
    policy: ReleasePolicy
    scope: FleetScope
    source: MetricsSource

    def interval(self, new: str, live: str) -> Reading:
        """The interval that ends now. Any query the source cannot answer makes the whole
        interval unavailable: a half-read interval is never judged."""
        try:
            values = {color: {name: single(self.source.query(expr))
                              for name, expr in queries(self.policy, self.scope, color).items()}
                      for color in (new, live)}
        except MetricsUnavailable as err:
            return Reading(new_requests=None, live_requests=None, unavailable=str(err))
        return Reading(new_requests=values[new].pop("requests"), live_requests=values[live].pop("requests"),
                       new=values[new], live=values[live])

    def ready(self, color: str, version: int) -> tuple[bool, str]:
        """Whether every replica of `color` runs `version` and is ready (and what was seen)."""
        try:
            ready = single(self.source.query(q.release_ready_pods(self.scope, color, version)))
            desired = single(self.source.query(q.release_desired_replicas(self.scope, color)))
            others = single(self.source.query(q.release_other_version_pods(self.scope, color, version)))
        except MetricsUnavailable as err:
            return False, f"metrics unavailable: {err}"
        n_ready = int(ready) if is_number(ready) and ready is not None else 0
        n_desired = int(desired) if is_number(desired) and desired is not None else 0
        n_others = int(others) if is_number(others) and others is not None else 0
        text = (f"{n_ready} of {n_desired} replicas of {color} ready with v{version}"
                + (f", {n_others} pods still on another version" if n_others else ""))
        return n_desired >= 1 and n_ready >= n_desired and n_others == 0, text
