"""A release's local files under build/releases/<stack>/<model>/: its lock, its journal,
its report.

The lock: one release per model and stack at a time on this machine. An advisory
`flock` on <model>.lock, held for the whole run: the kernel drops it when the process
ends however it ends (exit, crash, SIGKILL), so a killed release never leaves a stale
lock behind. The file also says who holds it (pid, host, release id, start time), for the
message a second run prints. A lock is only as local as the folder: build/ must not be on
a network file system shared between machines. Across machines, the stack file is the
lock: a release writes tfplat:models.<model>.release_in_progress in its first commit, and
every other release of that model refuses to start while it is there.

The journal (journal.jsonl): one JSON object per event, appended and flushed as it
happens, so an interrupted run leaves everything up to its last decision; the report is
rebuilt from it after every event.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import datetime as dt
import fcntl
import json
import os
from pathlib import Path
import socket
from typing import IO, Any


class ReleaseLocked(Exception):  # noqa: N818 - a refusal the CLI reports, not a bug
    def __init__(self, path: Path, holder: str) -> None:
        super().__init__(f"another release holds {path}: {holder}")
        self.path = path
        self.holder = holder


def release_dir(root: Path, stack: str, model: str) -> Path:
    return root / "build" / "releases" / stack / model


@contextlib.contextmanager
def locked(root: Path, stack: str, model: str, release_id: str) -> Iterator[Path]:
    """Hold the model's release lock in this stack (raises ReleaseLocked if another holds it)."""
    folder = release_dir(root, stack, model)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder.parent / f"{model}.lock"
    fh: IO[str] = path.open("a+", encoding="utf-8")
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "a process that has not written its details yet"
            raise ReleaseLocked(path, holder) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} on {socket.gethostname()}, release {release_id}, "
                 f"since {now_utc()}\n")
        fh.flush()
        yield path
    finally:
        fh.close()  # closing the descriptor releases the flock


def now_utc() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Journal:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / "journal.jsonl"

    def write(self, kind: str, **data: Any) -> dict[str, Any]:
        event = {"at": now_utc(), "kind": kind, **data}
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(event, sort_keys=True, default=_plain) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        return event

    def events(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(ValueError):  # a line cut short by a kill mid-write
                out.append(json.loads(line))
        return out


def _plain(value: Any) -> Any:
    if isinstance(value, float):
        return repr(value)
    if hasattr(value, "__dataclass_fields__"):
        return {k: getattr(value, k) for k in value.__dataclass_fields__}
    return str(value)
