"""What the external engines printed, kept by content: the same input to the same engine
prints the same output, so it is computed once per machine, not once per plan (each plan of a
stack, every `tfplat diff`, every test process and runbook step). Used for checkov's scans
(infra.engines.scan), helm's renders (infra.engines.helm) and the YAML of the charts' objects
(infra.offline.render.dump_yaml_all).

A key is a SHA-256 over everything the output depends on (the engine's version, its
arguments, every input file's content); the value is the engine's output as the caller
stores it, parsed as if fresh. Entries live in .cache/<kind>/ (TFPLAT_ENGINE_CACHE overrides
the folder; empty turns the cache off), are written whole (rename), so parallel plans never
read half a file, and only the newest MAX_ENTRIES of each kind are kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
import contextlib
import hashlib
import os
from pathlib import Path

from infra import atomic
from infra.engines.tools import CODE_ROOT

MAX_ENTRIES = 256  # per kind: every stack's renders and scans at a few revisions


def cache_dir(kind: str) -> Path | None:
    value = os.environ.get("TFPLAT_ENGINE_CACHE")
    if value == "":
        return None
    return (Path(value) if value else CODE_ROOT / ".cache") / kind


def key(parts: Iterable[bytes]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big") + part)  # length-prefixed: no two splits collide
    return digest.hexdigest()


def cached(kind: str, entry: str, compute: Callable[[], str]) -> str:
    """The stored output for `entry`, else compute() (stored unless empty). The cache only
    saves time: a folder that cannot be written (a read-only checkout, a full disk) leaves
    the output unstored, never fails the plan."""
    folder = cache_dir(kind)
    if folder is None:
        return compute()
    path = folder / f"{entry}.json"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        pass
    else:
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: kept by the pruning below
        return text
    text = compute()
    if text.strip():
        with contextlib.suppress(OSError):
            folder.mkdir(parents=True, exist_ok=True)
            atomic.write_text(path, text)  # whole: a parallel plan never reads half an entry
            _prune(folder)
    return text


def _prune(folder: Path) -> None:
    def age(p: Path) -> int:
        try:
            return p.stat().st_mtime_ns
        except OSError:  # removed by a parallel plan's pruning
            return 0

    for old in sorted(folder.glob("*.json"), key=age, reverse=True)[MAX_ENTRIES:]:
        old.unlink(missing_ok=True)
