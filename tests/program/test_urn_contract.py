"""Resource names are a contract: the re-parenting under the cloud platforms replaces nothing.

For every shipped stack, over the mock engine's records: each URN of the layout before the
platforms (tests/fixtures/urns-before-platforms.json) is either still a resource's URN or
taken over through an alias by exactly one resource, as the engine resolves aliases; what
the engine diffs of each moved resource is unchanged; and every Kubernetes object's
provider is the one that took the old provider's URN over, so none of them is replaced for
a new provider.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from infra.offline.plan import project_name
from infra.offline.render import resources_document
from infra.offline.urns import as_engine, takeovers
from tests.conftest import REPO, STACKS, shared_run
from tests.program import urn_contract

OLD_PROVIDER = "pulumi:providers:kubernetes::cluster"


@pytest.fixture(scope="module", params=STACKS)
def stack(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]], dict[str, str]]:
    _, result = shared_run(request.param)
    entries = as_engine(resources_document(request.param, project_name(REPO), result)["resources"])
    return request.param, entries, urn_contract.load()[request.param]


def test_every_old_urn_is_kept_or_taken_over_by_exactly_one_resource(stack: Any) -> None:
    name, entries, before = stack
    urns = {e["urn"] for e in entries}
    moved = takeovers(entries, before)
    claims = Counter(moved.values())
    lost = sorted(u for u in before if u not in urns and u not in claims)
    assert not lost, f"{name}: `pulumi up` would delete (and create anew) {lost}"
    assert not [u for u, n in claims.items() if n > 1], f"{name}: an old URN is claimed twice"
    assert not [u for u in claims if u in urns], f"{name}: an old URN is both kept and taken over"
    # The move this contract was written for: the cloud resources went under the platform.
    (platform,) = [e["type"] for e in entries if e["type"] in ("tfplat:gcp:Platform", "tfplat:aws:Platform")]
    assert moved and all(new.startswith(f"{platform}$") for new in moved)


def test_moved_resources_keep_every_input_option_and_dependency(stack: Any) -> None:
    name, entries, before = stack
    moved = takeovers(entries, before)
    now = urn_contract.contract(entries, before)
    changed = sorted(old for old in moved.values() if now[old] != before[old])
    assert not changed, (f"{name}: moved and changed at once: {changed}. If the change is meant, refresh the "
                         "digests (tests/program/urn_contract.py says how)")


def test_kubernetes_objects_keep_their_provider(stack: Any) -> None:
    name, entries, before = stack
    moved = takeovers(entries, before)
    providers = {e["provider"] for e in entries if e.get("provider", "").endswith(OLD_PROVIDER)}
    assert len(providers) == 1, providers
    (provider,) = providers
    assert moved.get(provider) == OLD_PROVIDER or provider == OLD_PROVIDER, f"{name}: {provider}"
