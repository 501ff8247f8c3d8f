"""Kubernetes objects as plain dicts, built from the plan."""

from __future__ import annotations


def is_builtin(api_version: str) -> bool:
    """A kind of Kubernetes itself (the core group, apps, policy, *.k8s.io), not a CRD.

    gateway.networking.k8s.io carries the .k8s.io suffix but is installed as CRDs. The
    component layer registers built-ins as typed SDK resources and the offline plan
    validates them against the cluster version's OpenAPI schemas; everything else is a
    CustomResource checked against its CRD schema.
    """
    group = api_version.rpartition("/")[0]
    return group == "" or "." not in group or (group.endswith(".k8s.io") and not group.startswith("gateway."))
