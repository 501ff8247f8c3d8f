"""The release's git record: each step is a commit of the stack file, pushed if asked.

Why each step is committed before it is applied: the rollout guards
(infra.cli.rollout_cmd.guard_change) compare a change with the stack file at HEAD and
allow one step per change. Committing every step makes HEAD the last applied state, so
the release takes each step through the very guards a person's `tfplat canary` goes
through, and `git log` of the stack file is the release's history. Only the stack file is
committed (other changes in the checkout stay out of it); the commit message carries
`[skip ci]` so a push never starts the deploy workflow on a state the release is about to
move past (GitHub skips push-triggered runs for such commits).
"""

from __future__ import annotations

from pathlib import Path
import subprocess
import time


class GitError(Exception):
    pass


def git(root: Path, *args: str, check: bool = True) -> str:
    proc = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=False, timeout=120)
    if check and proc.returncode != 0:
        raise GitError(f"git {' '.join(args)}: {(proc.stderr or proc.stdout).strip()[-800:]}")
    return proc.stdout.strip()


def problems(root: Path, path: Path) -> list[str]:
    """Why the release cannot record its steps in this checkout ([] if it can)."""
    try:
        git(root, "rev-parse", "--is-inside-work-tree")
    except (GitError, OSError) as err:
        return [f"{root} is not a git checkout ({err}): a release commits each step of the stack file"]
    out = []
    if git(root, "status", "--porcelain", "--", str(path)):
        out.append(f"{path.name} has uncommitted changes: a release starts from the committed stack file "
                   "(commit or stash them first)")
    try:
        git(root, "var", "GIT_COMMITTER_IDENT")
    except GitError:
        out.append("git has no committer identity here: set user.name and user.email")
    return out


def commit(root: Path, path: Path, message: str) -> str:
    """Commit `path` alone; returns the new commit's id."""
    rel = str(path.relative_to(root))
    git(root, "add", "--", rel)
    git(root, "commit", "--quiet", "--no-verify", "-m", message, "--", rel)
    return git(root, "rev-parse", "HEAD")


def push(root: Path, remote: str, branch: str, attempts: int = 3) -> str:
    """Push HEAD to remote/branch; when the branch moved meanwhile, rebase onto it and retry.
    Returns the pushed commit id."""
    last = ""
    for attempt in range(attempts):
        proc = subprocess.run(["git", "-C", str(root), "push", "--quiet", remote, f"HEAD:refs/heads/{branch}"],
                              capture_output=True, text=True, check=False, timeout=300)
        if proc.returncode == 0:
            return git(root, "rev-parse", "HEAD")
        last = (proc.stderr or proc.stdout).strip()
        git(root, "fetch", "--quiet", remote, branch)
        try:
            git(root, "rebase", "--quiet", f"{remote}/{branch}")
        except GitError as err:
            git(root, "rebase", "--abort", check=False)
            raise GitError(f"{branch} on {remote} changed the stack file too; cannot rebase the release's "
                           f"commit onto it: {err}") from err
        time.sleep(1 + attempt)
    raise GitError(f"git push {remote} HEAD:{branch} failed {attempts} times: {last[-800:]}")
