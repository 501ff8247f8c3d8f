"""A training job's entry point, as a model team would write it: the tiny classifier of the
conftest, trained with modelkit.training and exported as the model's next version.

Run as a process per worker by tests/tf/test_training_e2e.py and bench/training_bench.py,
with exactly the environment the JobSet gives a pod. Prints one JSON line per event
(`start`, `first-step`, `saved`, `done`, `exported`; `step` for every step when
TFPLAT_TINY_STEP_EVENTS=1) so the caller can follow it.

    python tests/tf/train_tiny.py STEPS [STEP_DELAY_S]
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

FEATURES, CLASSES, GLOBAL_BATCH = 16, 4, 64


def main(argv: list[str]) -> int:
    import keras
    import numpy as np
    import tensorflow as tf

    from modelkit.config import load_model
    from modelkit.training import export, loop
    from modelkit.training.spec import RunSpec

    steps = int(argv[0])
    delay = float(argv[1]) if len(argv) > 1 else 0.0
    spec = RunSpec.from_env()

    def emit(event: str, **fields: Any) -> None:
        print(json.dumps({"event": event, "worker": spec.task_index, "t": time.monotonic(), **fields}), flush=True)

    def build() -> tuple[Any, Any]:
        keras.utils.set_random_seed(7)
        model = keras.Sequential([keras.Input((FEATURES,)), keras.layers.Dense(32, activation="relu"),
                                  keras.layers.Dense(CLASSES, activation="softmax")])
        return model, keras.optimizers.Adam(1e-2)

    def dataset(ctx: Any, start_step: int) -> Any:
        rng = np.random.default_rng(1234)
        centres = rng.normal(0, 3, size=(CLASSES, FEATURES))
        labels = rng.integers(0, CLASSES, size=4096)
        x = (centres[labels] + rng.normal(0, 1, size=(4096, FEATURES))).astype("float32")
        ds = tf.data.Dataset.from_tensor_slices((x, labels)).repeat()
        ds = ds.shard(ctx.num_input_pipelines, ctx.input_pipeline_id)
        return ds.batch(ctx.get_per_replica_batch_size(GLOBAL_BATCH))

    loss = keras.losses.SparseCategoricalCrossentropy(reduction="none")

    every_step = os.environ.get("TFPLAT_TINY_STEP_EVENTS") == "1"  # the benchmark follows each step

    def on_step(p: loop.Progress) -> None:
        if every_step:
            emit("step", step=p.steps)
        if p.steps == p.resumed_from + 1:
            emit("first-step", step=p.steps, resumed_from=p.resumed_from)
        if p.saved and p.saved[-1] == p.steps:
            emit("saved", step=p.steps)
        if delay:
            time.sleep(delay)

    emit("start")
    model, progress = loop.fit(spec, build=build, dataset_fn=dataset, loss_fn=loss, global_batch_size=GLOBAL_BATCH,
                               steps=steps, on_step=on_step)
    emit("done", step=progress.steps, resumed_from=progress.resumed_from, loss=progress.losses[-1])
    if spec.is_chief:
        out = export.export_version(spec, model, load_model(spec.model).signature, steps=progress.steps)
        emit("exported", version=out.version, location=out.location)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
