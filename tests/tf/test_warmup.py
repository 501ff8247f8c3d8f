"""warmup: the file parses as PredictionLog records, and a TF Serving-like load replays them."""

from __future__ import annotations

from pathlib import Path
import shutil
from typing import Any

from conftest import S3, Env
import numpy as np
import pytest

from modelkit.cli.main import main
from modelkit.config import load_model
from modelkit.warmup import WARMUP_FILE, batch_sizes


def read_logs(path: Path) -> list[Any]:
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    return [prediction_log_pb2.PredictionLog.FromString(r.numpy()) for r in tf.data.TFRecordDataset(str(path))]


def test_warmup_records_replay_through_the_signature(env: Env, tmp_path: Path) -> None:
    import tensorflow as tf

    version = tmp_path / "1"
    shutil.copytree(env.saved_models / "1", version)
    assert main(["warmup", "--model", "tiny", "--saved-model", str(version)]) == 0
    logs = read_logs(version / WARMUP_FILE)
    model = load_model("tiny", env.root)
    assert batch_sizes(model) == (1, 2, 4, 8)
    assert len(logs) == 4

    # What TF Serving does at load: restore the version, then run every request through
    # the named signature before reporting the version available.
    loaded = tf.saved_model.load(str(version))
    for log, size in zip(logs, batch_sizes(model), strict=True):
        assert log.WhichOneof("log_type") == "predict_log"
        request = log.predict_log.request
        assert (request.model_spec.name, request.model_spec.signature_name) == ("tiny", "serving_default")
        assert sorted(request.inputs) == ["features"]
        inputs = {k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()}
        assert inputs["features"].shape == (size, 16) and inputs["features"].dtype == tf.float32
        out = loaded.signatures[request.model_spec.signature_name](**inputs)
        probs = out["probabilities"].numpy()
        assert probs.shape == (size, 4)
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_warmup_into_a_remote_version(env: Env, s3: S3, tmp_path: Path) -> None:
    bucket = s3.new_bucket()
    assert main(["warmup", "--model", "tiny", "--saved-model", f"s3://{bucket}/test/tiny/1"]) == 2  # empty
    s3.upload_dir(bucket, "test/tiny/1", env.saved_models / "1")
    assert main(["warmup", "--model", "tiny", "--saved-model", f"s3://{bucket}/test/tiny/1"]) == 0
    local = tmp_path / "warmup"
    s3.client().download_file(bucket, f"test/tiny/1/{WARMUP_FILE}", str(local))
    assert len(read_logs(local)) == 4


def test_missing_samples_file_is_exit_2(env: Env, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    version = tmp_path / "1"
    shutil.copytree(env.saved_models / "1", version)
    assert main(["warmup", "--model", "tiny", "--saved-model", str(version), "--samples", "nope.npz"]) == 2
    err = capsys.readouterr().err
    assert "edge.samples" in err and "the samples file does not exist" in err and "Traceback" not in err
