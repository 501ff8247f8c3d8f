"""tfplat diff: plan each stack at two revisions and print the desired-state diff (Markdown).

Each revision is planned by its own code (`git archive` into a temp folder, then its
`python -m infra.cli plan` in a subprocess), so the diff shows what each revision would
really deploy (a revision's plan is kept by content: infra.cli.revision_cache). A revision
whose code is the running code (it differs in config only: infra.cli.revision_code), and the
working tree, are planned in this process.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
from pathlib import Path
import shutil
import subprocess
import sys
import tarfile
import tempfile
import traceback
from typing import Any

from infra import atomic
from infra.bounded_yaml import YamlFileError
from infra.cli.committed import committed, step_limits
from infra.config.errors import ConfigError
from infra.config.loader import available_stacks, project_root, stack_file
from infra.offline.diff import diff_docs, to_markdown
from infra.plan.guards import StepLimits

Doc = dict[str, Any] | None


class GitError(RuntimeError):
    pass


def _git(root: Path, *args: str) -> str:
    proc = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise GitError(f"git {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout.strip()


def default_base(root: Path) -> str:
    """The merge base with main (origin/main first), else HEAD."""
    for ref in ("origin/main", "main"):
        try:
            return _git(root, "merge-base", "HEAD", ref)
        except GitError:
            continue
    return _git(root, "rev-parse", "HEAD")


def _export(root: Path, rev: str, dest: Path) -> None:
    archive = dest.with_suffix(".tar")
    with archive.open("wb") as fh:
        proc = subprocess.run(["git", "-C", str(root), "archive", "--format=tar", rev], stdout=fh,
                              stderr=subprocess.PIPE, check=False)
    if proc.returncode != 0:
        raise GitError(f"git archive {rev}: {proc.stderr.decode().strip()}")
    def safe(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo | None:
        # A committed symlink that points outside the tree (e.g. an absolute .venv link) is
        # skipped rather than followed; nothing the plan needs lives behind one.
        try:
            return tarfile.data_filter(member, path)
        except tarfile.FilterError:
            return None

    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter=safe)
    # The CRD validator's node_modules are not in git; reuse the running checkout's.
    from infra.offline.crd_validate import TOOL_DIR

    modules = TOOL_DIR / "node_modules"
    target = dest / "tools" / "crd-validate"
    if modules.is_dir() and target.is_dir() and not (target / "node_modules").exists():
        (target / "node_modules").symlink_to(modules)


def _tool_env() -> dict[str, str]:
    """The running checkout's helm and chart cache, for a revision exported without them."""
    from infra.engines.chartstore import ChartStore
    from infra.engines.tools import checkov_path, helm_path

    return {"TFPLAT_HELM": str(helm_path()), "TFPLAT_CHECKOV": str(checkov_path()),
            "TFPLAT_CHART_CACHE": str(ChartStore.from_env().cache_dir)}


def plan_revision(root: Path, rev: str, stacks: list[str], work: Path) -> dict[str, tuple[Doc, str | None]]:
    """{stack: (resources document or None, note)} for a git revision. A stack planned before at
    the same tree, on the same interpreter, packages, tools and settings, is read back
    (infra.cli.revision_cache); the revision is exported only when one is not, and planned in
    this process when its code is the running code (infra.cli.revision_code)."""
    from infra.cli import revision_cache
    from infra.cli.revision_code import runs_this_code
    from infra.engines.tools import CODE_ROOT

    tree = _git(root, "rev-parse", "--verify", f"{rev}^{{tree}}")
    src, out = work / f"src-{rev[:12]}", work / f"out-{rev[:12]}"
    env = {**os.environ, **_tool_env()}
    same_code = functools.cache(lambda: runs_this_code(root, tree, CODE_ROOT))  # once, if a stack is not read back
    results: dict[str, tuple[Doc, str | None]] = {}
    for stack in stacks:
        notes: list[str] = []

        def compute(stack: str = stack, notes: list[str] = notes) -> str:
            if not src.exists():
                src.mkdir(parents=True)
                _export(root, rev, src)
            plan = _plan_here if same_code() else _plan_exported
            text, note = plan(src, out, rev, stack, env)
            notes.extend([note] if note else [])
            return text

        text = revision_cache.plan(tree, stack, env, compute)
        results[stack] = (json.loads(text), None) if text else (None, notes[0] if notes else None)
    return results


def _plan_exported(src: Path, out: Path, rev: str, stack: str, env: dict[str, str]) -> tuple[str, str | None]:
    """(resources.json text, None) of one stack of an exported revision, or ("", why not)."""
    if not (src / "stacks" / f"Pulumi.{stack}.yaml").exists():
        return "", f"stack {stack} does not exist at {rev[:12]}"
    if not (src / "infra" / "cli").is_dir():
        return "", f"{rev[:12]} predates the tfplat CLI; compared with nothing"
    # The diff reads resources.json only: the base's checkov scan (most of a plan's time)
    # would be thrown away. Revisions from before the flag scan nothing anyway.
    no_scan = ["--no-scan"] if "--no-scan" in (src / "infra" / "cli" / "main.py").read_text(encoding="utf-8") \
        else []
    proc = subprocess.run([sys.executable, "-m", "infra.cli", "plan", "--stack", stack, "--out", str(out), *no_scan],
                          cwd=src, env={**env, "PYTHONPATH": str(src), "TFPLAT_ROOT": str(src)},
                          capture_output=True, text=True, check=False)
    doc_path = out / stack / "resources.json"
    if proc.returncode == 0 and doc_path.exists():
        return doc_path.read_text(encoding="utf-8"), None
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    # A config error's first line counts the errors; a crash's last line names it.
    reason = (lines[0] if proc.returncode == 2 else lines[-1]) if lines else "unknown error"
    return "", f"{rev[:12]} could not be planned ({reason}); compared with nothing"


def _plan_here(src: Path, out: Path, rev: str, stack: str, env: dict[str, str]) -> tuple[str, str | None]:
    """_plan_exported's result, planned in this process: the revision's code is the running
    code (infra.cli.revision_code), whose helm and chart cache `env` names already."""
    from infra.config.loader import load
    from infra.offline.plan import offline_plan
    from infra.release.checks import release_issues

    del env  # the subprocess's view of this process's tools: nothing to pass here
    if not stack_file(src, stack).exists():
        return "", f"stack {stack} does not exist at {rev[:12]}"
    try:  # what `tfplat plan --no-scan` runs (infra.cli.main._cmd_plan)
        loaded = load(src, stack)
        issues = release_issues(src, loaded)
        if issues:
            raise ConfigError(issues)
        return offline_plan(src, stack, out, manifests=False).files["resources.json"], None
    except Exception as err:  # noqa: BLE001 - every failure is a note, as the subprocess's exit is
        from infra.cli.main import plan_failure

        if isinstance(err, ConfigError):
            reason = err.render().splitlines()[0]
        elif isinstance(err, YamlFileError):
            reason = "1 configuration error:"  # the line `tfplat plan` prints above it
        elif (known := plan_failure(err, stack, out)) is not None:
            reason = known[0].splitlines()[0]
        else:
            reason = traceback.format_exception_only(err)[-1].strip()
        return "", f"{rev[:12]} could not be planned ({reason}); compared with nothing"


def worktree_tree(root: Path) -> str | None:
    """The tree `git commit -a` of everything (`git add -A`) would record for the working tree,
    written through a scratch index (the real index is untouched; git keeps the new blobs as
    unreferenced objects until its gc), or None: git cannot say, or the plan would read a
    config file that tree leaves out (one git ignores)."""
    try:
        ignored = _git(root, "ls-files", "--others", "--ignored", "--exclude-standard", "--", "models", "stacks",
                       "Pulumi.yaml")
        index = Path(_git(root, "rev-parse", "--git-path", "index"))
    except GitError:
        return None
    if ignored:
        return None
    with tempfile.TemporaryDirectory(prefix="tfplat-index-") as tmp:
        scratch = Path(tmp) / "index"
        index = index if index.is_absolute() else root / index
        if index.is_file():
            shutil.copyfile(index, scratch)  # its file stats: only changed files are hashed again
        env = {**os.environ, "GIT_INDEX_FILE": str(scratch)}
        for args in (["add", "-A"], ["write-tree"]):
            proc = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, env=env,
                                  check=False)
            if proc.returncode != 0:
                return None
        return proc.stdout.strip() or None


def plan_worktree(root: Path, stacks: list[str], work: Path) -> dict[str, tuple[Doc, str | None]]:
    """Each stack planned from the working tree, in this process. When the working tree's code
    is the running code, its plan is the plan of the tree it would commit, kept as that
    revision's (infra.cli.revision_cache): once committed and merged, it is read back as the
    base of the next diff, and a diff run again on an unchanged tree plans nothing."""
    from infra.cli import revision_cache
    from infra.cli.revision_code import runs_this_code
    from infra.engines.tools import CODE_ROOT
    from infra.offline.plan import offline_plan

    tree = worktree_tree(root)
    if tree is not None and not runs_this_code(root, tree, CODE_ROOT):
        tree = None  # planned by other code than that tree's: not that tree's plan
    env = {**os.environ, **_tool_env()}
    results: dict[str, tuple[Doc, str | None]] = {}
    for stack in stacks:
        def compute(stack: str = stack) -> str:
            return offline_plan(root, stack, work / "worktree", manifests=False).files["resources.json"]

        text = revision_cache.plan(tree, stack, env, compute) if tree is not None else compute()
        results[stack] = (json.loads(text), None)
    return results


def _limits(root: Path, stack: str, head: str | None) -> StepLimits:
    """The head stack file's rollout step limits (its tier's default if it sets none)."""
    path = stack_file(root, stack)
    if head:
        return step_limits(committed(path, head).text)
    try:
        return step_limits(path.read_text(encoding="utf-8"))
    except OSError:
        return step_limits(None)


def run(args: argparse.Namespace) -> int:
    root = project_root()
    stacks = args.stack or available_stacks(root)
    try:
        base = args.base or default_base(root)
        base_sha = _git(root, "rev-parse", "--verify", f"{base}^{{commit}}")
        with tempfile.TemporaryDirectory(prefix="tfplat-diff-") as tmp:
            work = Path(tmp)
            before = plan_revision(root, base_sha, stacks, work)
            if args.head:
                head_sha = _git(root, "rev-parse", "--verify", f"{args.head}^{{commit}}")
                after = plan_revision(root, head_sha, stacks, work)
                head_label = args.head
            else:
                after = plan_worktree(root, stacks, work)
                head_label = "working tree"
    except GitError as err:
        print(f"error: {err}\n    fix: run inside the git checkout; pass --base <revision> that exists",
              file=sys.stderr)
        return 2
    except Exception as err:
        from infra.cli.main import plan_failure

        known = plan_failure(err, "(working tree)", Path(tempfile.gettempdir()))
        if known is None:
            raise
        print(known[0], file=sys.stderr)
        return known[1]
    unsafe = False
    for stack in stacks:
        (doc_b, note_b), (doc_a, note_a) = before[stack], after[stack]
        d = diff_docs(stack, doc_b, doc_a, _limits(root, stack, args.head))
        unsafe |= bool(d.warnings)
        text = to_markdown(d, base_label=args.base or f"merge-base {base_sha[:12]}", head_label=head_label,
                           note=note_b or note_a)
        sys.stdout.write(text + "\n")
        if args.out:
            Path(args.out).mkdir(parents=True, exist_ok=True)
            written = atomic.write_text(Path(args.out) / f"{stack}.md", text)
            print(f"wrote {written}", file=sys.stderr)
    return 1 if unsafe and args.fail_on_unsafe else 0


def register(sub: Any) -> None:
    p = sub.add_parser("diff", help="desired-state diff of stacks between two git revisions (Markdown)")
    p.add_argument("--stack", "-s", action="append", help="stack to compare (repeatable; default: all)")
    p.add_argument("--base", help="base revision (default: the merge base with main)")
    p.add_argument("--head", help="head revision (default: the working tree)")
    p.add_argument("--out", help="also write <OUT>/<stack>.md per stack")
    p.add_argument("--fail-on-unsafe", action="store_true",
                   help="exit 1 when a blue-green move would be unsafe in one apply")
    p.set_defaults(func=run)
