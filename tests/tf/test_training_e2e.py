"""The distributed run, for real: two local worker processes with the environment the
planner renders for the JobSet's pods (TF_CONFIG from the JobSet hostnames, mapped to local
ports), MultiWorkerMirroredStrategy on a small Keras model, checkpoints to S3, one worker
killed mid-run, both relaunched as JobSet restarts them, the run resumed from the last
checkpoint and finished, and the exported version checked by `tfplat-model inspect`.

Storage is moto's S3 server over HTTP (as the edge tests use), not a local path: the AWS
side of the runtime is what this exercises, TensorFlow cannot write s3:// itself, and the
runtime's S3 path (local checkpoint folder, chief uploads after each save, every worker
downloads the latest at start) is the code that makes a restart on new nodes resume.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conftest import REPO, S3, Env
import pytest
from training_stack import IMAGE, write

from infra.config.loader import load
from infra.plan.stack import plan_stack
from infra.plan.training.job import plan_job
from modelkit.cli.main import main as model_cli
from modelkit.training.local import LocalRun

STEPS, EVERY, DELAY_S = 200, 40, 0.05


def _run(env: Env, s3: S3, run_id: str) -> LocalRun:
    stack = write(env.root)
    loaded = load(env.root, stack)
    plan = plan_stack(loaded)
    assert plan.training is not None
    job = plan_job(loaded.stack, plan.training, loaded.models["tiny"], run=run_id, git_revision="0123abc")
    client = s3.client()
    for bucket in {g.bucket for g in plan.training.identities["tiny"].writes}:
        if bucket not in [b["Name"] for b in client.list_buckets()["Buckets"]]:
            client.create_bucket(Bucket=bucket)
    return LocalRun(job=job, argv=[str(REPO / "tests" / "tf" / "train_tiny.py"), str(STEPS), str(DELAY_S)],
                    extra_env={"TFPLAT_ROOT": str(env.root), "TFPLAT_SCRATCH": str(env.root / "scratch" / run_id)})


def _of(gen: int, event: str, worker: int | None = None) -> Any:
    return lambda e: e["generation"] == gen and e["event"] == event and (worker is None or e["worker"] == worker)


def test_a_killed_worker_resumes_from_the_last_checkpoint(env: Env, s3: S3, capsys: pytest.CaptureFixture[str]) -> None:
    run = _run(env, s3, "e2e")
    job = run.job
    assert job.workers == 2 and job.checkpoint_dir.startswith("s3://") and job.export_base.startswith("s3://")
    run.start()
    try:
        run.wait_for(lambda e: e["event"] == "saved" and e["worker"] == 0 and e["step"] >= 2 * EVERY, 240)
        run.kill(1)  # a node lost: the run is broken, JobSet recreates every worker
        run.kill()
        saved = max(e["step"] for e in run.events if e["event"] == "saved" and e["worker"] == 0)
        assert 2 * EVERY <= saved < STEPS and saved % EVERY == 0  # killed mid-run, at a checkpoint boundary
        run.start()
        resumed = [run.wait_for(_of(2, "first-step", w), 240) for w in (0, 1)]
        assert {r["resumed_from"] for r in resumed} == {saved}
        done = run.wait_for(_of(2, "exported", 0), 240)
        assert run.wait(120) == [0, 0]
    finally:
        run.kill()
    assert [e["step"] for e in run.events if e["event"] == "done"] == [STEPS, STEPS]
    assert done["version"] == 1 and done["location"] == f"{job.export_base}/1"

    # The version is where serving looks, and says what produced it.
    bucket, prefix = job.export_base.removeprefix("s3://").split("/", 1)
    client = s3.client()
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/1/")["Contents"]}
    assert f"{prefix}/1/saved_model.pb" in keys
    provenance = json.loads(client.get_object(Bucket=bucket, Key=f"{prefix}/1/assets.extra/tfplat-training.json")[
        "Body"].read())
    assert provenance["image"] == IMAGE and provenance["image_digest"] == IMAGE.split("@")[1]
    assert provenance["git_revision"] == "0123abc"
    assert provenance["data"] == ["s3://acme-datasets/tiny/train/"]
    assert (provenance["run"], provenance["workers"], provenance["steps"]) == (job.name, 2, STEPS)

    capsys.readouterr()
    assert model_cli(["inspect", "--model", "tiny", "--saved-model", f"s3://{bucket}/{prefix}/1"]) == 0
    assert "ok:" in capsys.readouterr().out

    # Checkpoints stayed under the model's own prefix of the checkpoint bucket.
    ckpt_bucket, ckpt_prefix = job.checkpoint_dir.removeprefix("s3://").split("/", 1)
    ckpts = {o["Key"] for o in client.list_objects_v2(Bucket=ckpt_bucket)["Contents"]}
    assert ckpts and all(k.startswith(f"tiny/{job.name}/") for k in ckpts) and ckpt_prefix == f"tiny/{job.name}"
    assert f"{ckpt_prefix}/ckpt-{STEPS}.index" in ckpts


def test_a_second_run_exports_the_next_version(env: Env, s3: S3) -> None:
    first = _run(env, s3, "v-a")
    bucket, prefix = first.job.export_base.removeprefix("s3://").split("/", 1)
    existing = s3.client().list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/").get("KeyCount", 0)
    run = _run(env, s3, "v-b")
    run.argv = [run.argv[0], "40"]
    run.start()
    try:
        done = run.wait_for(_of(1, "exported", 0), 240)
        assert run.wait(120) == [0, 0]
    finally:
        run.kill()
    assert done["version"] == (2 if existing else 1)


def test_the_jobset_env_is_what_the_workers_got(env: Env, s3: S3, tmp_path: Path) -> None:
    from modelkit.training.local import worker_envs

    run = _run(env, s3, "envcheck")
    envs = worker_envs(run.job)
    configs = [json.loads(e["TF_CONFIG"]) for e in envs]
    assert [c["task"]["index"] for c in configs] == [0, 1]
    assert configs[0]["cluster"] == configs[1]["cluster"]
    assert all(a.startswith("127.0.0.1:") for a in configs[0]["cluster"]["worker"])
    assert {e["TFPLAT_RUN"] for e in envs} == {run.job.name}
