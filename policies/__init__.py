"""tfplat's CrossGuard policy pack (run with `pulumi preview --policy-pack policies`).

Importable from the repository root: `from policies.tfplat_policies import check_records`.
Importing this package does not import pulumi_policy.
"""
