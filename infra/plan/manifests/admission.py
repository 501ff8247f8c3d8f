"""The image admission policies as ValidatingAdmissionPolicy objects (admissionregistration.k8s.io/v1).

The API server evaluates their CEL on every Pod it admits (controllers' pods included, so a
Deployment's pods are judged as they are created). The offline plan validates the objects
against the cluster version's schema and compiles every expression with Google's CEL
runtime; tests/admission evaluates them against allowed and refused Pods.

Both policies skip the cloud's own namespaces (matchConditions on request.namespace): GKE's
and EKS's add-ons pull from the providers' registries by tag.
"""

from __future__ import annotations

import json
from typing import Any

from infra.plan.admission import AdmissionPlan
from infra.rules import names

API = "admissionregistration.k8s.io/v1"
REGISTRIES = "tfplat-image-registries"
DIGESTS = "tfplat-image-digests"
Manifest = dict[str, Any]

#: Every image of the Pod: containers, init containers and ephemeral (debug) containers.
IMAGES = ("object.spec.containers.map(c, c.image)"
          " + (has(object.spec.initContainers) ? object.spec.initContainers.map(c, c.image) : [])"
          " + (has(object.spec.ephemeralContainers) ? object.spec.ephemeralContainers.map(c, c.image) : [])")
#: What the runtime pulls: a first element without a dot or port (and not localhost) is a
#: Docker Hub path (`grafana/grafana` -> docker.io/grafana/grafana, `busybox` ->
#: docker.io/library/busybox), as in infra.rules.admission.normalize.
NORMALIZED = ("variables.images.map(i, i.matches('^(localhost|[^/]*[.:][^/]*)/') ? i"
              " : (i.contains('/') ? 'docker.io/' + i : 'docker.io/library/' + i))")
REFUSED_SOURCES = ("variables.normalized.filter(i, !(variables.prefixes.exists(p, i.startsWith(p))"
                   " || variables.repositories.exists(r, i == r || i.startsWith(r + ':') || i.startsWith(r + '@'))))")
UNDIGESTED = "variables.images.filter(i, !i.matches('@sha256:[0-9a-f]{64}$') && !(i in variables.tagOnly))"


def _cel_list(items: Any) -> str:
    return "[" + ", ".join(json.dumps(str(i)) for i in items) + "]"


def _labels() -> dict[str, str]:
    return {names.LABEL_NAME: "tfplat-image-policy", names.LABEL_COMPONENT: "admission",
            names.LABEL_PART_OF: names.PART_OF, names.LABEL_MANAGED_BY: names.MANAGED_BY}


def _not_system(plan: AdmissionPlan) -> str:
    parts = [f"!(request.namespace in {_cel_list(plan.system_namespaces)})"]
    parts += [f"!request.namespace.startsWith({json.dumps(p)})" for p in plan.system_prefixes]
    return " && ".join(parts)


def _policy(name: str, plan: AdmissionPlan, variables: list[dict[str, str]],
            validation: dict[str, str], annotations: dict[str, str]) -> Manifest:
    return {
        "apiVersion": API, "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name, "labels": _labels(), "annotations": annotations},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [{
                "apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
                "resources": ["pods", "pods/ephemeralcontainers"]}]},
            "matchConditions": [{"name": "not-a-cloud-system-namespace", "expression": _not_system(plan)}],
            "variables": [{"name": "images", "expression": IMAGES}, *variables],
            "validations": [{**validation, "reason": "Forbidden"}],
        },
    }


def _binding(name: str, plan: AdmissionPlan, namespaces: tuple[str, ...] | None = None) -> Manifest:
    spec: dict[str, Any] = {"policyName": name,
                            "validationActions": ["Deny"] if plan.enforce else ["Warn", "Audit"]}
    if namespaces is not None:
        spec["matchResources"] = {"namespaceSelector": {"matchExpressions": [
            {"key": "kubernetes.io/metadata.name", "operator": "In", "values": list(namespaces)}]}}
    return {"apiVersion": API, "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": name, "labels": _labels()}, "spec": spec}


def registries_policy(plan: AdmissionPlan) -> Manifest:
    prefixes = [a for a in plan.allowed if a.endswith("/")]
    repositories = [a for a in plan.allowed if not a.endswith("/")]
    return _policy(REGISTRIES, plan, [
        {"name": "normalized", "expression": NORMALIZED},
        {"name": "prefixes", "expression": _cel_list(prefixes)},
        {"name": "repositories", "expression": _cel_list(repositories)},
        {"name": "refused", "expression": REFUSED_SOURCES},
    ], {"expression": "size(variables.refused) == 0",
        "messageExpression": "'image(s) from a source this cluster does not allow: ' + variables.refused.join(', ')"
                             " + ' (allowed: the images and charts tfplat deploys and"
                             " tfplat:admission.allowed_registries)'"},
        {"tfplat.dev/description": "CIS GKE 5.1.4 / EKS 5.1.4: pods pull only from the sources tfplat deploys "
                                   "and tfplat:admission.allowed_registries"})


def digests_policy(plan: AdmissionPlan) -> Manifest:
    reasons = "; ".join(f"{ref}: {why}" for ref, why in plan.tag_only.items())
    annotations = {"tfplat.dev/description": "every image pinned by digest (name@sha256:...) in the namespaces "
                                             "where tfplat picks every image"}
    if reasons:
        annotations["tfplat.dev/tag-only-waivers"] = reasons  # the written reasons, next to the exceptions
    return _policy(DIGESTS, plan, [
        {"name": "tagOnly", "expression": _cel_list(plan.tag_only)},
        {"name": "undigested", "expression": UNDIGESTED},
    ], {"expression": "size(variables.undigested) == 0",
        "messageExpression": "'image(s) not pinned by digest: ' + variables.undigested.join(', ')"
                             " + ' (pin with make pin-images, or waive in tfplat:admission.tag_only)'"},
        annotations)


def admission_objects(plan: AdmissionPlan) -> list[Manifest]:
    """Policies first: a binding names its policy."""
    return [registries_policy(plan), digests_policy(plan),
            _binding(REGISTRIES, plan), _binding(DIGESTS, plan, plan.digest_namespaces)]
