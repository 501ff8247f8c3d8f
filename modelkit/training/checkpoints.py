"""Where a run's checkpoints live, so that a restart of every worker resumes from the last one.

TensorFlow writes gs:// and local paths itself. It cannot write s3:// (TensorFlow 2.6 moved
its S3 filesystem out to tensorflow-io, which this image does not carry), so for an S3
checkpoint directory each worker works in a local folder: at start it downloads the latest
checkpoint, and after each save the chief uploads the new files, then TensorFlow's
`checkpoint` index file last, so the index never names a checkpoint that is not there yet.

In multi-worker training every worker must take part in a save (it is a collective); only the
chief's copy counts, the others write to a scratch folder of their own (TensorFlow's
documented pattern for MultiWorkerMirroredStrategy).
"""

from __future__ import annotations

from dataclasses import dataclass
import os
from pathlib import Path
import tempfile
from typing import Any

from modelkit import storage
from modelkit.training.spec import RunSpec

INDEX_FILE = "checkpoint"  # tf.train.CheckpointManager's state file


@dataclass
class CheckpointDir:
    spec: RunSpec
    local_root: Path  # scratch space of this worker

    @property
    def remote(self) -> storage.ObjectUri | None:
        loc = self.spec.checkpoint_dir
        return storage.parse_uri(loc, what="checkpoint dir") if loc.startswith("s3://") else None

    @property
    def write_dir(self) -> str:
        """Where this worker's CheckpointManager writes."""
        if not self.spec.is_chief:
            return str(self.local_root / f"worker-{self.spec.task_index}")
        if self.remote is not None:
            return str(self.local_root / "chief")
        return self.spec.checkpoint_dir

    @property
    def read_dir(self) -> str:
        """Where every worker looks for the checkpoint to resume from."""
        if self.remote is not None:
            return str(self.local_root / "latest")
        return self.spec.checkpoint_dir

    def fetch_latest(self) -> str | None:
        """The path prefix of the newest checkpoint (downloaded first from S3), or None."""
        import tensorflow as tf

        remote = self.remote
        if remote is not None:
            s3 = storage.client("s3")
            keys = {k[len(remote.key) + 1:] for k, _ in storage.list_keys(s3, remote)}
            if INDEX_FILE not in keys:
                return None
            target = Path(self.read_dir)
            target.mkdir(parents=True, exist_ok=True)
            storage.download_file(remote.child(INDEX_FILE), target / INDEX_FILE)
            prefix = _latest_prefix(target / INDEX_FILE)
            for name in sorted(keys):
                if name.startswith(prefix + "."):
                    storage.download_file(remote.child(name), target / name)
        latest: str | None = tf.train.latest_checkpoint(self.read_dir)
        return latest

    def publish(self, saved: str) -> None:
        """After a save: the chief's new checkpoint reaches the checkpoint dir (S3: uploaded,
        index last; stale remote files removed). Other workers and native paths: nothing."""
        remote = self.remote
        if remote is None or not self.spec.is_chief:
            return
        local = Path(self.write_dir)
        s3 = storage.client("s3")
        prefix = Path(saved).name
        for file in sorted(local.glob(prefix + ".*")):
            storage.upload_file(remote.child(file.name), file)
        storage.upload_file(remote.child(INDEX_FILE), local / INDEX_FILE, content_type="text/plain")
        present = {f.name for f in local.iterdir()}
        for key, _ in list(storage.list_keys(s3, remote)):
            name = key[len(remote.key) + 1:]
            if "/" not in name and name not in present:
                s3.delete_object(Bucket=remote.bucket, Key=key)


def _latest_prefix(index: Path) -> str:
    """`model_checkpoint_path: "ckpt-40"` -> ckpt-40 (the format tf.train.CheckpointManager writes)."""
    for line in index.read_text(encoding="utf-8").splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model_checkpoint_path":
            return os.path.basename(value.strip().strip('"'))
    raise ValueError(f"{index}: no model_checkpoint_path")


def scratch(spec: RunSpec) -> Path:
    """A per-run scratch folder ($TFPLAT_SCRATCH, else the system temp dir)."""
    base = Path(os.environ.get("TFPLAT_SCRATCH") or tempfile.gettempdir())
    path = base / "tfplat-training" / spec.run / f"worker-{spec.task_index}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def manager(checkpoint: Any, directory: str, keep: int = 3) -> Any:
    import tensorflow as tf

    return tf.train.CheckpointManager(checkpoint, directory, max_to_keep=keep)
