"""The CrossGuard entry point: `pulumi preview --policy-pack policies
--policy-pack-config policies/config/<tfplat:environment>.json`.

Pulumi runs this file as `python policies/` in the pack's own virtualenv (policies/venv, from
policies/requirements.txt), with policies/ first on sys.path; the pack is self-contained, so
it imports its policies as the top-level package tfplat_policies. PolicyPack serves them over
gRPC until the engine stops the process.
"""

from typing import TYPE_CHECKING

from pulumi_policy import PolicyPack

if TYPE_CHECKING or __package__:  # imported as policies.__main__ (type checking, tooling)
    from .tfplat_policies.crossguard import PACK_DEFAULT_LEVEL, PACK_NAME, build_policies
else:  # run by Pulumi
    from tfplat_policies.crossguard import PACK_DEFAULT_LEVEL, PACK_NAME, build_policies

PolicyPack(
    name=PACK_NAME,
    policies=build_policies(),
    enforcement_level=PACK_DEFAULT_LEVEL,
    description="tfplat: private and encrypted buckets and clusters, the configuration-checkable CIS GKE 1.9.0 "
                "and EKS 1.8.0 items, image admission, tainted accelerator pools, hardened workloads, resilient "
                "and observed model fleets, secrets kept secret.",
)
