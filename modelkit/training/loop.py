"""The training loop: a custom loop under the run's tf.distribute strategy, checkpointed every
`checkpoint_every_steps` steps and resumed from the newest checkpoint after a restart.

A custom loop (not Keras' fit with BackupAndRestore) because it runs unchanged under
MirroredStrategy, MultiWorkerMirroredStrategy and TPUStrategy and checkpoints by step, which
is what bounds the work a restart loses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
import time
from typing import Any

from modelkit.training import checkpoints
from modelkit.training.spec import RunSpec


def make_strategy(spec: RunSpec) -> Any:
    """The tf.distribute strategy the job's strategy names (TF_CONFIG / the TPU environment
    are read by TensorFlow's own cluster resolvers)."""
    import tensorflow as tf

    if spec.strategy == "multi-worker-mirrored":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if spec.strategy == "tpu":
        if spec.workers == 1:  # a single-host slice: the TPU attached to this VM
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu="local")
            tf.config.experimental_connect_to_cluster(resolver)
        else:
            # A multi-host slice: TPUClusterResolver reads every host's TPU server from
            # KUBE_GOOGLE_CLOUD_TPU_ENDPOINTS (the JobSet sets it). Host 0 runs the program as
            # worker 0 of that cluster; the other hosts only serve their TPUs to it.
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
            if not spec.is_chief:
                serve_tpu_host(resolver, spec.task_index)
            tf.config.experimental_connect_to_cluster(resolver, job_name="worker", task_index=0)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    return tf.distribute.MirroredStrategy()


def serve_tpu_host(resolver: Any, task_index: int) -> None:
    """Serve this host's TPU (worker `task_index` of the slice's cluster) to host 0 until the pod
    ends: the Job's success policy stops every host once host 0 has exported. Never returns."""
    import tensorflow as tf

    server = tf.distribute.Server(resolver.cluster_spec(), job_name="worker", task_index=task_index,
                                  protocol="grpc", start=True)
    server.join()
    raise SystemExit(0)  # join() returns only if the server is stopped


@dataclass
class Progress:
    """What a run did: for logs, tests and the restart benchmark."""

    resumed_from: int  # the step of the checkpoint it started from (0: none)
    steps: int = 0  # the step reached
    saved: list[int] = field(default_factory=list)
    started_at: float = field(default_factory=time.monotonic)
    first_step_at: float | None = None  # monotonic time the first new step finished
    losses: list[float] = field(default_factory=list)


Build = Callable[[], tuple[Any, Any]]  # () -> (keras model, optimizer), called in scope
DatasetFn = Callable[[Any, int], Any]  # (tf.distribute.InputContext, start step) -> tf.data.Dataset
LossFn = Callable[[Any, Any], Any]  # (labels, predictions) -> per-example losses


def fit(spec: RunSpec, *, build: Build, dataset_fn: DatasetFn, loss_fn: LossFn, global_batch_size: int,
        steps: int, strategy: Any | None = None, on_step: Callable[[Progress], None] | None = None,
        ) -> tuple[Any, Progress]:
    """Train to `steps` (resuming from the newest checkpoint), returning (model, progress)."""
    import tensorflow as tf

    strategy = strategy or make_strategy(spec)
    with strategy.scope():
        model, optimizer = build()
        step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        ckpt = tf.train.Checkpoint(model=model, optimizer=optimizer, step=step)
    store = checkpoints.CheckpointDir(spec, checkpoints.scratch(spec))
    latest = store.fetch_latest()
    if latest is not None:
        ckpt.restore(latest).expect_partial()
    progress = Progress(resumed_from=int(step.numpy()))
    mgr = checkpoints.manager(ckpt, store.write_dir)
    dataset = strategy.distribute_datasets_from_function(lambda ctx: dataset_fn(ctx, progress.resumed_from))
    batches = iter(dataset)

    def replica_step(x: Any, y: Any) -> Any:
        with tf.GradientTape() as tape:
            per_example = loss_fn(y, model(x, training=True))
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch_size)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    @tf.function  # type: ignore[untyped-decorator]
    def train_step(iterator: Any) -> Any:
        x, y = next(iterator)
        return strategy.reduce("SUM", strategy.run(replica_step, args=(x, y)), axis=None)

    while int(step.numpy()) < steps:
        loss = train_step(batches)
        step.assign_add(1)
        now = int(step.numpy())
        progress.steps = now
        progress.losses.append(float(loss))
        if progress.first_step_at is None:
            progress.first_step_at = time.monotonic()
        if now % spec.checkpoint_every_steps == 0 or now == steps:
            saved = mgr.save(checkpoint_number=now)  # a collective: every worker saves
            store.publish(saved)
            progress.saved.append(now)
        if on_step is not None:
            on_step(progress)
    return model, progress
