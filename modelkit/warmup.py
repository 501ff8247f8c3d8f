"""TF Serving warmup: assets.extra/tf_serving_warmup_requests (TFRecord of PredictionLog).

TF Serving replays these requests when it loads a version and reports the version
AVAILABLE only afterwards, so the first real requests do not pay for graph
initialisation. With batching on, one request per allowed batch size warms each padded
batch shape the batcher will form; without it, one request of batch size 1.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
import tempfile

import numpy as np
import numpy.typing as npt

from infra.config.spec import ModelSpec
from modelkit import samples as samples_mod
from modelkit import savedmodel, storage
from modelkit.errors import UserError

WARMUP_FILE = "assets.extra/tf_serving_warmup_requests"


def batch_sizes(model: ModelSpec) -> tuple[int, ...]:
    b = model.serving.batching
    if not b.enabled:
        return (1,)
    return tuple(sorted(set(b.allowed_batch_sizes) | {1})) if b.allowed_batch_sizes else (1, b.max_batch_size)


def prediction_logs(model: ModelSpec, arrays: Mapping[str, npt.NDArray[np.generic]],
                    sizes: tuple[int, ...]) -> list[bytes]:
    """Serialized PredictionLog records, one PredictRequest per batch size."""
    import tensorflow as tf
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    records = []
    for i, size in enumerate(sizes):
        rows = samples_mod.batch(arrays, start=i, size=size)
        request = predict_pb2.PredictRequest(
            model_spec=model_pb2.ModelSpec(name=model.name, signature_name=model.signature.name))
        for name in sorted(rows):
            request.inputs[name].CopyFrom(tf.make_tensor_proto(rows[name]))
        log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
        records.append(log.SerializeToString())
    return records


def write_records(records: list[bytes], path: Path) -> None:
    import tensorflow as tf

    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in records:
            writer.write(record)


def write_warmup(model: ModelSpec, location: str, arrays: Mapping[str, npt.NDArray[np.generic]]) -> tuple[str, int]:
    """Write the warmup file into the version at `location` (local dir, or s3:// / gs://).

    Returns (where it was written, number of requests). A remote version only gets the one
    new object; nothing else in it is rewritten.
    """
    sizes = batch_sizes(model)
    records = prediction_logs(model, arrays, sizes)
    if storage.is_remote(location):
        version = storage.parse_uri(location, what="--saved-model")
        if not storage.exists(version.child("saved_model.pb")):
            raise UserError.one(file=location, field="saved_model.pb", message="no SavedModel here",
                                fix="point at one version directory (e.g. s3://bucket/vision/mobilenet/4)")
        uri = version.child(WARMUP_FILE)
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / "warmup.tfrecord"
            write_records(records, local)
            storage.upload_file(uri, local)
        return str(uri), len(records)
    target = savedmodel.fetch(location, Path(location)) / WARMUP_FILE
    write_records(records, target)
    return str(target), len(records)
