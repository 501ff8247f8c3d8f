"""What one run is, read from the environment its JobSet gives every container."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
import json
import os

from infra.rules import distribution as d
from modelkit.errors import UserError

STRATEGIES = ("mirrored", "multi-worker-mirrored", "tpu")


@dataclass(frozen=True, kw_only=True)
class RunSpec:
    model: str
    run: str
    strategy: str
    data: tuple[str, ...]
    checkpoint_dir: str  # s3://, gs:// or a local path
    checkpoint_every_steps: int
    export_base: str  # <bucket>/<prefix>: the new version goes to <export_base>/<n>/
    image: str
    git_revision: str
    task_index: int  # this worker's index (0: the chief, which uploads and exports)
    workers: int

    @property
    def is_chief(self) -> bool:
        return self.task_index == 0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RunSpec:
        """Raises UserError naming every missing or malformed variable."""
        env = os.environ if env is None else env
        required = (d.ENV_MODEL, d.ENV_RUN, d.ENV_STRATEGY, d.ENV_CHECKPOINT_DIR, d.ENV_EXPORT_BASE,
                    d.ENV_CHECKPOINT_EVERY_STEPS)
        missing = [k for k in required if not env.get(k)]
        if missing:
            raise UserError.one(file="(environment)", field=", ".join(missing),
                                message="not set; the training runtime runs inside a job `tfplat train` submits",
                                fix="start it through `tfplat train MODEL --stack ENV`, or set these variables "
                                    "for a local run")
        strategy = env[d.ENV_STRATEGY]
        if strategy not in STRATEGIES:
            raise UserError.one(file="(environment)", field=d.ENV_STRATEGY, value=strategy,
                                message="unknown strategy", fix=f"use one of {', '.join(STRATEGIES)}")
        every = env[d.ENV_CHECKPOINT_EVERY_STEPS]
        if not every.isdigit() or int(every) < 1:
            raise UserError.one(file="(environment)", field=d.ENV_CHECKPOINT_EVERY_STEPS, value=every,
                                message="not a positive number of steps", fix="set a whole number >= 1")
        index, workers = _task(env, strategy)
        return cls(model=env[d.ENV_MODEL], run=env[d.ENV_RUN], strategy=strategy,
                   data=tuple(x for x in env.get(d.ENV_DATA, "").split(",") if x),
                   checkpoint_dir=env[d.ENV_CHECKPOINT_DIR].rstrip("/"), checkpoint_every_steps=int(every),
                   export_base=env[d.ENV_EXPORT_BASE].rstrip("/"), image=env.get(d.ENV_IMAGE, ""),
                   git_revision=env.get(d.ENV_GIT_REVISION, ""), task_index=index, workers=workers)


def _task(env: Mapping[str, str], strategy: str) -> tuple[int, int]:
    """(this worker's index, number of workers): TF_CONFIG for multi-worker runs, GKE's TPU
    environment on a multi-host slice, else one worker."""
    if strategy == "multi-worker-mirrored" and env.get("TF_CONFIG"):
        try:
            config = json.loads(env["TF_CONFIG"])
            return int(config["task"]["index"]), len(config["cluster"]["worker"])
        except (ValueError, KeyError, TypeError) as exc:
            raise UserError.one(file="(environment)", field="TF_CONFIG", value=env["TF_CONFIG"],
                                message=f"not a TF_CONFIG with cluster.worker and task.index ({exc})",
                                fix="let the JobSet set it (infra.rules.distribution.multi_worker_env)") from exc
    if strategy == "tpu" and env.get(d.TPU_WORKER_HOSTNAMES):
        return int(env.get(d.TPU_WORKER_ID, "0")), len(env[d.TPU_WORKER_HOSTNAMES].split(","))
    return 0, 1
