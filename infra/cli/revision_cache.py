"""`tfplat diff`'s plans of committed revisions, kept by content.

A revision is planned by its own code in a fresh process, from `git archive` of its tree; what
that prints (resources.json) is decided by the tree and by what the process runs with: this
interpreter and its packages, the tools the plan calls (helm, node's CRD validator, promtool,
amtool), and the TFPLAT_/PULUMI_ environment. The key hashes all of them, so the base of every
diff on a branch (the same merge base, the same tree) is planned once per machine instead of
once per `tfplat diff`, and any change to one of them is a different key: nothing stale is read.
Only plans that succeeded are kept (infra.engines.content_cache: `.cache/plans/`, the newest
256, `TFPLAT_ENGINE_CACHE` moves or disables them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
import functools
import importlib.metadata
from pathlib import Path
import shutil
import sys

from infra.engines import content_cache

KIND = "plans"
FORMAT = b"tfplat-revision-plan-v1"
#: Executables a plan runs; a changed binary (an upgrade) is a different key.
TOOLS = ("node", "promtool", "amtool")


def _stat(path: Path | str | None) -> bytes:
    if not path:
        return b"-"
    try:
        st = Path(path).stat()
    except OSError:
        return f"{path}:missing".encode()
    return f"{Path(path).resolve()}:{st.st_size}:{st.st_mtime_ns}".encode()


@functools.lru_cache(maxsize=1)
def _runtime() -> bytes:
    """This interpreter and every package installed for it (the revision's plan runs on them)."""
    packages = sorted(f"{d.metadata['Name']}=={d.version}".lower() for d in importlib.metadata.distributions())
    return "\n".join([sys.version, str(Path(sys.executable).resolve()), *packages]).encode()


def _tools(tool_env: Mapping[str, str]) -> Iterator[bytes]:
    from infra.engines.tools import HELM_VERSION
    from infra.offline.crd_validate import TOOL_DIR

    yield HELM_VERSION.encode()
    yield _stat(tool_env.get("TFPLAT_HELM"))
    lock = TOOL_DIR / "package-lock.json"  # the revision's CRD validator runs these node_modules
    yield lock.read_bytes() if lock.exists() else b"-"
    for tool in TOOLS:
        yield _stat(shutil.which(tool))


def _environment(env: Mapping[str, str]) -> Iterator[bytes]:
    for name in sorted(env):
        if name.startswith(("TFPLAT_", "PULUMI_")) and name != "TFPLAT_ROOT":  # the root is the export's
            yield f"{name}={env[name]}".encode()


def entry(tree: str, stack: str, env: Mapping[str, str]) -> str:
    """The cache key of one stack's plan of a git tree (its code decides its own flags), run
    with `env` (TFPLAT_ROOT aside)."""
    return content_cache.key([FORMAT, tree.encode(), stack.encode(), _runtime(), *_tools(env), b"env",
                              *_environment(env)])


def plan(tree: str, stack: str, env: Mapping[str, str], compute: Callable[[], str]) -> str:
    """resources.json of `stack` at `tree`: read back, or compute() (kept when it is not empty)."""
    return content_cache.cached(KIND, entry(tree, stack, env), compute)
