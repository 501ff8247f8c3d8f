"""check_records: the offline plan's entry point, on records and on every shipped stack's real plan."""

from __future__ import annotations

import json
from typing import Any

import pytest

from policies.tfplat_policies import TierConfigError, Violation, check_records, resource_from_record
from tests.conftest import STACKS, shared_plan
from tests.policies.factories import CONTAINER, K8S, deployment, patched

# Mandatory violations the shipped stacks may have: none. (The NVIDIA device plugin runs as
# root without probes by necessity and says so in its exemption annotations; see
# test_exemptions.py.)
KNOWN_MANDATORY: dict[str, set[tuple[str, str]]] = {}


def _record(name: str, props: dict[str, Any], type_: str = K8S["Deployment"], **extra: Any) -> dict[str, Any]:
    return {"urn": f"x$${type_}::{name}", "type": type_, "name": name, "parent": None, "custom": True,
            "inputs": props, **extra}


def test_records_become_resources_with_their_dependencies() -> None:
    r = resource_from_record(_record("a", {"k": 1}, dependsOn=["u1", "u2"], options={"protect": True}))
    assert (r.name, r.props, r.dependencies, r.options) == ("a", {"k": 1}, ("u1", "u2"), {"protect": True})
    assert resource_from_record(_record("b", {}, depends_on=("u3",))).dependencies == ("u3",)


def test_violations_carry_policy_level_resource_and_fix_sorted_mandatory_first() -> None:
    bad = deployment(containers=[patched(CONTAINER, {"image": "serving:latest"})])
    records = [_record("serving-mobilenet-blue", bad)]
    found = check_records(records, environment="prod")
    # One fleet Deployment alone: no PDB, HPA, alerts, dashboard, ServiceAccount or admission policy around it.
    assert {v.policy for v in found} == {"workload-image-pinned", "fleet-pdb", "fleet-min-replicas", "model-alerts",
                                         "model-dashboard", "workload-service-account", "workload-seccomp",
                                         "image-admission-policy"}
    assert all(v.enforcement == "mandatory" for v in found)
    image = next(v for v in found if v.policy == "workload-image-pinned")
    assert image == Violation(policy="workload-image-pinned", enforcement="mandatory", urn=records[0]["urn"],
                              name="serving-mobilenet-blue", type=K8S["Deployment"],
                              message="container 'tensorflow-serving' image 'serving:latest' uses the moving tag "
                                      "'latest'", fix=image.fix)
    assert image.render().startswith("[mandatory] workload-image-pinned: kubernetes:apps/v1:Deployment "
                                     "'serving-mobilenet-blue': container")
    dev = check_records(records, environment="dev")
    assert {v.enforcement for v in dev} == {"advisory"}
    assert "fleet-min-replicas" not in {v.policy for v in dev}  # production only
    assert [v.policy for v in found] == sorted(v.policy for v in found)


def test_an_unknown_environment_is_refused() -> None:
    with pytest.raises(TierConfigError):
        check_records([], environment="qa")


@pytest.fixture(scope="module")
def plans() -> dict[str, tuple[str, list[dict[str, Any]]]]:
    out: dict[str, tuple[str, list[dict[str, Any]]]] = {}
    for stack in STACKS:
        outcome, build = shared_plan(stack)
        doc = json.loads((build / stack / "resources.json").read_text())
        out[stack] = (outcome.plan.stack.environment, doc["resources"])
    return out


@pytest.mark.parametrize("stack", STACKS)
def test_shipped_stacks_have_no_mandatory_violations_at_their_tier(
        stack: str, plans: dict[str, tuple[str, list[dict[str, Any]]]]) -> None:
    environment, records = plans[stack]
    found = check_records(records, environment=environment)
    mandatory = {(v.policy, v.urn) for v in found if v.enforcement == "mandatory"}
    assert mandatory == KNOWN_MANDATORY.get(stack, set()), "\n".join(v.render() for v in found)


#: What dev and staging choose differently from production, on purpose (their stack files and
#: tier defaults): one replica, a public API endpoint without a waiver, Google-managed disk
#: keys, image admission that warns instead of denying; dev also has no TLS at its gateway.
NOT_PROD = {"fleet-min-replicas", "cluster-endpoint-private", "gke-boot-disk-cmek", "volumes-cmek",
            "image-admission-policy"}
NOT_PROD_BY_STACK = {"dev": NOT_PROD | {"gateway-https-only"}, "staging": NOT_PROD}


@pytest.mark.parametrize("stack", STACKS)
def test_shipped_stacks_pass_every_policy_even_as_production(
        stack: str, plans: dict[str, tuple[str, list[dict[str, Any]]]]) -> None:
    """dev and staging are advisory, not exempt: judged as prod they fail exactly the settings they choose
    differently from production (each of them), and nothing else."""
    _, records = plans[stack]
    found = {(v.policy, v.urn) for v in check_records(records, environment="prod")}
    expected = NOT_PROD_BY_STACK.get(stack, set())
    assert {f[0] for f in found} - {k for k, _ in KNOWN_MANDATORY.get(stack, set())} == expected
    assert {f for f in found if f[0] not in expected} == KNOWN_MANDATORY.get(stack, set())


def test_the_policies_see_the_plans_secrets_masked(plans: dict[str, tuple[str, list[dict[str, Any]]]]) -> None:
    """The grafana admin Secret of every plan is wrapped; unwrapping it is caught (the check is live)."""
    _, records = plans["dev"]
    secret = next(r for r in records if r["type"] == K8S["Secret"])
    assert check_records([secret], environment="prod") == []
    leaked = {**secret, "inputs": {**secret["inputs"], "stringData": {"admin-password": "hunter2"}}}
    assert [v.policy for v in check_records([leaked], environment="prod")] == ["secret-values-wrapped"]

