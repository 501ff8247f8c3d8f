"""The engine's URNs and aliases in the offline plan, and a diff that knows a move from a replacement."""

from __future__ import annotations

from typing import Any

import pulumi

from infra.offline import engine
from infra.offline.diff import diff_docs, to_markdown
from infra.offline.render import resources_document
from infra.offline.urns import engine_urns, inherited_alias, takeovers

STACK_URN = "pulumi:pulumi:Stack::tfplat-dev"


def _res(urn: str, type_: str, name: str, parent: str = STACK_URN, **extra: Any) -> dict[str, Any]:
    return {"urn": urn, "type": type_, "name": name, "parent": parent, "inputs": {}, **extra}


def test_the_offline_plan_names_resources_and_aliases_as_the_engine_does() -> None:
    def program() -> None:
        outer = pulumi.ComponentResource("t:x:Outer", "outer")
        inner = pulumi.ComponentResource("t:x:Inner", "inner", opts=pulumi.ResourceOptions(
            parent=outer, aliases=[pulumi.Alias(parent=pulumi.ROOT_STACK_RESOURCE)]))
        pulumi.CustomResource("t:x:Leaf", "inner-leaf", opts=pulumi.ResourceOptions(
            parent=inner, aliases=[pulumi.Alias(name="old-leaf")]))

    result = engine.run(program, project="tfplat", stack="dev", config={})
    doc = resources_document("dev", "tfplat", result)
    by_name = {r["name"]: r for r in doc["resources"]}
    # The whole ancestry is in the type chain (the mock's own URNs keep one parent type).
    assert by_name["inner-leaf"]["urn"] == "t:x:Outer$t:x:Inner$t:x:Leaf::inner-leaf"
    assert by_name["outer"]["urn"] == "t:x:Outer::outer"  # the stack's type is never in it
    # Aliases as the URNs they name: the unset parts of a spec are the resource's own.
    assert by_name["inner"]["options"]["aliases"] == ["t:x:Inner::inner"]
    assert by_name["inner-leaf"]["options"]["aliases"] == ["t:x:Outer$t:x:Inner$t:x:Leaf::old-leaf"]
    assert engine_urns(doc["resources"]) == {r["urn"]: r["urn"] for r in doc["resources"]}


def test_engine_urns_of_a_plan_written_with_the_mocks_naming() -> None:
    old = [_res("pulumi:pulumi:Stack$t:x:Net::network", "t:x:Net", "network"),
           _res("t:x:Net$t:x:Vpc::network-vpc", "t:x:Vpc", "network-vpc",
                parent="pulumi:pulumi:Stack$t:x:Net::network")]
    assert engine_urns(old) == {old[0]["urn"]: "t:x:Net::network",
                                old[1]["urn"]: "t:x:Net$t:x:Vpc::network-vpc"}


def test_an_aliased_component_carries_its_children_over() -> None:
    new = [_res("t:x:Platform::platform", "t:x:Platform", "platform"),
           _res("t:x:Platform$t:x:Net::network", "t:x:Net", "network", parent="t:x:Platform::platform",
                options={"aliases": ["t:x:Net::network"]}),
           _res("t:x:Platform$t:x:Net$t:x:Vpc::network-vpc", "t:x:Vpc", "network-vpc",
                parent="t:x:Platform$t:x:Net::network"),
           _res("t:x:Platform$t:x:Orphan::orphan", "t:x:Orphan", "orphan", parent="t:x:Platform::platform")]
    old = {"t:x:Net::network", "t:x:Net$t:x:Vpc::network-vpc", "t:x:Orphan::orphan"}
    assert takeovers(new, old) == {"t:x:Platform$t:x:Net::network": "t:x:Net::network",
                                   "t:x:Platform$t:x:Net$t:x:Vpc::network-vpc": "t:x:Net$t:x:Vpc::network-vpc"}
    # No alias, no takeover: the orphan would be created anew and the old one deleted.
    # A child named after its parent is renamed with it.
    assert inherited_alias("t:x:Vpc", "net2-vpc", "net2", "t:x:Net::net") == "t:x:Net$t:x:Vpc::net-vpc"


def test_a_move_by_alias_is_shown_as_a_move_not_a_replacement() -> None:
    base = {"resources": [
        _res("pulumi:pulumi:Stack$t:x:Net::network", "t:x:Net", "network"),
        _res("t:x:Net$t:x:Vpc::network-vpc", "t:x:Vpc", "network-vpc", parent="pulumi:pulumi:Stack$t:x:Net::network",
             inputs={"cidr": "10.0.0.0/16"}),
        _res("pulumi:pulumi:Stack$t:x:Gone::gone", "t:x:Gone", "gone")]}
    head = {"resources": [
        _res("t:x:Platform::platform", "t:x:Platform", "platform"),
        _res("t:x:Platform$t:x:Net::network", "t:x:Net", "network", parent="t:x:Platform::platform",
             options={"aliases": ["t:x:Net::network"]}),
        _res("t:x:Platform$t:x:Net$t:x:Vpc::network-vpc", "t:x:Vpc", "network-vpc",
             parent="t:x:Platform$t:x:Net::network", inputs={"cidr": "10.1.0.0/16"})]}
    d = diff_docs("dev", base, head)
    assert [r["name"] for r in d.added] == ["platform"] and [r["name"] for r in d.removed] == ["gone"]
    assert d.changed == []
    assert {r["name"]: (was, paths) for r, was, paths in d.moved} == {
        "network": ("t:x:Net::network", []), "network-vpc": ("t:x:Net$t:x:Vpc::network-vpc", ["inputs.cidr"])}
    text = to_markdown(d, base_label="main", head_label="pr")
    assert "1 to add, 0 to change, 1 to remove, 2 moved (aliased: kept, not replaced)" in text
    assert "moved from `t:x:Net$t:x:Vpc::network-vpc`, `inputs.cidr`" in text


def test_a_plan_compared_with_itself_in_the_mocks_naming_has_no_changes() -> None:
    old = {"resources": [
        _res("pulumi:pulumi:Stack$t:x:Net::network", "t:x:Net", "network"),
        _res("t:x:Net$t:x:Vpc::network-vpc", "t:x:Vpc", "network-vpc", parent="pulumi:pulumi:Stack$t:x:Net::network",
             dependsOn=["pulumi:pulumi:Stack$t:x:Net::network"])]}
    new = {"resources": [
        _res("t:x:Net::network", "t:x:Net", "network"),
        _res("t:x:Net$t:x:Vpc::network-vpc", "t:x:Vpc", "network-vpc", parent="t:x:Net::network",
             dependsOn=["t:x:Net::network"])]}
    assert diff_docs("dev", old, new).empty
