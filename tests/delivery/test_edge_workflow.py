"""The scheduled edge re-sign workflow keeps up with the stacks: every stack that publishes edge
models is in it, in the right GitHub environment, often enough for its timestamp's lifetime."""

from __future__ import annotations

import re

from infra.config.loader import available_stacks, load
from tests.delivery import workflows as w

WORKFLOW = w.load(w.WORKFLOWS / "edge-resign.yml")


def _every_hours(cron: str) -> int:
    """Hours between runs of a "<minute> */<n> * * *" schedule (the only form used here)."""
    match = re.fullmatch(r"\d{1,2} \*/(\d{1,2}) \* \* \*", cron)
    assert match, f"unexpected schedule {cron!r}"
    return int(match.group(1))


def test_every_edge_stack_is_refreshed_in_its_environment_often_enough() -> None:
    job = w.jobs(WORKFLOW)["refresh"]
    entries = {e["stack"]: e for e in job["strategy"]["matrix"]["include"]}
    stacks = {s: load(w.REPO, s).stack for s in available_stacks(w.REPO)}
    assert set(entries) == {s for s, spec in stacks.items() if spec.edge.enabled}
    deploy = w.jobs(w.load_all()["deploy.yml"]).values()
    deploy_env = {j["with"]["stack"]: j["with"]["environment"] for j in deploy if "with" in j}
    every = _every_hours(w.triggers(WORKFLOW)["schedule"][0]["cron"])
    for name, entry in entries.items():
        spec = stacks[name]
        assert (entry["cloud"], entry["region"], entry["environment"]) == (spec.cloud, spec.region, deploy_env[name])
        assert entry["key"] == name.upper().replace("-", "_")
        # The job re-signs at half the timestamp's lifetime; it must run at least that often.
        assert every <= spec.edge.timestamp_expiry_hours / 2, (name, every)
    assert job["concurrency"] == {"group": "edge-${{ matrix.stack }}", "cancel-in-progress": False}
    assert any("make edge-refresh" in str(s.get("run", "")) for s in job["steps"])
