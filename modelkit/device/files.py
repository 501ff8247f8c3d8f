"""The device's files: atomic writes, and checking a model file against its recorded size and sha256."""

from __future__ import annotations

from collections.abc import Mapping
import hashlib
import os
from pathlib import Path
import tempfile
import time
from typing import Any

PARTIAL = ".partial-"  # files being written; whatever carries it at start-up was interrupted
_CHUNK = 1 << 16


def file_stat(path: Path) -> dict[str, int]:
    """What changes when a file is rewritten or replaced: its size, inode and mtime."""
    try:
        st = path.stat()
    except OSError:
        return {}
    return {"size": st.st_size, "ino": st.st_ino, "mtime_ns": st.st_mtime_ns}


def unchanged_since(path: Path, sha256: str, checked: Mapping[str, Any], within_s: float) -> bool:
    """The file is the one last verified in full (same size, inode, mtime), not long ago."""
    at = checked.get("at")
    recent = isinstance(at, (int, float)) and 0 <= time.time() - at < within_s
    return recent and checked.get("sha256") == sha256 and file_stat(path) == {
        k: checked.get(k) for k in ("size", "ino", "mtime_ns")}


def intact(path: Path, size: int, sha256: str) -> bool:
    """The file has this size and sha256 (read 64 KiB at a time)."""
    try:
        if path.stat().st_size != size:
            return False
        h = hashlib.sha256()
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(_CHUNK), b""):
                h.update(chunk)
    except OSError:
        return False
    return h.hexdigest() == sha256


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=PARTIAL)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
