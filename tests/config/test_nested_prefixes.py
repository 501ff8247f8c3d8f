"""The indexed search for models sharing an artifact prefix finds what comparing every pair finds."""

from __future__ import annotations

import itertools
import random

from infra.config.checks import nested_pairs

PREFIXES = ["vision", "vision/resnet50", "vision/resnet", "vision/resnet50/v2", "vision/", "vision//x", "",
            "/x", "/", "text/bert", "text", "visionary", "a/b/c", "a/b", "a"]


def _nested(a: str, b: str) -> bool:
    """The rule, pair by pair: equal prefixes, or one a folder inside the other."""
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


def _pairwise(where: dict[str, tuple[str | None, str]]) -> list[tuple[str, str]]:
    return [(a, b) for a, b in itertools.combinations(sorted(where), 2)
            if where[a][0] == where[b][0] and _nested(where[a][1], where[b][1])]


def test_the_index_finds_every_pair_the_pairwise_scan_finds() -> None:
    rng = random.Random(15)
    for _ in range(300):
        where = {f"m{i}": (rng.choice([None, "b1", "b2"]), rng.choice(PREFIXES)) for i in range(rng.randint(0, 12))}
        assert nested_pairs(where) == _pairwise(where), where


def test_a_thousand_distinct_prefixes_have_no_pair() -> None:
    assert nested_pairs({f"m{i:05d}": (None, f"bench/m{i:05d}") for i in range(1000)}) == []
