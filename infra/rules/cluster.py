"""Cluster facts both clouds share: the Kubernetes versions a stack may ask for, and the
zones node pools use unless a pool names its own.

Typed by what they read (Protocols), not by infra.config.spec: rules sit below config.
"""

from __future__ import annotations

import re
from typing import Protocol

#: Minor versions a stack may ask for. Each must be offered by GKE and EKS and have
#: OpenAPI schemas in kubernetes-validate (the offline plan validates against them);
#: tests/rules/test_cluster.py checks the latter.
SUPPORTED_KUBERNETES_VERSIONS: tuple[str, ...] = ("1.31", "1.32", "1.33", "1.34", "1.35", "1.36")


class _GcpZones(Protocol):
    @property
    def zones(self) -> tuple[str, ...]: ...


class _AwsZones(Protocol):
    @property
    def availability_zones(self) -> tuple[str, ...]: ...


class StackZones(Protocol):
    """What default_zones reads of a stack (infra.config.spec.StackSpec)."""

    @property
    def cloud(self) -> str: ...
    @property
    def region(self) -> str: ...
    @property
    def gcp(self) -> _GcpZones | None: ...
    @property
    def aws(self) -> _AwsZones | None: ...


def default_zones(stack: StackZones) -> tuple[str, ...]:
    """The zones node pools use unless a pool names its own."""
    if stack.cloud == "gcp":
        if stack.gcp is not None and stack.gcp.zones:
            return stack.gcp.zones
        return tuple(f"{stack.region}-{z}" for z in ("a", "b", "c"))
    if stack.aws is not None and stack.aws.availability_zones:
        return stack.aws.availability_zones
    return tuple(f"{stack.region}{z}" for z in ("a", "b", "c"))


def zone_in_region(cloud: str, region: str, zone: str) -> bool:
    """Whether `zone` names a zone of `region` on `cloud`.

    GCP zones are `<region>-<letter>` (us-central1-a); AWS Availability Zones are
    `<region><letter>` (us-east-1a) and Local Zones `<region>-<city>-<n><letter>`
    (us-east-1-bos-1a).
    """
    if cloud == "gcp":
        return re.fullmatch(re.escape(region) + r"-[a-z]", zone) is not None
    return re.fullmatch(re.escape(region) + r"(?:[a-z]|-[a-z]+-\d+[a-z])", zone) is not None


def example_zone(cloud: str, region: str) -> str:
    """A zone of `region`, as an example in a fix."""
    return f"{region}-a" if cloud == "gcp" else f"{region}a"
