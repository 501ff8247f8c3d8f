"""`tfplat release`: a version shipped by itself, judged on live metrics, rolled back on its own.

decide.py holds every decision (pure); engine.py sequences the steps; steps.py takes one
(the runbook commands' edit, a commit, an apply); reading.py asks the metrics source;
appliers.py applies (Pulumi Automation API, or the offline plan); journal.py, report.py and
gitops.py keep the record. docs/releases.md explains the whole.
"""
