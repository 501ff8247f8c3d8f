"""The training runtime a JobSet's containers run: strategy from the job's environment,
checkpoints that survive a restart of every worker, and the export of a new version.

A model's training entry point (its `training.command`) builds its Keras model and data and
hands them to `fit`; everything the platform decides (where checkpoints go, which version is
next, what provenance is recorded) comes from the environment the JobSet sets
(infra.rules.distribution lists it).
"""
