"""Runbooks as tests: parse docs/runbooks/*.md and run their offline steps on a repository copy.

The conventions a runbook follows (also written down in docs/runbooks/README.md):

- A fenced ```sh block holds commands, one per line (`\\` continues a line, `#` comments).
- A ```yaml file=<path> block is the whole content of <path> (e.g. a new model file).
- A ```yaml merge=<path> block is a mapping merged into the YAML file <path> (comments and
  key order of the file kept), i.e. "add these keys to the stack file".
- Any other block (```yaml, ```text, plain ```) is an illustration and is not run.
- Runbooks use the real example names (models resnet50/mobilenet/bert-ranker, stacks
  dev/staging/prod/prod-aws), so commands run exactly as written. Placeholders (`<pod>`)
  appear only in commands that need a cloud, and sparingly.

Each command line is classified by its first word (`RULES` in runbook_lines.py):
- run offline, in order, each must exit 0: `tfplat`, `make` (plan, plan-all, validate, diff),
  `git` (against a local bare `origin`), `python3`;
- skipped BY RULE because they need a cloud account, a cluster or GitHub: `pulumi`,
  `kubectl`, `gcloud`, `aws`, `curl`, `gh`, `export` of a cloud variable; `make setup`
  (the test already runs inside the project's .venv). Skipped lines are still checked
  statically (`cloud_problems` in runbook_checks.py): stack names, resource URNs,
  Service/route/Deployment names, namespaces, pools, model names, cluster names;
- `gh pr merge` is simulated: the current branch is pushed to origin/main, which is what
  merging the pull request does, so the next step starts from the merged state;
- anything else fails the test as unclassified.

`tfplat` lines run in-process through the CLI's entry point (see `execute`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
import contextlib
from dataclasses import dataclass, field
import io
import os
from pathlib import Path
import shutil
import subprocess
import traceback
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from infra.config.errors import ConfigError
from infra.config.yamlio import edit_yaml
from tests.delivery.runbook_checks import FactsCache, cloud_problems
from tests.delivery.runbook_lines import Block, Command, commands, operators, parse_blocks

REPO = Path(__file__).resolve().parents[2]
RUNBOOKS = REPO / "docs" / "runbooks"


# --------------------------------------------------------------------------- the copy


GIT_ENV = {"GIT_AUTHOR_NAME": "runbook", "GIT_AUTHOR_EMAIL": "runbook@example.invalid",
           "GIT_COMMITTER_NAME": "runbook", "GIT_COMMITTER_EMAIL": "runbook@example.invalid",
           "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0"}


def repo_files(repo: Path = REPO) -> list[str]:
    """What the lead would commit: tracked files and untracked ones git does not ignore."""
    out = subprocess.run(["git", "-C", str(repo), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         capture_output=True, check=True).stdout.decode()
    return sorted({f for f in out.split("\0") if f and (repo / f).is_file()})


def git(root: Path, *args: str, env: Mapping[str, str] | None = None) -> str:
    proc = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=False,
                          env={**os.environ, **GIT_ENV, **(env or {})})
    if proc.returncode:
        raise RuntimeError(f"git {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


def make_repo_copy(work: Path, repo: Path = REPO) -> Path:
    """work/repo: a git repository (main, one commit) of the working tree, with a bare
    work/origin.git as `origin`, and .venv pointing at the project's venv (never committed)."""
    root = work / "repo"
    for rel in repo_files(repo):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):  # deleted since `git ls-files` (a live checkout)
            shutil.copy2(repo / rel, root / rel)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "working tree of the checkout under test")
    origin = work / "origin.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(root), str(origin)], check=True, capture_output=True)
    git(root, "remote", "add", "origin", str(origin))
    git(root, "fetch", "-q", "origin")
    git(root, "branch", "-q", "--set-upstream-to=origin/main", "main")
    # After the commit: .venv is a symlink (the `/.venv/` ignore rule only matches folders).
    (root / ".venv").symlink_to(repo / ".venv")
    with (root / ".git" / "info" / "exclude").open("a", encoding="utf-8") as fh:
        fh.write(".venv\nbuild/\n")
    return root


# --------------------------------------------------------------------------- yaml blocks


def _inside(root: Path, rel: str) -> Path:
    path = (root / rel).resolve()
    if not rel or Path(rel).is_absolute() or not path.is_relative_to(root.resolve()):
        raise ValueError(f"{rel!r} is not a path inside the repository")
    return path


def deep_merge(target: CommentedMap, patch: Mapping[str, Any]) -> None:
    for key, value in patch.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), Mapping):
            deep_merge(target[key], value)
        else:
            target[key] = value


def apply_yaml_block(root: Path, block: Block) -> str | None:
    """Write (file=) or merge (merge=) a yaml block into the copy; None if it is an illustration."""
    if "file" in block.attrs:
        path = _inside(root, block.attrs["file"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(block.body, encoding="utf-8")
        return f"wrote {block.attrs['file']}"
    if "merge" in block.attrs:
        path = _inside(root, block.attrs["merge"])
        patch = YAML().load(block.body)
        if not isinstance(patch, Mapping):
            raise ValueError("a merge= block must be a mapping")
        def merge(doc: Any) -> list[str]:
            deep_merge(doc, patch)
            return []

        path.write_text(edit_yaml(path, block.attrs["merge"], merge).after, encoding="utf-8")
        return f"merged into {block.attrs['merge']}"
    return None


# --------------------------------------------------------------------------- running


@dataclass
class Report:
    runbook: str
    ran: list[Command] = field(default_factory=list)
    skipped: list[Command] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"{self.runbook}: ran {len(self.ran)} offline commands, skipped {len(self.skipped)} by rule"]
        lines += [f"  skipped ({c.rule}): {c}" for c in self.skipped]
        lines += [f"  PROBLEM: {p}" for p in self.problems]
        return "\n".join(lines)


# Called before each offline command (e.g. to put a staged version in the model bucket).
BeforeHook = Callable[[Path, Command], None]


def run_markdown(markdown: str, root: Path, env: Mapping[str, str], *, name: str = "runbook",
                 before: BeforeHook | None = None, timeout_s: int = 600) -> Report:
    """Run every offline step of `markdown` in order inside the copy `root`; stop at the first failure."""
    report = Report(name)
    facts = FactsCache(root)
    for block in parse_blocks(markdown):
        if block.lang == "yaml":
            try:
                done = apply_yaml_block(root, block)
            except Exception as err:  # noqa: BLE001 - any failure is a runbook problem to report
                report.problems.append(f"line {block.line}: yaml block {dict(block.attrs)}: {err}")
                return report
            if done:
                report.applied.append(done)
            continue
        if block.lang != "sh":
            continue
        for cmd in commands(block):
            if cmd.kind == "unclassified":
                report.problems.append(f"{cmd}: {cmd.rule}")
                return report
            if cmd.kind == "skipped":
                report.skipped.append(cmd)
                # Checked against the repository as it is at this point of the runbook.
                try:
                    known = facts.now()
                except ConfigError as err:
                    report.problems.append(f"{cmd}: the runbook's config is broken at this point:\n{err.render()}")
                    return report
                report.problems += cloud_problems(cmd, known)
                if cmd.argv[:3] == ("gh", "pr", "merge"):
                    git(root, "push", "-q", "origin", "HEAD:main")  # what merging the PR does
                continue
            if before is not None:
                before(root, cmd)
            code, stdout, stderr = execute(cmd, root, env, timeout_s)
            report.ran.append(cmd)
            if code != 0:
                report.problems.append(f"{cmd}: exit {code}\n--- stdout\n{stdout[-4000:]}"
                                       f"\n--- stderr\n{stderr[-4000:]}")
                return report
    return report


def execute(cmd: Command, root: Path, env: Mapping[str, str], timeout_s: int) -> tuple[int, str, str]:
    """Run one offline command in the copy: (exit status, stdout, stderr).

    A plain `tfplat ...` line runs in this process through `infra.cli.main:main`, the function
    the `tfplat` console script calls, with the copy as TFPLAT_ROOT and working directory: the
    same code path, without paying a cold interpreter (and cold schema caches) per line. `make`
    runs the real Makefile with `-o setup` (the venv exists; never reinstall into it). Anything
    else, and tfplat lines with shell redirections, run through bash.
    """
    if cmd.argv[0].removeprefix(".venv/bin/") == "tfplat" and not operators(cmd.text):
        return _tfplat_in_process(cmd.argv[1:], root, env)
    argv = (["make", "-o", "setup", *cmd.argv[1:]] if cmd.argv[0] == "make"
            else ["bash", "-euo", "pipefail", "-c", cmd.text])
    proc = subprocess.run(argv, cwd=root, env=dict(env), capture_output=True, text=True,
                          timeout=timeout_s, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def _tfplat_in_process(args: Sequence[str], root: Path, env: Mapping[str, str]) -> tuple[int, str, str]:
    from infra.cli.main import main

    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    out, err = io.StringIO(), io.StringIO()
    try:
        os.environ.clear()
        os.environ.update(env)
        os.chdir(root)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exit_:  # argparse: usage errors exit 2
                code = exit_.code if isinstance(exit_.code, int) else 1
            except Exception:  # noqa: BLE001 - a crash is a runbook failure to report, with its traceback
                traceback.print_exc()
                code = 1
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    return code, out.getvalue(), err.getvalue()


def runbook_env(root: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment of the offline commands: the copy is the project root, the venv is on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TFPLAT_", "GIT_", "MAKE"))}
    env.update(GIT_ENV)
    env.update({"TFPLAT_ROOT": str(root), "PATH": f"{REPO / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"})
    env.update(extra or {})
    return env
