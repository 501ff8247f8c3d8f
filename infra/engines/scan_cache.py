"""checkov's output kept by content: a scan of the same objects with the same checkov and the
same skips prints the same JSON, so it is computed once per machine, not once per plan
(each plan of a stack, every `tfplat diff`, every test process and runbook step).

The key is a SHA-256 over checkov's own version file, the skipped checks and every file's
path and text; the value is checkov's raw JSON, parsed by infra.engines.scan as if fresh.
Entries live in .cache/scan (TFPLAT_SCAN_CACHE overrides; empty turns the cache off), are
written whole (rename) so parallel plans never read half a file, and only the newest
MAX_ENTRIES are kept.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
import hashlib
import os
from pathlib import Path
import tempfile

from infra.engines.tools import CODE_ROOT

MAX_ENTRIES = 256  # a few KB each (infra.engines.scan keeps only what it reads)


def cache_dir() -> Path | None:
    value = os.environ.get("TFPLAT_SCAN_CACHE")
    if value == "":
        return None
    return Path(value) if value else CODE_ROOT / ".cache" / "scan"


def checkov_identity(binary: Path) -> bytes:
    """What makes two checkov installs print the same: its version file (else the binary's path and age)."""
    venv = binary.resolve().parent.parent
    for version_file in sorted(venv.glob("lib/python*/site-packages/checkov/version.py")):
        return version_file.read_bytes()
    stat = binary.stat() if binary.exists() else None
    return f"{binary.resolve()}:{stat.st_mtime_ns if stat else 0}".encode()


def key(identity: bytes, skips: Mapping[str, str], files: Mapping[str, str]) -> str:
    digest = hashlib.sha256(identity + b"\0")
    for check in sorted(skips):
        digest.update(check.encode() + b"\0")
    for rel in sorted(files):
        digest.update(rel.encode() + b"\0" + files[rel].encode() + b"\0")
    return digest.hexdigest()


def cached(entry: str, compute: Callable[[], str]) -> str:
    """The stored output for `entry`, else compute() (stored when it is JSON checkov finished)."""
    folder = cache_dir()
    if folder is None:
        return compute()
    path = folder / f"{entry}.json"
    try:
        text = path.read_text(encoding="utf-8")
        os.utime(path)  # recently used: kept by the pruning below
        return text
    except OSError:
        pass
    text = compute()
    if text.strip():
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=folder, suffix=".tmp", delete=False) as fh:
            fh.write(text)
        os.replace(fh.name, path)
        _prune(folder)
    return text


def _prune(folder: Path) -> None:
    entries = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
    for old in entries[MAX_ENTRIES:]:
        old.unlink(missing_ok=True)
