"""Resource URNs as the Pulumi engine forms them, and which old URN a resource takes over.

The engine names a resource `urn:pulumi:<stack>::<project>::<type chain>::<name>`; the
type chain is every ancestor's type below the stack, then the resource's own. An alias
names a URN the resource had before, and the engine gives each child of an aliased
resource the URN it had under the old parent too (generateAliases/inheritedChildAlias in
pkg/resource/deploy/step_generator.go), so aliasing a component carries its subtree over.

These functions read resources.json entries (URNs as `<type chain>::<name>` tails). They
also accept documents written before the offline plan used the engine's URNs (the mock's
own naming kept only the parent's last type), so old and new plans compare like for like.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

STACK_TYPE = "pulumi:pulumi:Stack"

Entry = Mapping[str, Any]


def split(urn: str) -> tuple[str, str]:
    """`<type chain>::<name>` -> (type chain, name)."""
    chain, _, name = urn.rpartition("::")
    return chain, name


def engine_urns(resources: Iterable[Entry]) -> dict[str, str]:
    """{URN as written: the engine's URN tail}, from each entry's type, name and parent."""
    by_urn = {r["urn"]: r for r in resources}
    chains: dict[str, str] = {}

    def chain(urn: str) -> str:
        if urn not in chains:
            r = by_urn[urn]
            parent = str(r.get("parent") or "")
            # The stack is no resource of the document: its children's chains start anew.
            chains[urn] = f"{chain(parent)}${r['type']}" if parent in by_urn else r["type"]
        return chains[urn]

    return {urn: f"{chain(urn)}::{r['name']}" for urn, r in by_urn.items()}


def renamed(resources: Iterable[Entry], names: Mapping[str, str]) -> list[dict[str, Any]]:
    """Entries under new names (`names`: old -> new; others keep theirs), and so are their
    references to each other (parent, provider, dependsOn)."""
    out = []
    for r in resources:
        e = dict(r, urn=names.get(r["urn"], r["urn"]))
        for key in ("parent", "provider"):
            if r.get(key):
                e[key] = names.get(r[key], r[key])
        if r.get("dependsOn"):
            e["dependsOn"] = sorted(names.get(d, d) for d in r["dependsOn"])
        out.append(e)
    return out


def as_engine(resources: Iterable[Entry]) -> list[dict[str, Any]]:
    """Entries with every URN, and every reference to one, as the engine's."""
    entries = list(resources)
    return renamed(entries, engine_urns(entries))


def inherited_alias(child_type: str, child_name: str, parent_name: str, parent_alias: str) -> str:
    """The URN a child had under its parent's old URN. A child named after its parent
    (`<parent>-vpc`) is renamed with it, as the engine does."""
    old_chain, old_name = split(parent_alias)
    name = old_name + child_name[len(parent_name):] if child_name.startswith(parent_name) else child_name
    return f"{old_chain}${child_type}::{name}"


def takeovers(resources: Iterable[Entry], old_urns: Iterable[str]) -> dict[str, str]:
    """{new URN: the old URN it takes over} for each resource whose URN is not in `old_urns`
    but one of its aliases is, own or inherited from its parent's, as the engine resolves
    them (the first alias found in the old state wins). Entries use the engine's URNs."""
    old = set(old_urns)
    entries = list(resources)
    by_urn = {r["urn"]: r for r in entries}
    found: dict[str, str] = {}

    def resolve(urn: str) -> str | None:
        if urn in found or urn in old:
            return found.get(urn)
        r = by_urn[urn]
        candidates = list(r.get("options", {}).get("aliases", []))
        parent = str(r.get("parent") or "")
        if parent in by_urn:
            parent_old = resolve(parent)
            if parent_old is not None:
                own = [split(a) for a in candidates]
                candidates += [inherited_alias(t.rpartition("$")[2], n, by_urn[parent]["name"], parent_old)
                               for t, n in [split(urn), *own]]
        hit = next((a for a in candidates if a in old), None)
        if hit is not None:
            found[urn] = hit
        return hit

    for r in entries:
        resolve(r["urn"])
    return found
