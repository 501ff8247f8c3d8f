"""Typed views of the release policy as each file writes it (partial: None = not set there).

The model file, the stack (tfplat:release) and the stack's model entry
(tfplat:models.<model>.release) each may set any key; `ReleaseSettings.over` layers them.
Which defaults fill what no file sets (they depend on the stack's tier and on the model's
alert threshold and latency objective) is decided by the planner
(infra.plan.release.policy), so no default is written here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
import re
from types import MappingProxyType
from typing import Any, Literal

Direction = Literal["at_least", "at_most"]
OnUnavailable = Literal["abort", "pause"]
SourceKind = Literal["in-cluster", "prometheus", "gmp", "amp"]

_DURATION = re.compile(r"^([0-9]+)(s|m|h)$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600}


def duration_s(text: str) -> int:
    """Seconds of a schema-valid duration ("30s", "5m", "1h")."""
    m = _DURATION.match(text)
    assert m is not None, f"the schema admits only durations like 5m, got {text!r}"
    return int(m.group(1)) * _UNIT_S[m.group(2)]


@dataclass(frozen=True, kw_only=True)
class ErrorRatioGate:
    max: float | None = None
    max_factor_of_live: float | None = None
    factor_floor: float | None = None


@dataclass(frozen=True, kw_only=True)
class LatencyGate:
    max_ms: float | None = None
    max_factor_of_live: float | None = None


@dataclass(frozen=True, kw_only=True)
class CustomGate:
    name: str
    query: str  # a template: $color, $model, $namespace, $window
    direction: Direction
    threshold: float
    live_factor: float | None
    description: str


@dataclass(frozen=True, kw_only=True)
class BusinessMetric:
    name: str
    kind: Literal["counter", "gauge", "histogram"]
    labels: frozenset[str]
    description: str


def _over(base: Any, top: Any) -> Any:
    """`top`'s set fields over `base`'s (same dataclass type)."""
    return replace(base, **{f.name: getattr(top, f.name) for f in fields(top) if getattr(top, f.name) is not None})


@dataclass(frozen=True, kw_only=True)
class ReleaseSettings:
    """Durations in seconds. Custom gates and business metrics come from the model file only."""

    steps: tuple[int, ...] | None = None
    bake_time_s: int | None = None
    analysis_interval_s: int | None = None
    min_requests: int | None = None
    max_inconclusive: int | None = None
    settle_time_s: int | None = None
    ready_timeout_s: int | None = None
    on_metrics_unavailable: OnUnavailable | None = None
    max_pause_s: int | None = None
    error_ratio: ErrorRatioGate = ErrorRatioGate()
    latency_p99: LatencyGate = LatencyGate()
    custom_gates: Mapping[str, CustomGate] = field(default_factory=lambda: MappingProxyType({}))
    business_metrics: Mapping[str, BusinessMetric] = field(default_factory=lambda: MappingProxyType({}))

    def over(self, top: ReleaseSettings) -> ReleaseSettings:
        """These settings with every key `top` sets replaced by `top`'s value."""
        scalars = {f.name: getattr(top, f.name) for f in fields(top)
                   if f.name not in ("error_ratio", "latency_p99", "custom_gates", "business_metrics")
                   and getattr(top, f.name) is not None}
        return replace(self, **scalars, error_ratio=_over(self.error_ratio, top.error_ratio),
                       latency_p99=_over(self.latency_p99, top.latency_p99),
                       custom_gates=MappingProxyType({**self.custom_gates, **top.custom_gates}),
                       business_metrics=MappingProxyType({**self.business_metrics, **top.business_metrics}))


@dataclass(frozen=True, kw_only=True)
class MetricsSourceSpec:
    kind: SourceKind
    url: str | None
    project: str | None
    workspace: str | None
    region: str | None


@dataclass(frozen=True, kw_only=True)
class ReleaseMarker:
    """tfplat:models.<model>.release_in_progress: a release under way and where it started."""

    id: str
    version: int
    started: str  # UTC, ISO 8601 (seconds)
    from_blue: int | None
    from_green: int | None
    from_live: Literal["blue", "green"]
    rolling_back: str | None = None  # why, once the way back has begun (then only --abort goes on)

    def as_yaml(self) -> dict[str, Any]:
        before: dict[str, Any] = {"blue": self.from_blue, "green": self.from_green, "live": self.from_live}
        out = {"id": self.id, "version": self.version, "started": self.started,
               "from": {k: v for k, v in before.items() if v is not None}}
        return {**out, "rolling_back": self.rolling_back} if self.rolling_back else out


def _opt_s(data: Mapping[str, Any], key: str) -> int | None:
    return duration_s(data[key]) if data.get(key) is not None else None


def release_settings(data: Mapping[str, Any] | None) -> ReleaseSettings:
    """A schema-valid release mapping (of any of the three places) as settings."""
    if not data:
        return ReleaseSettings()
    gates = data.get("gates") or {}
    er, lat = gates.get("error_ratio") or {}, gates.get("latency_p99") or {}
    custom = {name: CustomGate(name=name, query=g["query"], direction=g["direction"], threshold=float(g["threshold"]),
                               live_factor=None if g.get("live_factor") is None else float(g["live_factor"]),
                               description=g.get("description") or "")
              for name, g in sorted((gates.get("custom") or {}).items())}
    metrics = {name: BusinessMetric(name=name, kind=b["kind"], labels=frozenset(b["labels"]),
                                    description=b.get("description") or "")
               for name, b in sorted((data.get("business_metrics") or {}).items())}

    def num(d: Mapping[str, Any], key: str) -> float | None:
        return None if d.get(key) is None else float(d[key])

    return ReleaseSettings(
        steps=tuple(data["steps"]) if data.get("steps") is not None else None,
        bake_time_s=_opt_s(data, "bake_time"), analysis_interval_s=_opt_s(data, "analysis_interval"),
        min_requests=data.get("min_requests"), max_inconclusive=data.get("max_inconclusive"),
        settle_time_s=_opt_s(data, "settle_time"), ready_timeout_s=_opt_s(data, "ready_timeout"),
        on_metrics_unavailable=data.get("on_metrics_unavailable"), max_pause_s=_opt_s(data, "max_pause"),
        error_ratio=ErrorRatioGate(max=num(er, "max"), max_factor_of_live=num(er, "max_factor_of_live"),
                                   factor_floor=num(er, "factor_floor")),
        latency_p99=LatencyGate(max_ms=num(lat, "max_ms"), max_factor_of_live=num(lat, "max_factor_of_live")),
        custom_gates=MappingProxyType(custom), business_metrics=MappingProxyType(metrics))


def metrics_source(data: Mapping[str, Any]) -> MetricsSourceSpec:
    return MetricsSourceSpec(kind=data["kind"], url=data.get("url"), project=data.get("project"),
                             workspace=data.get("workspace"), region=data.get("region"))


def release_marker(data: Mapping[str, Any] | None) -> ReleaseMarker | None:
    if not data:
        return None
    before = data["from"]
    return ReleaseMarker(id=data["id"], version=data["version"], started=data["started"],
                         from_blue=before.get("blue"), from_green=before.get("green"), from_live=before["live"],
                         rolling_back=data.get("rolling_back"))
