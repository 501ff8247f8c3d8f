"""The CIS catalogue and report: every item decided by a policy or by a stated reason, the
shipped production plans compliant item by item, a waiver counted as a waiver, and the doc's
map in step with the policies."""

from __future__ import annotations

from collections import Counter
import json
from pathlib import Path
import re
from typing import Any

import pytest

from infra.cli.main import main
from infra.offline.plan import engine_config, run_offline
from infra.offline.render import resources_document
from policies.tfplat_policies import POLICIES, check_records, resource_from_record, stack_waivers
from policies.tfplat_policies.cis import BY_ID, ITEMS, policies_of, report
from tests.conftest import REPO, shared_run

DOC = (REPO / "docs" / "policies.md").read_text(encoding="utf-8")


def _records(stack: str) -> list[dict[str, Any]]:
    _, result = shared_run(stack)
    records: list[dict[str, Any]] = resources_document(stack, "tfplat", result)["resources"]
    return records


def test_every_item_is_decided_by_a_policy_or_says_why_not() -> None:
    assert len(BY_ID) == len(ITEMS)
    for item in ITEMS:
        if item.kind == "policy":
            assert policies_of(item.id), item.id
        else:
            assert item.reason and not policies_of(item.id), item.id
    named = {i for p in POLICIES for i in p.cis}
    assert named <= set(BY_ID), named - set(BY_ID)
    counts = {cloud: Counter(i.kind for i in ITEMS if i.cloud == cloud) for cloud in ("gcp", "aws")}
    assert counts["gcp"] == {"policy": 42, "live": 8, "manual": 5, "gap": 2}
    assert counts["aws"] == {"policy": 33, "live": 15, "manual": 2}


def test_the_docs_map_each_item_to_its_policies() -> None:
    rows = re.findall(r"^\| ((?:GKE|EKS) [0-9.]+(?:, [0-9.]+)*) \| ((?:`[a-z0-9-]+`(?:, )?)+) \|$", DOC, re.M)
    mapped: dict[str, set[str]] = {}
    for items, names in rows:
        cloud, first = items.split(" ", 1)
        for number in first.split(", "):
            mapped.setdefault(f"{cloud} {number}", set()).update(re.findall(r"`([a-z0-9-]+)`", names))
    assert mapped == {i.id: set(policies_of(i.id)) for i in ITEMS if i.kind == "policy"}


@pytest.mark.parametrize(("stack", "waived"), [("prod", {"GKE 4.2.1"}), ("prod-aws", set())])
def test_production_plans_meet_every_decidable_item(stack: str, waived: set[str]) -> None:
    plan, _ = shared_run(stack)
    results = report([resource_from_record(r) for r in _records(stack)], plan.stack.cloud)
    assert {r.item.id for r in results if r.status == "not compliant"} == set()
    assert {r.item.id for r in results if r.status == "waived"} == waived
    assert all("(waived)" in p for r in results if r.status == "waived" for p in r.problems)


def test_dev_differs_from_production_only_where_it_chooses_to() -> None:
    results = report([resource_from_record(r) for r in _records("dev")], "gcp")
    assert {r.item.id for r in results if r.status == "not compliant"} == {
        "GKE 4.5.1", "GKE 5.1.4",  # admission warns instead of denying
        "GKE 5.6.4",  # public endpoint
        "GKE 5.9.1", "GKE 5.9.2"}  # provider-managed disk keys


def test_a_public_endpoint_in_production_is_a_visible_waiver(repo_copy: Path) -> None:
    path = repo_copy / "stacks" / "Pulumi.prod.yaml"
    text = path.read_text(encoding="utf-8").replace(
        "      access: dns",
        "      access: public\n      authorized_cidrs: [203.0.113.0/24]\n"
        "      public_waiver: \"CI runs on GitHub-hosted runners until the VPC runner exists (PLAT-123)\"")
    path.write_text(text, encoding="utf-8")
    _, result = run_offline(repo_copy, "prod")
    records = resources_document("prod", "tfplat", result)["resources"]
    waivers = stack_waivers(engine_config(repo_copy, "prod")[0])
    assert waivers == {"cluster-endpoint-private": "CI runs on GitHub-hosted runners until the VPC runner exists "
                                                   "(PLAT-123)"}
    [violation] = [v for v in check_records(records, environment="prod", waivers=waivers)
                   if v.policy == "cluster-endpoint-private"]
    assert violation.enforcement == "advisory"
    assert violation.message.startswith("waived by the stack (CI runs on GitHub-hosted runners")
    without = [v for v in check_records(records, environment="prod") if v.policy == "cluster-endpoint-private"]
    assert [v.enforcement for v in without] == ["mandatory"]
    statuses = {r.item.id: r.status for r in report([resource_from_record(r) for r in records], "gcp", waivers)}
    assert statuses["GKE 5.6.4"] == "waived"


def test_the_cli_reports_a_plan_and_another_revisions_resources(capsys: pytest.CaptureFixture[str],
                                                                 tmp_path: Path) -> None:
    doc = {"stack": "prod-aws", "resources": [r for r in _records("prod-aws")
                                              if r["type"] != "aws:eks/addon:Addon"]}
    (tmp_path / "resources.json").write_text(json.dumps(doc))
    assert main(["cis", "--resources", str(tmp_path / "resources.json"), "--fail"]) == 1
    out = capsys.readouterr().out
    assert "CIS Amazon EKS Benchmark v1.8.0" in out
    assert "EKS 4.3.1   not compliant" in out and "enforces no NetworkPolicy" in out
    assert re.search(r"compliant \d+ of 33 decidable from the plan \(0 waived, 3 not compliant\)", out), out
    assert main(["cis", "--resources", str(tmp_path / "resources.json"), "--all"]) == 0
    assert "EKS 3.2.1" in capsys.readouterr().out
