"""What one fleet looks like to Prometheus: the names and matchers every query shares.

TF Serving series carry the pod's model and color (relabeled by our PodMonitor). Kube-state
and accelerator series only know namespace, deployment or pod names, which the planner
decides (infra.rules.names), so they are matched by exact names, never by guesses.
"""

from __future__ import annotations

from dataclasses import dataclass
import re

from infra.config.spec import COLORS
from infra.plan.fleet import FleetPlan
from infra.plan.monitoring import metrics as m
from infra.rules import names

SATURATION_PERCENT = 90
_DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")


@dataclass(frozen=True, kw_only=True)
class FleetScope:
    namespace: str
    model: str
    team: str
    accelerator: str  # cpu | gpu | tpu
    latency_objective_ms: int
    load_timeout_s: int  # the startup probe's load budget (models/<model>.yaml)
    source_uri: str  # <bucket URI>/<prefix>; a version lives at <source_uri>/<version>
    # (color, Deployment) of both colors, whether or not a color has a version now: the
    # monitoring of a model never depends on its rollout state, so staging, switching or
    # retiring a version changes no rule and no dashboard (only the serving objects).
    deployments: tuple[tuple[str, str], ...]
    live_service: str  # selects whichever color is live

    @classmethod
    def of(cls, fleet: FleetPlan) -> FleetScope:
        return cls(
            namespace=fleet.namespace, model=fleet.name, team=fleet.model.owner,
            accelerator=fleet.model.serving.accelerator.kind,
            latency_objective_ms=fleet.model.serving.latency_objective_ms,
            load_timeout_s=fleet.model.serving.load_timeout_s, source_uri=fleet.source_uri,
            deployments=tuple((c, names.fleet_name(fleet.name, c)) for c in COLORS),
            live_service=fleet.live_service,
        )

    def tfs(self, *extra: str) -> str:
        """Matchers of this model's TF Serving series (pod labels relabeled by the PodMonitor)."""
        return ",".join((f'namespace="{self.namespace}"', f'{m.TARGET_LABEL_MODEL}="{self.model}"', *extra))

    def deployment_regex(self) -> str:
        # Names are DNS labels ([a-z0-9-]): no regex metacharacters, so no escaping, which
        # PromQL strings would reject anyway ("\-" is not a valid string escape).
        assert all(_DNS_LABEL.match(d) for _, d in self.deployments), self.deployments
        return "|".join(d for _, d in self.deployments)

    def pod_regex(self, color: str | None = None) -> str:
        """Pods of this model's Deployments (or of one color's): <deployment>-<template
        hash>-<suffix>. Two dash-free segments after the name, so model "a" never matches
        pods of "a-b".
        """
        deployments = self.deployment_regex() if color is None else dict(self.deployments)[color]
        return f"({deployments})-[a-z0-9]+-[a-z0-9]+"

    def pods(self, color: str | None = None) -> str:
        """Matchers of accelerator series that carry the consuming pod's name."""
        return f'namespace="{self.namespace}",pod=~"{self.pod_regex(color)}"'

    def deployment_matchers(self) -> str:
        return f'namespace="{self.namespace}",deployment=~"{self.deployment_regex()}"'

    def container(self, container: str) -> str:
        """Matchers of kube-state-metrics pod series of one container of this model's pods."""
        return f'{self.pods()},container="{container}"'
