"""The observability plan: metric catalog, alert rules, dashboards, Alertmanager routing,
tracing and the Helm values of the monitoring charts, all pure functions of the StackPlan.
"""
