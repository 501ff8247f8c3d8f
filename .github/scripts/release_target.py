"""What the release workflow needs to know about a stack, as GITHUB_OUTPUT lines.

    .venv/bin/python .github/scripts/release_target.py <stack> >> "$GITHUB_OUTPUT"

cloud, region, the cluster's name and location and how its API is reached (for kubectl
credentials: GKE's DNS endpoint needs `--dns-endpoint`), the GCP project,
and where releases read metrics (in-cluster: the workflow port-forwards to the monitoring
layer's Prometheus Service). Read with tfplat's own loader, so a broken stack file stops
the job here with the usual error (exit 2).
"""

from __future__ import annotations

import sys

from infra.cli.release_setup import PROMETHEUS_PORT
from infra.config.errors import ConfigError
from infra.config.loader import load, project_root
from infra.plan.monitoring.values import KPS_FULLNAME
from infra.plan.stack import plan_stack


def main(stack: str) -> int:
    try:
        plan = plan_stack(load(project_root(), stack))
    except ConfigError as err:
        print(err.render(), file=sys.stderr)
        return 2
    s = plan.stack
    facts = {
        "cloud": s.cloud, "region": s.region, "environment": s.environment,
        "cluster": plan.cloud.cluster_name, "location": plan.cloud.location,
        "endpoint_access": plan.cloud.endpoint_access,
        "gcp_project": s.gcp.project if s.gcp else "",
        "metrics": s.metrics_source.kind,
        "prometheus_service": f"svc/{KPS_FULLNAME}-prometheus", "prometheus_port": str(PROMETHEUS_PORT),
        "monitoring_namespace": s.monitoring.namespace,
    }
    print("\n".join(f"{k}={v}" for k, v in facts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
