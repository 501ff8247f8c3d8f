"""Distributed training benchmark (run with .venv-tf: `.venv-tf/bin/python bench/training_bench.py`).

The tiny classifier of tests/tf (tests/tf/train_tiny.py) trained by local worker processes with
exactly the environment the planner renders for a JobSet's pods (modelkit.training.local), on
moto's S3 server for checkpoints and exports, as the end-to-end test does. Three figures:

1. wall time of 2 workers against 1 on the same data and the same global batch, from launch to
   the chief's last step; also the steady step rate (after the first step);
2. steps lost when a worker is killed, against the checkpoint interval: the step the chief had
   reached at the kill, minus the step the relaunched run resumed from;
3. time from relaunch (every worker started again) to the first new step, split into process
   start and TensorFlow import (the `start` event) and strategy set-up, checkpoint download and
   restore until the first step.

The machine's 2 cores are shared by both workers (and by anything else running), so figure 1
says what the coordination costs here, not what 2 GPU nodes would gain. Results are printed and
written to bench/results/training_bench.json.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
import json
import os
from pathlib import Path
import shutil
import statistics
import sys
import tempfile
import time
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "tf"))  # the tiny model's recipe and stack (shared with the tests)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def setup(work: Path) -> tuple[Any, Any, str]:
    """(run planner: (run id, workers) -> JobPlan, moto server, endpoint), config root in `work`."""
    import logging

    from moto.server import ThreadedMotoServer
    from training_stack import write

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log

    from infra.config.loader import load
    from infra.plan.stack import plan_stack
    from infra.plan.training.job import plan_job

    root = work / "root"
    for name in ("models", "stacks"):
        shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("samples"))
    shutil.copy(REPO / "Pulumi.yaml", root / "Pulumi.yaml")
    stack = write(root)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint, "TFPLAT_ROOT": str(root)})
    loaded = load(root, stack)
    plan = plan_stack(loaded)
    assert plan.training is not None
    training = plan.training

    def job(run: str, workers: int | None = None) -> Any:
        return plan_job(loaded.stack, training, loaded.models["tiny"], run=run, git_revision="bench", workers=workers)

    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    for bucket in {g.bucket for g in plan.training.identities["tiny"].writes}:
        s3.create_bucket(Bucket=bucket)
    return job, server, endpoint


def _local(job: Any, work: Path, steps: int, *, step_events: bool = False) -> Any:
    from modelkit.training.local import LocalRun

    env = {"TFPLAT_ROOT": os.environ["TFPLAT_ROOT"], "TFPLAT_SCRATCH": str(work / "scratch" / job.name)}
    if step_events:
        env["TFPLAT_TINY_STEP_EVENTS"] = "1"
    return LocalRun(job=job, argv=[str(REPO / "tests" / "tf" / "train_tiny.py"), str(steps)], extra_env=env)


def _chief(gen: int, event: str) -> Any:
    return lambda e: e["generation"] == gen and e["worker"] == 0 and e["event"] == event


def wall_time(job: Any, work: Path, workers: int, steps: int, rounds: int) -> dict[str, float]:
    """Launch to the chief's `done`, and the steady step rate, median over rounds."""
    walls, rates = [], []
    for r in range(rounds):
        run = _local(job(f"w{workers}-r{r}", workers), work, steps)
        started = run.start()
        try:
            first = run.wait_for(_chief(1, "first-step"), 600)
            done = run.wait_for(_chief(1, "done"), 900)
            run.wait(300)
        finally:
            run.kill()
        walls.append(done["t"] - started)
        rates.append((steps - 1) / (done["t"] - first["t"]))
    return {"wall_s": statistics.median(walls), "steps_per_s": statistics.median(rates)}


def restart(job: Any, work: Path, every: int, kill_at: int, steps: int) -> dict[str, float]:
    """Kill worker 1 once the chief reached `kill_at`, relaunch both; steps lost, relaunch cost."""
    run = _local(replace(job(f"k{every}"), checkpoint_every_steps=every), work, steps, step_events=True)
    run.start()
    try:
        run.wait_for(lambda e: e["generation"] == 1 and e["worker"] == 0 and e["event"] == "step"
                     and e["step"] >= kill_at, 600)
        run.kill(1)
        run.kill()
        reached = max(e["step"] for e in run.events if e["generation"] == 1 and e["event"] == "step"
                      and e["worker"] == 0)
        relaunched = run.start()
        start = run.wait_for(_chief(2, "start"), 600)
        first = run.wait_for(_chief(2, "first-step"), 600)
        run.wait_for(_chief(2, "done"), 900)
        run.wait(300)
    finally:
        run.kill()
    return {"interval": every, "killed_at": reached, "resumed_from": first["resumed_from"],
            "steps_lost": reached - first["resumed_from"], "relaunch_to_start_s": start["t"] - relaunched,
            "relaunch_to_first_step_s": first["t"] - relaunched}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="steps per wall-time run (default 300)")
    parser.add_argument("--rounds", type=int, default=2, help="wall-time rounds, median reported (default 2)")
    parser.add_argument("--intervals", default="10,25,50", help="checkpoint intervals to kill at (default 10,25,50)")
    parser.add_argument("--kill-at", type=int, default=90, help="the chief's step at the kill (default 90)")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="tfplat-training-bench-"))
    job, server, _ = setup(work)
    try:
        one = wall_time(job, work, 1, args.steps, args.rounds)
        two = wall_time(job, work, 2, args.steps, args.rounds)
        kills = [restart(job, work, int(i), args.kill_at, args.kill_at + 30) for i in args.intervals.split(",")]
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"1. same data, global batch 64, {args.steps} steps (median of {args.rounds}):")
    print(f"   1 worker : {one['wall_s']:7.1f} s launch to last step, {one['steps_per_s']:6.1f} steps/s steady")
    print(f"   2 workers: {two['wall_s']:7.1f} s launch to last step, {two['steps_per_s']:6.1f} steps/s steady")
    print(f"   ratio 2/1: wall {two['wall_s'] / one['wall_s']:.2f}x, "
          f"step rate {two['steps_per_s'] / one['steps_per_s']:.2f}x")
    print(f"2./3. worker killed at the chief's step ~{args.kill_at}, both relaunched:")
    print("   interval  killed at  resumed from  steps lost  relaunch->start  relaunch->first step")
    for k in kills:
        print(f"   {k['interval']:8d}  {k['killed_at']:9d}  {k['resumed_from']:12d}  {k['steps_lost']:10d}"
              f"  {k['relaunch_to_start_s']:13.1f} s  {k['relaunch_to_first_step_s']:18.1f} s")
    results = {"one_worker": one, "two_workers": two, "restarts": kills, "steps": args.steps,
               "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    out = REPO / "bench" / "results" / "training_bench.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
