"""Who may reach the training namespaces (CIS GKE 4.3.2 / EKS 4.3.2: every namespace has a
NetworkPolicy).

- A team's namespace: its pods accept traffic only from pods of that namespace. A run's
  workers talk to each other there (TF_CONFIG's gRPC addresses, JobSet's headless Service);
  nothing outside the namespace calls a training pod.
- kueue-system and jobset-system: the controllers' webhooks (9443) and Kueue's visibility
  API (8082, an APIService) are called by the API server, which is outside the pod network,
  so those ports stay open to every source; everything else (metrics, health) only from
  the namespace itself. Kubelet probes arrive from the node, which the cluster's policy
  engines admit.

Egress stays open everywhere: workers read data and write checkpoints in the cloud's object
store, the controllers talk to the API server.
"""

from __future__ import annotations

from infra.plan.manifests.fences import Manifest, api_server_ports, same_namespace
from infra.plan.training.platform import JOBSET_NAMESPACE, KUEUE_NAMESPACE, TrainingPlan

OWNER = "tfplat-training"
SAME_NAMESPACE = "tfplat-training-same-namespace"
API_SERVER_PORTS = "tfplat-training-api-server-calls"
#: Ports of each controller the API server calls (the charts' webhook and APIService targets).
CALLED_BY_API_SERVER = {KUEUE_NAMESPACE: (9443, 8082), JOBSET_NAMESPACE: (9443,)}


def network_policies(plan: TrainingPlan) -> list[Manifest]:
    """NetworkPolicies of every namespace training creates, controllers' first."""
    env = plan.environment
    out = []
    for namespace, ports in CALLED_BY_API_SERVER.items():
        out.append(same_namespace(SAME_NAMESPACE, namespace, env, OWNER))
        out.append(api_server_ports(API_SERVER_PORTS, namespace, env, OWNER, ports))
    out += [same_namespace(SAME_NAMESPACE, ns, env, OWNER) for ns in sorted(set(plan.namespaces.values()))]
    return out
