"""Fixtures for the TensorFlow side; this folder runs only in .venv-tf (`make test-tf`).

Everything is real and local: a small classifier trained here on synthetic data and
exported as a SavedModel, its TFLite builds, and an S3 endpoint served over HTTP by moto
on 127.0.0.1 (no mock patching: boto3, awscli and the device client talk HTTP to it).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
import json
import os
from pathlib import Path
import shutil
from typing import Any
import uuid

import numpy as np
import numpy.typing as npt
import pytest

from modelkit.edge import build as edge_build

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[2]
FEATURES, CLASSES = 16, 4

TINY_MODEL = """\
name: tiny
description: 4-class classifier trained by the tests on synthetic data
owner: platform-team
task: classification
artifact:
  prefix: test/tiny
signature:
  inputs:
    features: {dtype: float32, shape: [-1, 16]}
  outputs:
    probabilities: {dtype: float32, shape: [-1, 4]}
serving:
  accelerator:
    kind: cpu
  resources:
    cpu: "1"
    memory: 512Mi
  batching:
    max_batch_size: 8
    batch_timeout_micros: 1000
    num_batch_threads: 1
    allowed_batch_sizes: [2, 4, 8]
  autoscaling:
    min_replicas: 1
    max_replicas: 2
  latency_objective_ms: 50
edge:
  variants: [float32, dynamic_range, float16, int8]
  samples: samples/tiny.npz
  num_samples: 64
"""


def pytest_configure(config: pytest.Config) -> None:
    from tests.gc_policy import pace_collections

    pace_collections()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.tf)


# --------------------------------------------------------------------------- data + model


def blobs(n: int, seed: int) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """n points around 4 well separated centres in 16-d, with their class labels."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(1234).normal(0, 3, size=(CLASSES, FEATURES))
    labels = rng.integers(0, CLASSES, size=n)
    return (centres[labels] + rng.normal(0, 1, size=(n, FEATURES))).astype(np.float32), labels


def train_and_export(path: Path, seed: int, epochs: int) -> Path:
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    x, y = blobs(2000, seed)
    model = keras.Sequential([keras.Input((FEATURES,)), keras.layers.Dense(32, activation="relu"),
                              keras.layers.Dense(CLASSES, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=epochs, batch_size=64, verbose=0)
    # ExportArchive tracks the variables, so the TFLite converter can freeze them.
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        name="serving_default",
        fn=lambda features: {"probabilities": model(features)},
        input_signature=[tf.TensorSpec([None, FEATURES], tf.float32, name="features")],
    )
    archive.write_out(str(path), verbose=False)
    return path


@dataclass(frozen=True)
class Env:
    root: Path  # TFPLAT_ROOT: models/, stacks/, samples/, edge/roots/
    saved_models: Path  # <saved_models>/<version>
    build: Path  # edge build output root


@pytest.fixture(scope="session")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    root = tmp_path_factory.mktemp("root")
    shutil.copytree(REPO / "models", root / "models", ignore=shutil.ignore_patterns("samples"))
    (root / "models" / "tiny.yaml").write_text(TINY_MODEL)
    shutil.copytree(REPO / "stacks", root / "stacks")
    x, _ = blobs(64, seed=99)
    from modelkit.samples import write_npz

    write_npz({"features": x}, root / "samples" / "tiny.npz")
    saved = tmp_path_factory.mktemp("saved_models")
    train_and_export(saved / "1", seed=1, epochs=8)
    train_and_export(saved / "2", seed=2, epochs=12)
    e = Env(root=root, saved_models=saved, build=tmp_path_factory.mktemp("edge_build"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TFPLAT_ROOT", str(root))
        yield e


@pytest.fixture(scope="session")
def edge_stack(env: Env) -> Any:
    """Stack edgetest (staging): its keys, and root v1 from a ceremony with them (tests/tf/edgekit.py)."""
    from edgekit import TestStack

    stack = TestStack(env, "edgetest").write(stable=1)
    stack.ceremony()
    return stack


@pytest.fixture(scope="session")
def builds(env: Env) -> dict[int, edge_build.BuildResult]:
    from modelkit.config import load_model

    model = load_model("tiny", env.root)
    return {v: edge_build.build(model, str(env.saved_models / str(v)), v, env.build) for v in (1, 2)}


# --------------------------------------------------------------------------- S3 over HTTP


@dataclass(frozen=True)
class S3:
    endpoint: str

    def client(self) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1")

    def upload_dir(self, bucket: str, prefix: str, path: Path) -> str:
        """Copy a local folder under s3://bucket/prefix; returns that URI."""
        client = self.client()
        for file in sorted(path.rglob("*")):
            if file.is_file():
                client.upload_file(str(file), bucket, f"{prefix}/{file.relative_to(path)}")
        return f"s3://{bucket}/{prefix}"

    def new_bucket(self) -> str:
        """A bucket anyone may read, as a CDN origin is: devices fetch without credentials."""
        name = f"edge-{uuid.uuid4().hex[:12]}"
        client = self.client()
        client.create_bucket(Bucket=name)
        policy = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{name}/*"}]}
        client.put_bucket_policy(Bucket=name, Policy=json.dumps(policy))
        return name

    def get(self, bucket: str, key: str) -> bytes:
        body: bytes = self.client().get_object(Bucket=bucket, Key=f"edge/{key}")["Body"].read()
        return body

    def put(self, bucket: str, key: str, body: bytes) -> None:
        self.client().put_object(Bucket=bucket, Key=f"edge/{key}", Body=body)

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        resp = self.client().list_objects_v2(Bucket=bucket, Prefix=f"edge/{prefix}")
        return [str(o["Key"]).removeprefix("edge/") for o in resp.get("Contents", [])]


@pytest.fixture(scope="session")
def s3() -> Iterator[S3]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    with pytest.MonkeyPatch.context() as mp:
        for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                            "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint,
                            "TFPLAT_GCS_ENDPOINT": endpoint, "TFPLAT_GCS_HMAC_ACCESS_ID": "testing",
                            "TFPLAT_GCS_HMAC_SECRET": "testing"}.items():
            mp.setenv(name, value)
        mp.delenv("AWS_PROFILE", raising=False)
        yield S3(endpoint=endpoint)
    server.stop()
