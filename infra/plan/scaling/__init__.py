"""How serving fleets scale: KEDA (its pinned chart) and one ScaledObject per model color,
whose triggers read the same queries as the alerts, dashboards and release analysis."""
