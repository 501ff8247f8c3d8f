"""Where images come from: an admission policy that refuses unapproved sources and undigested
images, and nodes that can only read registries.

The admission rules themselves are CEL in ValidatingAdmissionPolicies the API server runs
(infra/plan/manifests/admission.py renders them; tests evaluate their CEL against Pods).
This policy checks that the stack has them and binds them to deny.
"""

from __future__ import annotations

from collections.abc import Sequence

from .model import Finding, Resource, Settings, StackPolicy, as_list, dig, object_name
from .workloads import pod_spec

VAP = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy"
BINDING = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
GKE_POOL = "gcp:container/nodePool:NodePool"
GCP_PROJECT_MEMBER = "gcp:projects/iAMMember:IAMMember"
EKS_NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
REQUIRED = ["tfplat-image-registries", "tfplat-image-digests"]
#: Roles that let a node push or administer images (or do anything at all).
GCP_WRITE_ROLES = frozenset({
    "roles/owner", "roles/editor", "roles/artifactregistry.writer", "roles/artifactregistry.repoAdmin",
    "roles/artifactregistry.admin", "roles/artifactregistry.createOnPushWriter",
    "roles/artifactregistry.createOnPushRepoAdmin", "roles/storage.admin", "roles/storage.objectAdmin",
    "roles/storage.objectCreator", "roles/storage.legacyBucketWriter", "roles/storage.legacyBucketOwner"})
AWS_WRITE_POLICIES = ("AmazonEC2ContainerRegistryFullAccess", "AmazonEC2ContainerRegistryPowerUser",
                      "AdministratorAccess", "PowerUserAccess")


def _matches_pods(policy: Resource) -> bool:
    rules = as_list(dig(policy.props, "spec", "matchConstraints", "resourceRules"))
    return any("pods" in as_list(dig(r, "resources")) for r in rules)


def _runs_pods(resources: Sequence[Resource]) -> bool:
    return any(pod_spec(r.type, r.props) is not None or r.type == HELM_RELEASE for r in resources)


def check_admission(resources: Sequence[Resource], settings: Settings) -> list[Finding]:
    if not _runs_pods(resources):
        return []  # nothing to admit
    policies = {object_name(r.props): r for r in resources if r.type == VAP}
    bindings = [r for r in resources if r.type == BINDING]
    fix = "keep the image admission policies tfplat renders (infra/plan/manifests/admission.py)"
    out = []
    for name in (str(n) for n in as_list(settings.get("requiredPolicies", REQUIRED))):
        policy = policies.get(name)
        if policy is None or not _matches_pods(policy):
            out.append(Finding(f"no ValidatingAdmissionPolicy {name!r} judges Pods: any image may run", fix))
            continue
        actions = [a for b in bindings if dig(b.props, "spec", "policyName") == name
                   for a in as_list(dig(b.props, "spec", "validationActions"))]
        if "Deny" not in actions:
            out.append(Finding(f"ValidatingAdmissionPolicy {name!r} is bound with {sorted(set(actions)) or 'nothing'}, "
                               "not Deny: an image it refuses still runs", "production binds it with Deny "
                               "(tfplat:environment: prod)", policy))
    return out


def _node_accounts(resources: Sequence[Resource]) -> set[str]:
    return {str(dig(r.props, "nodeConfig", "serviceAccount")) for r in resources if r.type == GKE_POOL}


def check_registry_read_only(resources: Sequence[Resource], settings: Settings) -> list[Finding]:
    out = []
    accounts = _node_accounts(resources)
    for member in (r for r in resources if r.type == GCP_PROJECT_MEMBER):
        who = str(member.props.get("member", "")).removeprefix("serviceAccount:")
        if who in accounts and member.props.get("role") in GCP_WRITE_ROLES:
            out.append(Finding(f"the nodes' service account holds {member.props.get('role')}: a compromised node can "
                               "replace the images every cluster pulls",
                               "nodes need roles/artifactregistry.reader only (NODE_ROLES in infra/components/gcp.py)",
                               member, cis=("GKE 5.1.3",)))
    roles = {u for g in resources if g.type == EKS_NODE_GROUP for u in g.dependencies}
    for attachment in (r for r in resources if r.type == ATTACHMENT):
        arn = str(attachment.props.get("policyArn", ""))
        node_role = any(attachment.depends_on(r) for r in resources if r.urn in roles and r.type == "aws:iam/role:Role")
        if node_role and arn.endswith(AWS_WRITE_POLICIES):
            out.append(Finding(f"the node role has {arn.rsplit('/', 1)[-1]}: a compromised node can push images",
                               "nodes need AmazonEC2ContainerRegistryReadOnly only (NODE_POLICIES in "
                               "infra/components/aws.py)", attachment, cis=("EKS 5.1.3",)))
    return out


POLICIES = (
    StackPolicy(
        id="image-admission-policy", cis=("GKE 4.5.1", "GKE 5.1.4", "EKS 5.1.4"), severity="high",
        check=check_admission,
        config_schema={"requiredPolicies": {"type": "array", "items": {"type": "string"}, "default": REQUIRED,
                                            "description": "ValidatingAdmissionPolicies that must exist, bound "
                                                           "with Deny."}},
        description="Pods are admitted only with images from allowed sources, pinned by digest where tfplat picks "
                    "them: the image ValidatingAdmissionPolicies exist and are bound with Deny.",
        remediation="Keep tfplat's image admission policies; production binds them with Deny."),
    StackPolicy(
        id="node-registry-read-only", cis=("GKE 5.1.3", "EKS 5.1.3"), severity="high",
        check=check_registry_read_only,
        description="Nodes can read container registries and never write them.",
        remediation="Give nodes read-only registry access (Artifact Registry reader; ECR read-only)."),
)
