"""The GitHub workflows: valid, pinned, least privilege, fork-safe, and in step with the repo.

Each check lives in tests/delivery/workflows.py and returns problems; the tests below run
them on the real workflows (no problem allowed) and on deliberately broken copies (the
problem must be reported), so a check that silently stopped working would fail here too.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
import re
import shutil
from typing import Any

import pytest
import yaml

from infra.config.loader import available_stacks
from tests.delivery import workflows as w

ALL = w.load_all()


def test_the_expected_workflows_exist() -> None:
    assert {"pr.yml", "pr-comment.yml", "deploy.yml", "pulumi-up.yml", "test.yml", "release.yml"} <= set(ALL)


@pytest.mark.parametrize("name", sorted(ALL))
def test_workflow_is_valid(name: str) -> None:
    text = (w.WORKFLOWS / name).read_text(encoding="utf-8")
    assert "\t" not in text, "tabs in YAML"
    wf = ALL[name]
    problems = (w.shape_problems(name, wf) + w.permission_problems(name, wf) + w.pin_problems(name, wf, text)
                + w.run_script_problems(name, wf) + w.reusable_call_problems(name, wf))
    assert problems == []


def test_every_action_is_pinned_the_same_way_everywhere() -> None:
    assert w.consistent_pin_problems(ALL) == []


def test_every_stack_is_planned_previewed_and_deployed_in_order() -> None:
    facts = w.stack_facts(w.REPO / "stacks")
    assert sorted(facts) == available_stacks(w.REPO)  # the same notion of "a stack" as the CLI
    assert w.matrix_problems(ALL["pr.yml"], ALL["deploy.yml"], facts) == []


def test_a_new_stack_without_matrix_entries_fails(tmp_path: Path) -> None:
    stacks = tmp_path / "stacks"
    shutil.copytree(w.REPO / "stacks", stacks)
    shutil.copy(stacks / "Pulumi.dev.yaml", stacks / "Pulumi.qa.yaml")
    problems = w.matrix_problems(ALL["pr.yml"], ALL["deploy.yml"], w.stack_facts(stacks))
    assert any("plan matrix" in p and "qa" in p for p in problems), problems
    assert any("preview matrix" in p and "qa" in p for p in problems), problems
    assert any("deploy.yml deploys" in p and "qa" in p for p in problems), problems


def _mutated(name: str, old: str, new: str) -> tuple[dict[str, Any], str]:
    text = (w.WORKFLOWS / name).read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {name}: update this test"
    text = text.replace(old, new, 1)
    wf = yaml.safe_load(text)
    wf["on"] = wf.pop(True, wf.get("on"))
    return wf, text


@pytest.mark.parametrize(("name", "old", "new", "fragment"), [
    ("pr.yml", "actions/checkout@08c6903cd8c0fde910a37f88322edcfb5dd907a8", "actions/checkout@v5", "is not pinned"),
    ("pr.yml", "pulumi/actions@v6.5.0", "pulumi/actions@main", "is not pinned"),
    ("pr.yml", "# v5.0.0", "# latest", "needs its version as a comment"),
    ("pr.yml", 'make plan STACK="$STACK"', 'make plans STACK="$STACK"', "make target 'plans'"),
    ("pr.yml", ".venv/bin/tfplat diff", ".venv/bin/tfplan diff", "not installed by make setup"),
    ("pr-comment.yml", "./.github/scripts/pr-diff-comments.js", "./.github/scripts/missing.js", "does not exist"),
    ("test.yml", "    permissions:\n      contents: read\n", "", "declares no permissions"),
    ("pr.yml", "permissions: {}  # each job", "permissions: write-all  # each job", "top-level permissions"),
    ("pr.yml", "      contents: read\n    strategy:\n      fail-fast: false\n      matrix:\n        stack:",
     "      contents: write\n    strategy:\n      fail-fast: false\n      matrix:\n        stack:", "writes contents"),
    ("pulumi-up.yml", "policyPacks: policies", "policyPacks: policy", "policy pack folder policy"),
])
def test_checks_catch_a_broken_workflow(name: str, old: str, new: str, fragment: str) -> None:
    wf, text = _mutated(name, old, new)
    problems = (w.permission_problems(name, wf) + w.pin_problems(name, wf, text)
                + w.run_script_problems(name, wf) + w.reusable_call_problems(name, wf))
    assert any(fragment in p for p in problems), problems


def test_checks_catch_a_broken_order_and_a_wrong_cloud() -> None:
    deploy, _ = _mutated("deploy.yml", "  prod:\n    needs: staging", "  prod:\n    needs: dev")
    facts = w.stack_facts(w.REPO / "stacks")
    assert "deploy.yml: prod does not wait for staging" in w.matrix_problems(ALL["pr.yml"], deploy, facts)
    pr, _ = _mutated("pr.yml", "{stack: prod-aws, cloud: aws,", "{stack: prod-aws, cloud: gcp,")
    assert any("prod-aws has cloud/region" in p for p in w.matrix_problems(pr, ALL["deploy.yml"], facts))
    deploy, _ = _mutated("deploy.yml", "environment: production,\n           policy-config: policies/config/prod.json",
                         "environment: production,\n           policy-config: policies/config/staging.json")
    assert any("prod has cloud/region/policy-config" in p
               for p in w.matrix_problems(ALL["pr.yml"], deploy, facts))
    deploy, _ = _mutated("deploy.yml", "environment: production,", "environment: staging,")
    assert any("not behind the production environment" in p
               for p in w.matrix_problems(ALL["pr.yml"], deploy, facts))
    deploy, _ = _mutated("deploy.yml", "group: pulumi-prod\n", "group: deploy\n")
    assert any("concurrency group" in p for p in w.matrix_problems(ALL["pr.yml"], deploy, facts))


def test_a_private_endpoint_stack_runs_where_its_api_is_reachable() -> None:
    """prod-aws's API is private: its preview and its deploy run on the runner inside the VPC."""
    facts = w.stack_facts(w.REPO / "stacks")
    assert facts["prod-aws"].endpoint_access == "private" and facts["prod"].endpoint_access == "dns"
    deploy, _ = _mutated("deploy.yml", "runner: tfplat-prod-aws}", "runner: ubuntu-24.04}")
    assert any("prod-aws has a private API endpoint" in p for p in w.matrix_problems(ALL["pr.yml"], deploy, facts))
    pr, _ = _mutated("pr.yml", "runner: tfplat-prod-aws}", "runner: ubuntu-24.04}")
    assert any("pr.yml preview: prod-aws has a private API endpoint" in p
               for p in w.matrix_problems(pr, ALL["deploy.yml"], facts))
    # The reusable workflow runs where its caller says.
    assert w.jobs(ALL["pulumi-up.yml"])["up"]["runs-on"] == "${{ inputs.runner }}"
    assert w.jobs(ALL["pr.yml"])["preview"]["runs-on"] == "${{ matrix.runner }}"


def test_pull_request_planning_is_fork_safe() -> None:
    pr, comment = ALL["pr.yml"], ALL["pr-comment.yml"]
    text = (w.WORKFLOWS / "pr.yml").read_text(encoding="utf-8")
    assert set(w.triggers(pr)) == {"pull_request"}
    assert not any("pull_request_target" in w.triggers(wf) for wf in ALL.values())
    plan = w.jobs(pr)["plan"]
    assert "secrets." not in yaml.safe_dump(plan), "the plan job must work without secrets (forks)"
    assert "${{ github.base_ref }}" not in "".join(str(s.get("run", "")) for s in plan["steps"]), \
        "expressions go through env:, never spliced into a script"
    upload = next(s for s in plan["steps"] if str(s.get("uses", "")).startswith("actions/upload-artifact@"))
    assert upload["with"]["name"] == "tfplat-diff-${{ matrix.stack }}" and upload["with"]["path"] == "diff/"
    assert "--out diff/" in text and "diff/pr-number" in text
    preview = w.jobs(pr)["preview"]
    assert "github.event.pull_request.head.repo.full_name == github.repository" in preview["if"]
    # pr-comment.yml: runs after "PR plan", never runs PR code, posts with the script.
    on = w.triggers(comment)["workflow_run"]
    assert on["workflows"] == [pr["name"]] and on["types"] == ["completed"]
    job = w.jobs(comment)["comment"]
    assert job["permissions"] == {"actions": "read", "contents": "read", "pull-requests": "write"}
    checkout = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/checkout@"))
    assert "ref" not in checkout["with"] and "repository" not in checkout["with"], "default branch only"
    download = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/download-artifact@"))
    assert download["with"]["run-id"] == "${{ github.event.workflow_run.id }}"
    assert download["with"]["pattern"] == "tfplat-diff-*"
    for wf in ALL.values():
        for _, step in w.steps(wf):
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False


def test_pulumi_steps_use_real_inputs_and_the_policy_pack() -> None:
    found = []
    for name, wf in ALL.items():
        for job_id, step in w.steps(wf):
            if str(step.get("uses", "")).startswith("pulumi/actions@"):
                args = step["with"]
                if "command" not in args:  # install the CLI only (tfplat release drives it)
                    assert set(args) == {"pulumi-version"} and name == "release.yml", (name, args)
                    continue
                found.append((name, job_id, args["command"]))
                assert set(args) <= w.PULUMI_ACTION_INPUTS, set(args) - w.PULUMI_ACTION_INPUTS
                assert args["policyPacks"] == "policies" and args["stack-name"] and args["cloud-url"]
                assert args["policyPackConfigs"] in ("${{ matrix.policy-config }}", "${{ inputs.policy-config }}")
                assert "PULUMI_CONFIG_PASSPHRASE" in step.get("env", {})
    assert ("pr.yml", "preview", "preview") in found and ("pulumi-up.yml", "up", "up") in found
    preview = next(s for _, s in w.steps(ALL["pr.yml"]) if str(s.get("uses", "")).startswith("pulumi/actions@"))
    assert preview["with"]["comment-on-pr"] is True
    # The CLI the action installs is the one matching the SDK the program runs with.
    sdk = re.search(r"^pulumi==(\S+)$", (w.REPO / "requirements.txt").read_text(encoding="utf-8"), re.M)
    assert sdk is not None
    versions = {s["with"].get("pulumi-version") for wf in ALL.values() for _, s in w.steps(wf)
                if str(s.get("uses", "")).startswith("pulumi/actions@")}
    assert versions == {sdk.group(1)}


def _values_of(node: Any, key: str) -> Iterator[str]:
    """Every string under `key` anywhere in a parsed workflow (matrix rows, `with:` of callers)."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key and isinstance(v, str):
                yield v
            yield from _values_of(v, key)
    elif isinstance(node, list):
        for v in node:
            yield from _values_of(v, key)


def test_every_policy_pack_and_config_the_workflows_pass_exists() -> None:
    """pulumi/actions loads `policyPacks` as policy packs (PulumiPolicy.yaml naming the Python
    runtime, and the __main__.py it runs) and reads each `policyPackConfigs` file; a wrong path
    fails only in CI."""
    packs = {p for wf in ALL.values() for p in _values_of(wf, "policyPacks")}
    assert packs == {"policies"}
    for pack in packs:
        project = yaml.safe_load((w.REPO / pack / "PulumiPolicy.yaml").read_text(encoding="utf-8"))
        assert project["runtime"]["name"] == "python" and (w.REPO / pack / "__main__.py").is_file()
    configs = {c for wf in ALL.values() for key in ("policyPackConfigs", "policy-config")
               for c in _values_of(wf, key) if "${{" not in c}
    assert {"policies/config/dev.json", "policies/config/prod.json"} <= configs
    assert [c for c in sorted(configs) if not (w.REPO / c).is_file()] == []


def test_test_workflow_runs_what_ci_runs() -> None:
    """test.yml does what .ci/run does: promtool, then the same make targets in the same order."""
    ci = (w.REPO / ".ci" / "run").read_text(encoding="utf-8")
    ci_targets = [cmd[1] for cmd in w._shell_commands(ci) if cmd[0] == "make"]
    wf = ALL["test.yml"]
    runs = "\n".join(str(s.get("run", "")) for _, s in w.steps(wf))
    wf_targets = [cmd[1] for cmd in w._shell_commands(runs) if cmd[0] == "make"]
    assert wf_targets == ci_targets and "test" in wf_targets
    assert "prometheus" in runs and "promtool" in ci
    assert set(w.triggers(wf)) == {"pull_request", "push"}


def test_setup_steps_match_the_readme() -> None:
    """Python and node as the README asks (3.11+, node/npm), the same in every job."""
    pythons = {s["with"]["python-version"] for wf in ALL.values() for _, s in w.steps(wf)
               if str(s.get("uses", "")).startswith("actions/setup-python@")}
    nodes = {s["with"]["node-version"] for wf in ALL.values() for _, s in w.steps(wf)
             if str(s.get("uses", "")).startswith("actions/setup-node@")}
    assert len(pythons) == 1 and len(nodes) == 1
    (python,) = pythons
    assert tuple(int(x) for x in python.split(".")) >= (3, 11)
    assert "Python 3.11+" in (w.REPO / "README.md").read_text(encoding="utf-8")


def test_release_workflow() -> None:
    from tests.delivery.release_workflow import release_problems

    assert release_problems(ALL["release.yml"], ALL["deploy.yml"], available_stacks(w.REPO)) == []
    # The one write beyond OIDC in any workflow: the release job pushes its step commits.
    assert w.jobs(ALL["release.yml"])["release"]["permissions"] == {"contents": "write", "id-token": "write"}


@pytest.mark.parametrize(("old", "new", "fragment"), [
    ("options: [dev, staging, prod, prod-aws]", "options: [dev, staging, prod]", "choice of the stacks"),
    ("group: pulumi-${{ inputs.stack }}", "group: release-${{ inputs.stack }}", "deploy lock of the stack"),
    ("startsWith(inputs.stack, 'prod') && 'production'", "startsWith(inputs.stack, 'prod') && 'prod'",
     "must run in environment"),
    ('.venv/bin/tfplat release "$MODEL" "$@" --stack "$STACK"', '.venv/bin/tfplat release "$MODEL" "$@" --stack '
     '"${{ inputs.stack }}"', "splices an input"),
    ("        if: cancelled()\n", "        if: failure()\n", "a cancelled run must roll back"),
    ("inputs.stack == 'prod-aws' && 'tfplat-prod-aws' || 'ubuntu-24.04'", "'ubuntu-24.04'",
     "stack prod-aws would release on runner 'ubuntu-24.04'"),
    ('--stack "$STACK" --push "origin/$BRANCH" \\\n', '--stack "$STACK" \\\n', "tfplat release ... --push"),
])
def test_release_workflow_checks_catch_mistakes(old: str, new: str, fragment: str) -> None:
    from tests.delivery.release_workflow import release_problems

    wf, _ = _mutated("release.yml", old, new)
    assert any(fragment in p for p in release_problems(wf, ALL["deploy.yml"], available_stacks(w.REPO)))


def test_release_writes_contents_and_no_other_workflow_does() -> None:
    wf, _ = _mutated("pr.yml", "      contents: read\n    strategy:", "      contents: write\n    strategy:")
    assert any("writes contents" in p for p in w.permission_problems("pr.yml", wf))
    assert w.permission_problems("release.yml", ALL["release.yml"]) == []
