"""tfplat's policies as pure functions over resource properties.

The offline plan calls check_records (and check_stack_file for the stack file); the
CrossGuard pack (policies/__main__.py, through .crossguard) wraps the same checks. Nothing
imported here imports pulumi_policy.
"""

from __future__ import annotations

from .enforcement import TIERS, TierConfig, TierConfigError, load_tier, stack_waivers
from .model import SECRET, UNKNOWN, Finding, Policy, Resource, ResourcePolicy, StackPolicy, Violation
from .records import check_records, check_resources, exemptions, resource_from_record
from .registry import BY_ID, POLICIES
from .stack_config import check_stack_file

__all__ = [
    "BY_ID", "POLICIES", "SECRET", "TIERS", "UNKNOWN", "Finding", "Policy", "Resource", "ResourcePolicy",
    "StackPolicy", "TierConfig", "TierConfigError", "Violation", "check_records", "check_resources",
    "check_stack_file", "exemptions", "load_tier", "resource_from_record", "stack_waivers",
]
