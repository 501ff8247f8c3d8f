"""Runbooks cannot drift from the CLI, the stack keys or the rollout rules: they are run.

Every runbook of docs/runbooks/ is executed on its own copy of the repository (the rules:
tests/delivery/runbooks.py, runbook_lines.py, runbook_checks.py), with a local S3 server standing in for the model
buckets so that `tfplat stage` runs its real preflight. The broken-runbook tests at the end
feed the same runner small runbooks with one mistake each and check that it is caught.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
import re

import boto3
import pytest

from infra.config.loader import load
from infra.plan.cluster import model_bucket_name
from tests.cli.fake_apiserver import fake_cluster
from tests.delivery import runbook_checks as checks
from tests.delivery import runbook_lines as lines
from tests.delivery import runbooks as rb
from tests.storage_servers import gcs_put, gcs_server, s3_server

ALL_RUNBOOKS = sorted(p.name for p in rb.RUNBOOKS.glob("*.md"))
#: An alert's runbook follows the alert (what fired, the dashboard, what to do), not the
#: procedure sections; its commands need the live cluster, so it runs no offline command.
ALERT_RUNBOOKS = frozenset({"latency-alert.md"})
DELIVERY_RUNBOOKS = sorted(set(ALL_RUNBOOKS) - ALERT_RUNBOOKS - {"README.md"})
SECTIONS = ("When to use", "Prerequisites", "Steps", "Verification", "Rollback")


@dataclass(frozen=True)
class Buckets:
    s3: str  # moto's S3 server: the model buckets of AWS stacks
    gcs: str  # the GCS emulator: the model buckets of GCP stacks


@pytest.fixture
def buckets(monkeypatch: pytest.MonkeyPatch) -> Iterator[Buckets]:
    """Local S3 and GCS servers holding every stack's model buckets."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with s3_server() as s3, gcs_server() as gcs:
        yield Buckets(s3=s3, gcs=gcs)


def _upload_staged_version(endpoints: Buckets) -> rb.BeforeHook:
    """Before `tfplat stage M V --stack S`: put V's saved_model.pb where the preflight looks
    (the runbooks' prerequisite "the version is in the bucket")."""
    client = boto3.client("s3", endpoint_url=endpoints.s3, region_name="us-east-1")

    def hook(root: Path, cmd: lines.Command) -> None:
        argv = [a for a in cmd.argv if a != "--skip-preflight"]
        if argv[:2] not in (["tfplat", "stage"], [".venv/bin/tfplat", "stage"]):
            return
        stack = next(argv[i + 1] for i, a in enumerate(argv) if a in ("--stack", "-s"))
        model, version = [a for i, a in enumerate(argv[2:], 2) if not a.startswith("-")
                          and argv[i - 1] not in ("--stack", "-s")][:2]
        try:
            loaded = load(root, stack)
        except Exception:  # noqa: BLE001 - a broken config fails the command itself, with its message
            return
        spec = loaded.models.get(model)
        if spec is None:
            return
        bucket = spec.artifact.bucket or model_bucket_name(loaded.stack)
        key = f"{spec.artifact.prefix}/{version}/saved_model.pb"
        if loaded.stack.cloud == "gcp":
            gcs_put(endpoints.gcs, bucket, key)
        else:
            client.create_bucket(Bucket=bucket)
            client.put_object(Bucket=bucket, Key=key, Body=b"pb")

    return hook


def _env(root: Path, endpoints: Buckets) -> dict[str, str]:
    """The commands find the local servers through each client library's own variable."""
    return rb.runbook_env(root, {"AWS_ENDPOINT_URL": endpoints.s3, "STORAGE_EMULATOR_HOST": endpoints.gcs,
                                 "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                                 "AWS_EC2_METADATA_DISABLED": "true"})


def _run(markdown: str, tmp_path: Path, endpoints: Buckets, name: str = "runbook") -> rb.Report:
    root = rb.make_repo_copy(tmp_path)
    # `tfplat train` submits through the Kubernetes client: the cluster is an HTTP-level stand-in
    # for the API server (tests/cli/fake_apiserver.py), found through KUBECONFIG as a real one is.
    with fake_cluster() as cluster:
        env = {**_env(root, endpoints), "KUBECONFIG": str(cluster.kubeconfig(tmp_path / "kubeconfig"))}
        return rb.run_markdown(markdown, root, env, name=name, before=_upload_staged_version(endpoints))


# --------------------------------------------------------------------------- the real runbooks


@pytest.mark.parametrize("name", ALL_RUNBOOKS)
def test_runbook_runs_as_written(name: str, tmp_path: Path, buckets: Buckets) -> None:
    markdown = (rb.RUNBOOKS / name).read_text(encoding="utf-8")
    report = _run(markdown, tmp_path, buckets, name)
    assert not report.problems, report.summary()
    if name in DELIVERY_RUNBOOKS and name != "state-backend.md":  # state-backend is Pulumi CLI only
        assert report.ran, f"{name} runs no offline command: nothing of it is checked\n{report.summary()}"


@pytest.mark.parametrize("name", DELIVERY_RUNBOOKS)
def test_runbook_has_the_standard_sections(name: str) -> None:
    headings = re.findall(r"^## (.+)$", (rb.RUNBOOKS / name).read_text(encoding="utf-8"), re.M)
    found = [h for h in headings if h in SECTIONS]
    assert found == list(SECTIONS), f"{name}: sections {headings}, want {SECTIONS} in this order"


@pytest.mark.parametrize("name", ALL_RUNBOOKS)
def test_links_resolve(name: str) -> None:
    text = (rb.RUNBOOKS / name).read_text(encoding="utf-8")
    missing = [t for t in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
               if "://" not in t and not (rb.RUNBOOKS / t).exists()]
    assert missing == []


def test_index_lists_every_runbook() -> None:
    index = (rb.RUNBOOKS / "README.md").read_text(encoding="utf-8")
    linked = set(re.findall(r"\]\(([\w.-]+\.md)\)", index))
    assert set(ALL_RUNBOOKS) - {"README.md"} <= linked


def test_index_states_the_skip_rules_the_test_applies() -> None:
    """The README's convention section and the runner agree on what is skipped, and why."""
    skipped = sorted(word for word, (kind, _) in lines.RULES.items() if kind == "skipped")
    assert skipped == ["aws", "curl", "gcloud", "gh", "kubectl", "pulumi"]
    offline = sorted(word for word, (kind, _) in lines.RULES.items() if kind == "offline")
    assert offline == ["git", "make", "python3", "tfplat"]
    index = (rb.RUNBOOKS / "README.md").read_text(encoding="utf-8")
    conventions = index[index.index("## Conventions"):]
    for word in [*skipped, *offline]:
        assert f"`{word}`" in conventions, word
    for target in lines.OFFLINE_MAKE_TARGETS - {"plan-all"}:
        assert f"`{target}`" in conventions, target


# --------------------------------------------------------------------------- the runner itself


def test_parsing_blocks_and_lines() -> None:
    md = ("text\n```sh\n# a comment\ntfplat plan \\\n  --stack dev   # trailing\n\nkubectl get pods\n```\n"
          "```yaml merge=stacks/Pulumi.dev.yaml\nconfig: {}\n```\n~~~text\ntfplat not run\n~~~\n")
    blocks = lines.parse_blocks(md)
    assert [(b.lang, dict(b.attrs)) for b in blocks] == [
        ("sh", {}), ("yaml", {"merge": "stacks/Pulumi.dev.yaml"}), ("text", {})]
    cmds = lines.commands(blocks[0])
    assert [(c.argv, c.kind, c.line) for c in cmds] == [
        (("tfplat", "plan", "--stack", "dev"), "offline", 4), (("kubectl", "get", "pods"), "skipped", 7)]


def test_real_urns_chain_parent_types() -> None:
    doc = {"resources": [
        {"urn": "pulumi:pulumi:Stack$tfplat:gcp:Cluster::gke", "type": "tfplat:gcp:Cluster", "name": "gke",
         "parent": "pulumi:pulumi:Stack::tfplat-dev"},
        {"urn": "tfplat:gcp:Cluster$gcp:container/nodePool:NodePool::gke-l4", "name": "gke-l4",
         "type": "gcp:container/nodePool:NodePool", "parent": "pulumi:pulumi:Stack$tfplat:gcp:Cluster::gke"}]}
    assert checks.real_urns(doc, "dev") == {
        "urn:pulumi:dev::tfplat::tfplat:gcp:Cluster::gke",
        "urn:pulumi:dev::tfplat::tfplat:gcp:Cluster$gcp:container/nodePool:NodePool::gke-l4"}


@pytest.mark.parametrize(("markdown", "fragment"), [
    # A flag the CLI does not have.
    ("```sh\ntfplat canary resnet50 --percent 10 --stack prod\n```\n", "unrecognized arguments"),
    # A step the rollout rules refuse: dev's mobilenet has nothing staged to switch to.
    ("```sh\ntfplat switch mobilenet --stack dev\n```\n", "the idle color green has no version to switch to"),
    # A stack key that does not exist, merged into the stack file, then validated.
    ("```yaml merge=stacks/Pulumi.prod.yaml\nconfig:\n  tfplat:node_pools:\n    l4:\n      max_node: 16\n```\n"
     "```sh\ntfplat validate --stack prod\n```\n", "max_node"),
    # TPU bounds that are not whole slices.
    ("```yaml merge=stacks/Pulumi.prod.yaml\nconfig:\n  tfplat:node_pools:\n    big:\n"
     "      accelerator: {type: tpu-v5-lite-podslice, topology: 4x4}\n      min_nodes: 0\n      max_nodes: 6\n"
     "      zones: [us-central1-a]\n```\n```sh\ntfplat validate --stack prod\n```\n", "whole number of 4x4 slices"),
    # A make target that is not an offline one, and one that does not exist.
    ("```sh\nmake test\n```\n", "not offline targets"),
    ("```sh\nmake plans STACK=dev\n```\n", "not offline targets"),
    # A command with no rule, and a compound line.
    ("```sh\nrm -rf build\n```\n", "has no rule"),
    ("```sh\ntfplat status && tfplat validate\n```\n", "one command per line"),
    # Cloud lines are checked statically: stack, URN, Service, route, pool, model, cluster.
    ("```sh\npulumi up -s qa\n```\n", "stack 'qa' does not exist"),
    ("```sh\npulumi up -s prod --policy-pack policies\n```\n", "give each --policy-pack its --policy-pack-config"),
    ("```sh\npulumi up -s prod --policy-pack policies --policy-pack-config policies/config/qa.json\n```\n",
     "policy pack config 'policies/config/qa.json' does not exist"),
    ("```sh\npulumi destroy -s dev --target 'urn:pulumi:dev::tfplat::tfplat:serving:Fleet::nope'\n```\n",
     "is not a resource of stack dev"),
    ("```sh\nkubectl -n serving port-forward svc/resnet50-purple 8501:8501\n```\n", "svc 'resnet50-purple'"),
    ("```sh\nkubectl -n serving get httproute resnet50-http\n```\n", "httproute 'resnet50-http'"),
    ("```sh\nkubectl get nodes -l tfplat.dev/pool=h100\n```\n", "node pool 'h100'"),
    ("```sh\ncurl -sf http://localhost:8501/v1/models/resnet5/versions/9/metadata\n```\n", "model 'resnet5'"),
    ("```sh\ngcloud container clusters get-credentials tfplat-qa --location us-central1\n```\n",
     "cluster 'tfplat-qa'"),
])
def test_a_broken_runbook_is_caught(markdown: str, fragment: str, tmp_path: Path, buckets: Buckets) -> None:
    report = _run(markdown, tmp_path, buckets)
    assert any(fragment in p for p in report.problems), report.summary()


def test_stage_and_canary_in_one_change_is_caught(tmp_path: Path, buckets: Buckets) -> None:
    """The transition rules: without a merge (and apply) between stage and canary, the canary
    command itself refuses (it compares with the committed stack file), changing nothing."""
    steps = ("```sh\ngit switch -c too-fast origin/main\ntfplat stage resnet50 9 --stack prod\n"
             "tfplat canary resnet50 10 --stack prod\n```\n")
    report = _run(steps, tmp_path, buckets)
    assert any("canary resnet50 10 --stack prod: exit 2" in p and "not running yet" in p
               and "commit this change and apply it" in p for p in report.problems), report.summary()


def test_merging_between_steps_makes_the_same_steps_safe(tmp_path: Path, buckets: Buckets) -> None:
    steps = ("```sh\ngit switch -c stage origin/main\ntfplat stage resnet50 9 --stack prod\n"
             "git commit -am stage\ngh pr merge --squash\n```\n"
             "```sh\ngit fetch origin\ngit switch -c canary origin/main\ntfplat canary resnet50 10 --stack prod\n"
             "tfplat diff --stack prod --fail-on-unsafe\n```\n")
    report = _run(steps, tmp_path, buckets)
    assert not report.problems, report.summary()
    assert [c.argv[0] for c in report.skipped] == ["gh"]


def test_stage_preflight_really_runs(tmp_path: Path, buckets: Buckets) -> None:
    """Without the upload hook, staging a version that is not in the bucket is refused."""
    root = rb.make_repo_copy(tmp_path)
    env = _env(root, buckets)
    report = rb.run_markdown("```sh\ntfplat stage resnet50 9 --stack prod\n```\n", root, env)
    assert any("preflight failed" in p for p in report.problems), report.summary()


REAL_RUNBOOK_BREAKS = [  # (runbook, text, replaced by, problem expected)
    ("ship-a-version.md", "tfplat status --stack prod\n", "tfplat status --stack production\n",
     'no stack named "production"'),
    ("roll-back.md", "tfplat rollback mobilenet --stack staging\n", "tfplat rollback mobilenet --stack staging --now\n",
     "unrecognized arguments: --now"),
    ("add-a-model.md", "    memory: 2Gi\n", "    memory: 2 GB\n", "memory"),
    ("scale-a-pool.md", "      max_nodes: 16\n", "      max_node: 16\n", "max_node"),
    ("tear-down.md", "NodePool::gke-cpu'", "NodePool::gke-cpus'", "is not a resource of stack staging"),
    ("state-backend.md", "pulumi stack select dev --create", "pulumi stack select development --create",
     "stack 'development' does not exist"),
]


@pytest.mark.parametrize("case", REAL_RUNBOOK_BREAKS, ids=[c[0] for c in REAL_RUNBOOK_BREAKS])
def test_a_broken_real_runbook_fails(case: tuple[str, str, str, str], tmp_path: Path, buckets: Buckets) -> None:
    name, old, new, fragment = case
    text = (rb.RUNBOOKS / name).read_text(encoding="utf-8")
    assert old in text, f"{old!r} is no longer in {name}: pick another line to break"
    report = _run(text.replace(old, new, 1), tmp_path, buckets, name)
    assert any(fragment in p for p in report.problems), report.summary()
