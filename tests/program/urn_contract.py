"""The URN contract of the shipped stacks: every resource `pulumi up` created before the cloud
platforms became components (docs/upgrading.md), by its engine URN, with a digest of what
the engine would diff (type, inputs, options, dependencies, provider).

tests/fixtures/urns-before-platforms.json holds it. It was written from the offline plans of
the commit before the re-parenting:

    python -m tests.program.urn_contract write <dir with <stack>/resources.json>...

A later change that alters a resource on purpose refreshes the digests from the current
plans; the keys stay the URNs of the old layout (resources are matched through their aliases):

    make plan-all && python -m tests.program.urn_contract write build
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
import hashlib
import json
from pathlib import Path
import sys
from typing import Any

from infra.offline.urns import as_engine, takeovers

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "urns-before-platforms.json"

Entry = Mapping[str, Any]


def digest(entry: Entry, old_name: Mapping[str, str]) -> str:
    """What the engine diffs of one resource, its references named as in the old layout."""
    def rename(urn: str) -> str:
        return old_name.get(urn, urn)

    options = {k: v for k, v in (entry.get("options") or {}).items() if k != "aliases"}
    seen = {"type": entry["type"], "custom": entry.get("custom"), "inputs": entry.get("inputs"),
            "options": options, "provider": rename(entry["provider"]) if entry.get("provider") else None,
            "dependsOn": sorted(rename(d) for d in entry.get("dependsOn", []))}
    return hashlib.sha256(json.dumps(seen, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def contract(resources: Iterable[Entry], old_urns: Iterable[str] | None = None) -> dict[str, str]:
    """{URN in the old layout: digest} of a plan. With `old_urns`, resources whose URN moved
    are keyed by the old URN they take over; without, by their own."""
    entries = as_engine(resources)
    moved = takeovers(entries, old_urns) if old_urns is not None else {}
    old_name = {e["urn"]: moved.get(e["urn"], e["urn"]) for e in entries}
    keep = set(old_urns) if old_urns is not None else set(old_name.values())
    return {old_name[e["urn"]]: digest(e, old_name) for e in entries if old_name[e["urn"]] in keep}


def load() -> dict[str, dict[str, str]]:
    data: dict[str, dict[str, str]] = json.loads(FIXTURE.read_text(encoding="utf-8"))["stacks"]
    return data


def write(build_dirs: list[Path]) -> None:
    previous = load() if FIXTURE.exists() else {}
    stacks: dict[str, dict[str, str]] = {}
    for build in build_dirs:
        for doc_path in sorted(build.glob("*/resources.json")):
            doc = json.loads(doc_path.read_text(encoding="utf-8"))
            old = previous.get(doc["stack"])
            stacks[doc["stack"]] = dict(sorted(contract(doc["resources"], old).items()))
    doc = {"about": "URNs of the resources before the cloud platforms became components, with a digest of "
                    "what the engine diffs; see tests/program/urn_contract.py", "stacks": stacks}
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    FIXTURE.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", encoding="utf-8")


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] != "write":
        sys.exit(__doc__)
    write([Path(p) for p in sys.argv[2:]])
