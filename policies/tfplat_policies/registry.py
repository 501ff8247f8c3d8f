"""Every tfplat policy, in the order docs/policies.md lists them."""

from __future__ import annotations

from . import (
    buckets,
    clusters,
    eks,
    fleets,
    gke,
    images,
    kube_cis,
    network,
    observability,
    pools,
    secrets,
    stack_config,
    storage,
    training,
    workloads,
)
from .enforcement import TIER_POLICY
from .model import Policy

POLICIES: tuple[Policy, ...] = (
    *buckets.POLICIES,
    *clusters.POLICIES,
    *network.POLICIES,
    *gke.POLICIES,
    *eks.POLICIES,
    *storage.POLICIES,
    *images.POLICIES,
    *pools.POLICIES,
    *workloads.POLICIES,
    *kube_cis.POLICIES,
    *fleets.POLICIES,
    *observability.POLICIES,
    *secrets.POLICIES,
    *training.POLICIES,
    stack_config.POLICY,
    TIER_POLICY,
)

BY_ID: dict[str, Policy] = {p.id: p for p in POLICIES}
assert len(BY_ID) == len(POLICIES), "policy ids must be unique"
