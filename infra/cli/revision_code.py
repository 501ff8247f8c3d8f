"""Whether a git revision runs the code this process runs, so `tfplat diff` may plan it here.

A revision's plan is decided by its config (models/, stacks/, Pulumi.yaml: read from the
project root the plan is given) and by everything else in its tree (the code, schemas/,
images/versions.yaml, policies/, tools/: read from where the running code was installed,
infra.engines.tools.CODE_ROOT). When every file of the second kind is, byte for byte and
mode for mode, the file this process runs, and neither side has a file the other lacks, a
plan of the exported revision in this process is the plan its own code would print in a
fresh one; most pull requests change config only, so the base of their diffs is planned
without a cold interpreter and cold engine caches. Anything that cannot be shown equal
(another object format, a submodule, a code root outside git) is not: the revision is then
planned by its own code, in a subprocess, as before.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
import stat
import subprocess

#: What a plan reads from the project root it is given; everything else comes from CODE_ROOT.
CONFIG_FOLDERS = ("models/", "stacks/")
CONFIG_FILES = frozenset({"Pulumi.yaml"})


def is_config(path: str) -> bool:
    return path in CONFIG_FILES or path.startswith(CONFIG_FOLDERS)


def _git(repo: Path, *args: str) -> bytes | None:
    proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=False)
    return proc.stdout if proc.returncode == 0 else None


def _blob_id(data: bytes, algorithm: str) -> str:
    return hashlib.new(algorithm, b"blob %d\0" % len(data) + data).hexdigest()


def _same_file(path: Path, mode: str, oid: str, algorithm: str) -> bool:
    """The file at `path` is the blob `oid` with git mode `mode`."""
    try:
        st = path.lstat()
        if mode == "120000":
            return stat.S_ISLNK(st.st_mode) and _blob_id(os.fsencode(os.readlink(path)), algorithm) == oid
        if not stat.S_ISREG(st.st_mode) or (mode == "100755") != bool(st.st_mode & stat.S_IXUSR):
            return False
        return _blob_id(path.read_bytes(), algorithm) == oid
    except OSError:
        return False


def runs_this_code(root: Path, tree: str, code_root: Path) -> bool:
    """True when `tree` (of the repository at `root`) differs from the checkout at `code_root`
    (tracked files and untracked ones git does not ignore, as on disk now) in config only."""
    fmt = _git(root, "rev-parse", "--show-object-format")
    listing = _git(root, "ls-tree", "-r", "-z", "--full-tree", tree)
    running = _git(code_root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    if fmt is None or listing is None or running is None:
        return False
    algorithm = fmt.decode().strip()
    if algorithm not in ("sha1", "sha256"):
        return False
    code: dict[str, tuple[str, str]] = {}
    for entry in filter(None, listing.decode("utf-8", "surrogateescape").split("\0")):
        meta, path = entry.split("\t", 1)
        mode, kind, oid = meta.split()
        if kind != "blob":  # a submodule: its content is not in this tree
            return False
        if not is_config(path):
            code[path] = (mode, oid)
    here = {p for p in running.decode("utf-8", "surrogateescape").split("\0")
            if p and not is_config(p) and os.path.lexists(code_root / p)}
    if here != set(code):
        return False
    return all(_same_file(code_root / p, mode, oid, algorithm) for p, (mode, oid) in code.items())
