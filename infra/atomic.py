"""Writing files so that a reader (or an interrupted run) never sees half of one.

Each file is written to a temporary file in the same folder and renamed over the target
(atomic on POSIX), keeping the target's permissions; an exception or Ctrl-C removes the
temporary file, so nothing half-written is left behind.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
import stat
import tempfile


def write_text(path: Path, text: str) -> Path:
    """Replace `path` with `text` exactly (no newline translation); returns its absolute path."""
    path = path.absolute()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        with contextlib.suppress(FileNotFoundError):
            os.chmod(tmp, stat.S_IMODE(path.stat().st_mode))
        if not path.exists():
            os.chmod(tmp, 0o666 & ~umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def umask() -> int:
    """The process's umask (reading it means setting it; set it straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask
