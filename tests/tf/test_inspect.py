"""inspect: the SavedModel's serving signature against models/<name>.yaml, one test per kind of mismatch."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
import shutil
from typing import Any

from conftest import S3, Env
import pytest

from infra.config.spec import ModelSpec, Signature, TensorSpec
from modelkit.cli.main import main
from modelkit.config import load_model
from modelkit.signature import compare, read_signatures


def declared(env: Env, **changes: Any) -> Signature:
    model: ModelSpec = load_model("tiny", env.root)
    return replace(model.signature, **changes)


def diffs(env: Env, **changes: Any) -> list[str]:
    return compare(declared(env, **changes), read_signatures(env.saved_models / "1"))


F32 = TensorSpec(dtype="float32", shape=(-1, 16))
PROBS = TensorSpec(dtype="float32", shape=(-1, 4))


def test_matching_signature_has_no_differences(env: Env) -> None:
    assert diffs(env) == []


@pytest.mark.parametrize(("changes", "expected"), [
    ({"name": "predict_images"}, ["signature.name: the SavedModel has no signature 'predict_images' "
                                  "(it has: serving_default)"]),
    ({"method": "classify"}, ["signature.method: config says classify (tensorflow/serving/classify), "
                              "SavedModel has tensorflow/serving/predict"]),
    ({"inputs": {"x": F32}}, ["signature.inputs.x: declared in the model config, missing from the SavedModel "
                              "(it has: features)",
                              "signature.inputs.features: in the SavedModel (float32 [-1, 16]), "
                              "not declared in the model config"]),
    ({"inputs": {"features": TensorSpec(dtype="float64", shape=(-1, 16))}},
     ["signature.inputs.features.dtype: config says float64, SavedModel has float32"]),
    ({"inputs": {"features": TensorSpec(dtype="float32", shape=(-1, 8))}},
     ["signature.inputs.features.shape: config says [-1, 8], SavedModel has [-1, 16] (-1 = any size)"]),
    ({"inputs": {"features": TensorSpec(dtype="float32", shape=(-1, 16, 1))}},
     ["signature.inputs.features.shape: config says [-1, 16, 1], SavedModel has [-1, 16] (-1 = any size)"]),
    ({"outputs": {"probabilities": TensorSpec(dtype="float32", shape=(-1, 5))}},
     ["signature.outputs.probabilities.shape: config says [-1, 5], SavedModel has [-1, 4] (-1 = any size)"]),
    ({"outputs": {"probabilities": PROBS, "logits": PROBS}},
     ["signature.outputs.logits: declared in the model config, missing from the SavedModel "
      "(it has: probabilities)"]),
    ({"outputs": {"probabilities": TensorSpec(dtype="int64", shape=(-1,))}},
     ["signature.outputs.probabilities.dtype: config says int64, SavedModel has float32",
      "signature.outputs.probabilities.shape: config says [-1], SavedModel has [-1, 4] (-1 = any size)"]),
])
def test_each_kind_of_mismatch_is_listed(env: Env, changes: dict[str, Any], expected: list[str]) -> None:
    assert diffs(env, **changes) == expected


def test_cli_lists_every_difference_and_fails(env: Env, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (env.root / "models" / "tiny.yaml").read_text()
    broken = text.replace("features: {dtype: float32, shape: [-1, 16]}", "features: {dtype: int32, shape: [-1, 3]}")
    (env.root / "models" / "tiny.yaml").write_text(broken)
    try:
        assert main(["inspect", "--model", "tiny", "--saved-model", str(env.saved_models / "1")]) == 1
    finally:
        (env.root / "models" / "tiny.yaml").write_text(text)
    err = capsys.readouterr().err
    assert "signature.inputs.features.dtype: config says int32, SavedModel has float32" in err
    assert "signature.inputs.features.shape: config says [-1, 3], SavedModel has [-1, 16]" in err
    assert main(["inspect", "--model", "tiny", "--saved-model", str(env.saved_models / "1")]) == 0


def test_inspect_reads_a_version_from_s3(env: Env, s3: S3, capsys: pytest.CaptureFixture[str]) -> None:
    bucket = s3.new_bucket()
    s3.upload_dir(bucket, "test/tiny/1", env.saved_models / "1")
    assert main(["inspect", "--model", "tiny", "--saved-model", f"s3://{bucket}/test/tiny/1"]) == 0
    assert "matches" in capsys.readouterr().out
    # A version that is not there is a user mistake: exit 2, not a traceback.
    assert main(["inspect", "--model", "tiny", "--saved-model", f"s3://{bucket}/test/tiny/9"]) == 2
    assert "no objects under this path" in capsys.readouterr().err


def test_not_a_saved_model_is_exit_2(env: Env, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copytree(env.saved_models / "1" / "variables", tmp_path / "variables")
    assert main(["inspect", "--model", "tiny", "--saved-model", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no SavedModel here" in err and "fix:" in err
