"""Property: on stack files that share entries through anchors, aliases and merge keys, every
rollout command changes only the entry of the model it names, or refuses and changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
import re
import tempfile
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infra.cli.committed import rollout_of
from infra.cli.rollout_cmd import apply_step
from infra.config.errors import ConfigError
from infra.config.yamlio import parse_yaml
from infra.rules import rollout as steps
from infra.rules.rollout import Rollout
from tests.conftest import copy_config

MODELS = ("mobilenet", "resnet50", "bert-ranker")
MODELS_BLOCK = re.compile(r"  tfplat:models:\n(?:    .*\n|      .*\n)+", re.M)

# How each entry is written. mobilenet defines the anchors the others may use.
MOBILENET = {
    "plain": "    mobilenet: &m\n      blue: 4\n      live: blue\n",
    "flow": "    mobilenet: &m {blue: 4, live: blue}\n",
    "with autoscaling": "    mobilenet: &m\n      blue: 4\n      live: blue\n"
                     "      autoscaling: &r {min_replicas: 1, max_replicas: 2}\n",
}
OTHERS = {
    "resnet50": {
        "plain": "    resnet50:\n      blue: 7\n      green: 8\n      live: green\n",
        "alias": "    resnet50: *m\n",
        "merge": "    resnet50: {<<: *m, blue: 7}\n",
        "merge block": "    resnet50:\n      <<: *m\n      green: 8\n",
    },
    "bert-ranker": {
        "plain": "    bert-ranker:\n      blue: 2\n      live: blue\n",
        "alias": "    bert-ranker: *m\n",
        "merge": "    bert-ranker: {<<: *m, blue: 2}\n",
        "autoscaling alias": "    bert-ranker:\n      blue: 2\n      live: blue\n      autoscaling: *r\n",
    },
}

Step = Callable[[Rollout], Rollout]


def _step(op: str, arg: int) -> Step:
    if op == "stage":
        return lambda r: steps.stage(r, arg)
    if op == "canary":
        return lambda r: steps.canary(r, arg)
    return {"switch": steps.switch, "rollback": steps.rollback, "retire": steps.retire}[op]


def _plain(text: str) -> dict[str, Any]:
    doc, issues = parse_yaml(text.replace("\r\n", "\n"), "stack")
    assert doc is not None, issues
    data: dict[str, Any] = doc.data
    return data


def _without(data: dict[str, Any], model: str) -> dict[str, Any]:
    config = dict(data["config"])
    models = dict(config.pop("tfplat:models"))
    models.pop(model)
    return {**data, "config": {**config, "tfplat:models": models}}


layouts = st.tuples(st.sampled_from(sorted(MOBILENET)), st.sampled_from(sorted(OTHERS["resnet50"])),
                    st.sampled_from(sorted(OTHERS["bert-ranker"])), st.booleans())
commands = st.lists(st.tuples(st.sampled_from(MODELS), st.sampled_from(["stage", "canary", "switch", "rollback",
                                                                        "retire"]),
                              st.integers(min_value=0, max_value=12)), min_size=1, max_size=6)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layout=layouts, sequence=commands)
def test_each_command_changes_only_its_model(layout: tuple[str, str, str, bool],
                                             sequence: list[tuple[str, str, int]]) -> None:
    mobilenet, resnet, bert, crlf = layout
    if bert == "autoscaling alias" and mobilenet != "with autoscaling":
        bert = "plain"  # *r needs the anchor mobilenet's autoscaling defines
    block = MOBILENET[mobilenet] + OTHERS["resnet50"][resnet] + OTHERS["bert-ranker"][bert]
    with tempfile.TemporaryDirectory(prefix="tfplat-prop-") as tmp:
        root = copy_config(Path(tmp))
        path = root / "stacks" / "Pulumi.dev.yaml"
        text = MODELS_BLOCK.sub(lambda _m: "  tfplat:models:\n" + block, path.read_text(), count=1)
        path.write_bytes(text.replace("\n", "\r\n").encode() if crlf else text.encode())
        for model, op, arg in sequence:
            before_bytes = path.read_bytes()
            before = _plain(before_bytes.decode())
            try:
                result = apply_step(root, "dev", model, _step(op, arg))
            except ConfigError:
                assert path.read_bytes() == before_bytes  # refused: nothing changed
                continue
            after_bytes = path.read_bytes()
            if result.written is None:
                assert after_bytes == before_bytes
                continue
            after = _plain(after_bytes.decode())
            assert _without(after, model) == _without(before, model), f"{op} {model} changed another entry"
            assert rollout_of(after["config"]["tfplat:models"][model]) == result.after
            assert after_bytes.count(b"\r\n") == (after_bytes.count(b"\n") if crlf else 0)
