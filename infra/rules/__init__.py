"""Rules: pure facts and rules both the config checks and the planner apply.

The bottom layer (rules <- config <- plan <- components <- program <- offline/cli): a module
here imports nothing of tfplat but the safe file helpers (infra.bounded_yaml), so config and
plan can both use it without an arrow back up.
"""
