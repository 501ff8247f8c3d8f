""".github/scripts/pr-diff-comments.js under node, with a fake GitHub client.

The diff files are made by the real infra.offline.diff.to_markdown, so a change of the marker
line on either side breaks these tests. The script runs in a job with `pull-requests: write`
on input made by untrusted (fork) code: the refusals are tested as much as the happy path.
"""

from __future__ import annotations

import json
from pathlib import Path
import shutil
import subprocess
from typing import Any

import pytest

from infra.offline.diff import MARKER, diff_docs, to_markdown
from tests.delivery.workflows import REPO

SCRIPT = REPO / ".github" / "scripts" / "pr-diff-comments.js"
NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed (the README requires it)")

HARNESS = r"""
const fs = require('fs');
const post = require(process.argv[2]);
const state = JSON.parse(fs.readFileSync(process.argv[3], 'utf8'));
const calls = [];
const github = {
  paginate: async (fn, params) => (await fn(params)).data,
  rest: {
    issues: {
      listComments: async (p) => { calls.push(['list', p.issue_number]); return { data: state.comments }; },
      createComment: async (p) => { calls.push(['create', p.issue_number, p.body]); return { data: { id: 1 } }; },
      updateComment: async (p) => { calls.push(['update', p.comment_id, p.body]); return { data: {} }; },
    },
    pulls: {
      get: async (p) => { calls.push(['pull', p.pull_number]); return { data: { head: { sha: state.prHead } } }; },
    },
  },
};
const context = {
  repo: { owner: 'acme', repo: 'tfplat' },
  payload: { workflow_run: { id: 7, head_sha: state.runHead } },
};
const core = {
  info: () => {},
  warning: (m) => calls.push(['warning', m]),
  setFailed: (m) => calls.push(['failed', m]),
};
post({ github, context, core, dir: process.argv[4] })
  .then((result) => console.log(JSON.stringify({ calls, result })))
  .catch((e) => { console.error(e); process.exit(1); });
"""

HEAD = "0123456789abcdef0123456789abcdef01234567"
BOT = "github-actions[bot]"


def _markdown(stack: str) -> str:
    return to_markdown(diff_docs(stack, None, {"resources": []}), base_label="main", head_label="head")


def _run(tmp_path: Path, files: dict[str, str], *, comments: list[dict[str, Any]] | None = None,
         pr_head: str = HEAD, pr_number: str = "42") -> dict[str, Any]:
    diff_dir = tmp_path / "tfplat-diff"
    diff_dir.mkdir()
    for name, text in files.items():
        (diff_dir / name).write_text(text, encoding="utf-8")
    if pr_number:
        (diff_dir / "pr-number").write_text(pr_number + "\n", encoding="utf-8")
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"comments": comments or [], "prHead": pr_head, "runHead": HEAD}), encoding="utf-8")
    harness = tmp_path / "harness.js"
    harness.write_text(HARNESS, encoding="utf-8")
    assert NODE is not None
    proc = subprocess.run([NODE, str(harness), str(SCRIPT), str(state), str(diff_dir)],
                          capture_output=True, text=True, check=False, timeout=60)
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def test_one_comment_per_stack_is_created(tmp_path: Path) -> None:
    files = {f"{s}.md": _markdown(s) for s in ("dev", "prod", "prod-aws", "staging")}
    out = _run(tmp_path, files)
    created = [c for c in out["calls"] if c[0] == "create"]
    assert [(c[1], c[2]) for c in created] == [(42, files[f"{s}.md"]) for s in ("dev", "prod", "prod-aws", "staging")]
    assert out["result"]["created"] == ["dev", "prod", "prod-aws", "staging"]
    assert ["pull", 42] in out["calls"]  # the PR's head was checked before anything was posted


def test_the_previous_comment_is_updated_in_place(tmp_path: Path) -> None:
    old = MARKER.format(stack="dev") + "\nold diff\n"
    comments = [
        {"id": 5, "user": {"login": "someone"}, "body": MARKER.format(stack="prod") + "\nplanted by a user"},
        {"id": 9, "user": {"login": BOT}, "body": old},
        {"id": 11, "user": {"login": BOT}, "body": _markdown("staging")},
    ]
    files = {f"{s}.md": _markdown(s) for s in ("dev", "prod", "staging")}
    out = _run(tmp_path, files, comments=comments)
    assert ["update", 9, files["dev.md"]] in out["calls"]
    # A user's comment with the marker is never edited; the bot makes its own.
    assert ["create", 42, files["prod.md"]] in out["calls"]
    assert not any(c[0] == "update" and c[1] == 5 for c in out["calls"])
    assert out["result"] == {"created": ["prod"], "updated": ["dev"], "unchanged": ["staging"], "rejected": []}


def test_a_run_for_another_head_posts_nothing(tmp_path: Path) -> None:
    """The artifact names PR 42, but 42's head is not what this run built: stale or forged."""
    out = _run(tmp_path, {"dev.md": _markdown("dev")}, pr_head="f" * 40)
    assert not any(c[0] in ("create", "update", "list") for c in out["calls"])
    assert any(c[0] == "warning" and "not commenting" in c[1] for c in out["calls"])


@pytest.mark.parametrize(("name", "text"), [
    ("dev.md", "hello @everyone, no marker\n"),               # not a diff
    ("prod.md", MARKER.format(stack="dev") + "\n"),           # marker of another stack
    ("Dev.md", MARKER.format(stack="Dev") + "\n"),            # not a stack name
    ("notes.txt", "x\n"),                                     # not a .md file
])
def test_untrusted_files_are_refused(tmp_path: Path, name: str, text: str) -> None:
    out = _run(tmp_path, {name: text, "staging.md": _markdown("staging")})
    assert [c[2] for c in out["calls"] if c[0] == "create"] == [_markdown("staging")]
    assert len(out["result"]["rejected"]) == 1


def test_a_bad_pull_request_number_fails_without_posting(tmp_path: Path) -> None:
    out = _run(tmp_path, {"dev.md": _markdown("dev")}, pr_number="42; rm -rf /")
    assert any(c[0] == "failed" for c in out["calls"])
    assert not any(c[0] in ("create", "update", "pull") for c in out["calls"])


def test_an_oversized_diff_is_truncated(tmp_path: Path) -> None:
    big = _markdown("dev") + "| ~ | `x` | `t` | " + "y" * 70000 + " |\n"
    out = _run(tmp_path, {"dev.md": big})
    (body,) = [c[2] for c in out["calls"] if c[0] == "create"]
    assert len(body) < 65536 and body.startswith(MARKER.format(stack="dev"))
    assert "truncated" in body and "tfplat-diff-dev" in body


def test_no_diffs_is_not_an_error(tmp_path: Path) -> None:
    out = _run(tmp_path, {}, pr_number="")
    assert out["calls"] == [] and out["result"]["created"] == []
