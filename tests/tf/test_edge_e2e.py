"""Build -> root ceremony -> publish -> device, end to end against S3 served over HTTP (moto server).

The device is the real TUF client (tuf.ngclient under modelkit.device.client); attacks on it
are in test_edge_threats.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
import hashlib
import json
from pathlib import Path
import shutil

from conftest import S3
from edgekit import TestStack
import numpy as np
import pytest
from tuf.api.metadata import Metadata

from modelkit.config import load_stack
from modelkit.device.client import Installed
from modelkit.device.layout import channel_path, follows_canary, metadata_key, role_name, target_key, variant_path
from modelkit.edge import publish as pub
from modelkit.edge import transfer
from modelkit.edge.build import BuildResult
from modelkit.edge.keys import generate, role_signer
from modelkit.errors import UserError


def version_of(installed: Installed | None) -> int | None:
    return installed.version if installed else None


def int8(build: BuildResult) -> tuple[str, str]:
    """(object key, sha256) of a build's int8 variant in the repository."""
    sha = str(build.manifest["variants"]["int8"]["sha256"])
    return target_key(variant_path("tiny", build.version, "int8"), sha), sha


@pytest.fixture
def stack(edge_stack: TestStack) -> Iterator[TestStack]:
    yield edge_stack.write(stable=1)
    edge_stack.write(stable=1)


def test_build_publishes_every_variant_with_measured_figures(builds: dict[int, BuildResult]) -> None:
    b = builds[1]
    assert b.published == ["float32", "dynamic_range", "float16", "int8"]
    for name, entry in b.manifest["variants"].items():
        data = (b.out_dir / "variants" / f"{name}.tflite").read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"] and len(data) == entry["size"]
        m = entry["metrics"]
        assert m["latency_ms"]["p50"] > 0 and m["parity_samples"] == 32
        assert m["max_abs_error"] <= entry["gate"]["max_abs_error"]
        assert m["top1_agreement"] >= entry["gate"]["min_top1_agreement"]
        assert entry["runtime"]["builtin_ops"] and entry["runtime"]["min_runtime_version"]
    q = b.manifest["variants"]["int8"]
    assert q["inputs"]["features"]["dtype"] == "int8" and q["inputs"]["features"]["quantization"]["scale"] > 0
    assert q["runtime"]["integer_only"] is True


def test_publish_fetch_and_an_unchanged_republish_uploads_nothing(stack: TestStack, s3: S3,
                                                                  builds: dict[int, BuildResult],
                                                                  tmp_path: Path) -> None:
    bucket = s3.new_bucket()
    first = stack.publish(bucket)
    key, _ = int8(builds[1])
    assert key in first.uploaded and metadata_key("timestamp") in first.uploaded
    assert {metadata_key("root", 1), metadata_key("snapshot", 1), metadata_key("targets", 1),
            metadata_key(role_name("tiny"), 1)} <= set(first.uploaded)
    head = s3.client().head_object(Bucket=bucket, Key=f"edge/{key}")
    assert head["CacheControl"] == transfer.CACHE_IMMUTABLE
    assert s3.client().head_object(Bucket=bucket, Key="edge/metadata/timestamp.json")["CacheControl"] \
        == transfer.CACHE_TIMESTAMP

    # The variant's signed custom fields say what it is, for which environment, and how it measured.
    role = Metadata.from_bytes(s3.get(bucket, metadata_key(role_name("tiny"), 1)))
    custom = role.signed.targets[variant_path("tiny", 1, "int8")].custom  # type: ignore[attr-defined]
    assert (custom["model"], custom["version"], custom["variant"], custom["environment"]) == ("tiny", 1, "int8",
                                                                                              "staging")
    assert custom["runtime"]["integer_only"] is True
    # Canonical JSON has no floats: figures with a fraction are decimal strings.
    measured = builds[1].manifest["variants"]["int8"]["metrics"]["latency_ms"]["p50"]
    assert float(custom["metrics"]["latency_ms"]["p50"]) == measured

    client = stack.device(s3, bucket, tmp_path)
    result = client.update()
    assert result.error is None and result.status == "updated"
    assert result.installed is not None and (result.installed.version, result.installed.variant) == (1, "int8")
    assert Path(result.installed.path).read_bytes() == (builds[1].out_dir / "variants" / "int8.tflite").read_bytes()

    # Nothing changed: one poll is the timestamp and a look for a newer root, and nothing more.
    poll = client.update()
    assert poll.status == "unchanged" and poll.requests == 2 and poll.bytes_received < 1024, poll

    again = stack.publish(bucket)
    assert again.uploaded_bytes == 0 and again.uploaded == [] and again.signed == []
    assert client.update().status == "unchanged"


class RecordingBucket(pub.Bucket):
    """The real bucket, noting the order in which objects are written."""

    order: list[str]

    def put(self, rel: str, body: bytes, cache_control: str) -> None:
        super().put(rel, body, cache_control)
        self.order.append(rel)

    def upload(self, blob: transfer.Blob, progress: object) -> bool:
        done = super().upload(blob, progress)  # type: ignore[arg-type]
        self.order.append(blob.key)
        return done


def test_publish_writes_targets_then_metadata_and_the_timestamp_last(stack: TestStack, s3: S3,
                                                                      builds: dict[int, BuildResult]) -> None:
    bucket = s3.new_bucket()
    stack.write(stable=1, canary=2, percent=10)
    ctx = stack.context(bucket)
    recording = RecordingBucket(ctx.bucket.root)
    recording.order = []
    pub.publish(publisher=pub.Publisher(replace(ctx, bucket=recording), "tiny"), build_root=stack.env.build,
                now=datetime.now(UTC))
    kinds = ["target" if k.startswith("targets/") else "root" if k.endswith(".root.json") else
             "role" if "model-" in k else k.removesuffix(".json").rsplit("/", 1)[-1].rsplit(".", 1)[-1]
             for k in recording.order]
    assert kinds[-1] == "timestamp" and kinds.count("timestamp") == 1, kinds
    last_target = max(i for i, k in enumerate(kinds) if k == "target")
    assert last_target < kinds.index("root") < kinds.index("role") < kinds.index("targets") < kinds.index("snapshot")


def test_tampered_or_truncated_model_is_refused_and_the_last_good_one_kept(stack: TestStack, s3: S3,
                                                                          builds: dict[int, BuildResult],
                                                                          tmp_path: Path) -> None:
    bucket = s3.new_bucket()
    stack.publish(bucket)
    client = stack.device(s3, bucket, tmp_path)
    assert client.update().status == "updated"

    stack.write(stable=2)
    stack.publish(bucket)
    key, _ = int8(builds[2])
    good = s3.get(bucket, key)
    s3.put(bucket, key, good[:-1] + bytes([good[-1] ^ 0xFF]))
    result = client.update()
    assert result.status == "kept" and "does not match expected hash" in (result.error or ""), result
    assert version_of(result.installed) == 1

    s3.put(bucket, key, good[: len(good) // 2])
    result = client.update()
    assert result.status == "kept" and "does not match expected length" in (result.error or ""), result
    assert version_of(client.installed()) == 1

    s3.put(bucket, key, good)
    assert version_of(client.update().installed) == 2


class PublishKilledError(Exception):
    """Stands for a CI job killed mid-publish."""


def test_interrupted_publish_leaves_devices_on_the_previous_version(stack: TestStack, s3: S3,
                                                                   builds: dict[int, BuildResult],
                                                                   tmp_path: Path) -> None:
    bucket = s3.new_bucket()
    stack.publish(bucket)
    stack.write(stable=2)
    done: list[str] = []

    def stop_after_first(rel: str) -> None:
        done.append(rel)
        raise PublishKilledError(rel)

    with pytest.raises(PublishKilledError):
        stack.publish(bucket, workers=1, after_blob=stop_after_first)
    new = {target_key(variant_path("tiny", 2, v), e["sha256"]) for v, e in builds[2].manifest["variants"].items()}
    present = set(s3.keys(bucket, "targets/tiny/2/"))
    assert 1 <= len(new & present) < len(new)  # some files of v2 went up, not all
    assert s3.keys(bucket, "metadata/2.") == []  # no metadata names them
    result = stack.device(s3, bucket, tmp_path).update()
    assert result.error is None and version_of(result.installed) == 1

    resumed = stack.publish(bucket)
    assert not set(done) & set(resumed.uploaded)  # what went up before is not sent again
    assert version_of(stack.device(s3, bucket, tmp_path).update().installed) == 2


def test_canary_share_and_rollback_follow_the_stack(stack: TestStack, s3: S3, builds: dict[int, BuildResult],
                                                   tmp_path: Path) -> None:
    ids = [f"device-{i}" for i in range(2000)]
    share = sum(follows_canary("tiny", d, 25) for d in ids) / len(ids)
    assert 0.22 < share < 0.28
    in_canary = next(d for d in ids if follows_canary("tiny", d, 25))
    in_stable = next(d for d in ids if not follows_canary("tiny", d, 25))

    bucket = s3.new_bucket()
    stack.write(stable=1, canary=2, percent=25)
    stack.publish(bucket)
    canary_dev = stack.device(s3, bucket, tmp_path / "a", device_id=in_canary)
    stable_dev = stack.device(s3, bucket, tmp_path / "b", device_id=in_stable)
    got = canary_dev.update().installed
    assert got is not None and (got.version, got.channel) == (2, "canary")
    got = stable_dev.update().installed
    assert got is not None and (got.version, got.channel) == (1, "stable")
    assert stack.device(s3, bucket, tmp_path / "a2", device_id=in_canary).update().installed.version == 2  # type: ignore[union-attr]

    # Rollback is a config change back: canary off. Only the canary pointer and metadata move.
    stack.write(stable=1)
    stats = stack.publish(bucket)
    assert [k for k in stats.uploaded if k.startswith("targets/")] == [
        k for k in stats.uploaded if k.startswith("targets/tiny/channels/")]
    assert len([k for k in stats.uploaded if k.startswith("targets/")]) == 1
    got = canary_dev.update().installed
    assert got is not None and (got.version, got.channel) == (1, "stable")


def test_user_mistakes_in_publish_are_errors_with_a_fix(stack: TestStack, s3: S3, builds: dict[int, BuildResult],
                                                       tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bucket = s3.new_bucket()
    with pytest.raises(UserError, match="version 7 is neither built nor published"):
        stack.write(stable=7)
        stack.publish(bucket)
    stack.write(stable=1)
    stack.publish(bucket)
    # A version is immutable once published.
    changed = tmp_path / "build"
    shutil.copytree(stack.env.build / "tiny" / "1", changed / "tiny" / "1")
    manifest = json.loads((changed / "tiny" / "1" / "manifest.json").read_text())
    manifest["created_at"] = "2030-01-01T00:00:00Z"
    (changed / "tiny" / "1" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(UserError, match="already published with different content"):
        stack.publish(bucket, build=changed)
    # A key other than the one the stack pins never signs.
    spec = load_stack(stack.name)
    monkeypatch.setenv("TFPLAT_EDGE_ONLINE_KEY", generate().private_pem)
    with pytest.raises(UserError, match="is not the online key the stack pins"):
        role_signer("online", spec.edge.online, spec.file)
    # The newest signed root decides the keys: a config naming other keys needs a ceremony first.
    other = TestStack(stack.env, "edgeother").write(stable=1)
    other.ceremony()
    other.keys.online = generate()
    other.write(stable=1)
    with pytest.raises(UserError, match="the keys or environment in the stack differ from the newest signed root"):
        other.context(bucket)


def test_publish_over_the_gcs_s3_api_settings(stack: TestStack, s3: S3, builds: dict[int, BuildResult],
                                              tmp_path: Path) -> None:
    """gs:// uses the GCS client settings (HMAC env keys, checksums only when required)."""
    bucket = s3.new_bucket()
    stats = stack.publish(bucket, scheme="gs")
    assert stats.uploaded_bytes > 0
    assert version_of(stack.device(s3, bucket, tmp_path).update().installed) == 1


def test_a_build_file_changed_after_build_is_not_published(stack: TestStack, s3: S3, builds: dict[int, BuildResult],
                                                           tmp_path: Path) -> None:
    """Bytes that do not hash to their content address never reach the bucket (it would poison the key)."""
    root = tmp_path / "build"
    shutil.copytree(stack.env.build / "tiny" / "1", root / "tiny" / "1")
    variant = root / "tiny" / "1" / "variants" / "int8.tflite"
    data = bytearray(variant.read_bytes())
    data[len(data) // 2] ^= 0x01  # same size, different content
    variant.write_bytes(bytes(data))
    bucket = s3.new_bucket()
    with pytest.raises(UserError, match="the build folder changed after `edge build`"):
        stack.publish(bucket, build=root)
    assert s3.keys(bucket, int8(builds[1])[0]) == [] and s3.keys(bucket, "metadata/") == []


def test_large_model_goes_up_in_parts_and_arrives_intact(stack: TestStack, s3: S3, builds: dict[int, BuildResult],
                                                         tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transfer, "MULTIPART_THRESHOLD", 8 * 1024 * 1024)
    monkeypatch.setattr(transfer, "MULTIPART_CHUNK", 5 * 1024 * 1024)
    data = np.random.default_rng(0).bytes(12 * 1024 * 1024 + 123)  # 3 parts: 5 + 5 + 2 MiB
    sha = hashlib.sha256(data).hexdigest()
    folder = tmp_path / "build" / "tiny" / "9"
    (folder / "variants").mkdir(parents=True)
    (folder / "variants" / "float32.tflite").write_bytes(data)
    entry = {**builds[1].manifest["variants"]["float32"], "sha256": sha, "size": len(data)}
    (folder / "manifest.json").write_text(json.dumps({**builds[1].manifest, "version": 9,
                                                      "variants": {"float32": entry}}))
    bucket = s3.new_bucket()
    stack.write(stable=9)
    stats = stack.publish(bucket, build=tmp_path / "build")
    key = target_key(variant_path("tiny", 9, "float32"), sha)
    assert key in stats.uploaded
    head = s3.client().head_object(Bucket=bucket, Key=f"edge/{key}")
    assert head["ETag"].strip('"').endswith("-3") and head["CacheControl"] == transfer.CACHE_IMMUTABLE
    result = stack.device(s3, bucket, tmp_path / "dev", preference=("float32",)).update()
    assert result.error is None and result.installed is not None
    assert Path(result.installed.path).read_bytes() == data


def test_a_channel_pointer_is_a_signed_target(stack: TestStack, s3: S3, builds: dict[int, BuildResult]) -> None:
    bucket = s3.new_bucket()
    stack.write(stable=1, canary=2, percent=30)
    stack.publish(bucket)
    role = Metadata.from_bytes(s3.get(bucket, metadata_key(role_name("tiny"), 1))).signed
    info = role.targets[channel_path("tiny", "canary")]  # type: ignore[attr-defined]
    body = s3.get(bucket, target_key(info.path, info.hashes["sha256"]))
    assert json.loads(body) == {"model": "tiny", "channel": "canary", "environment": "staging", "version": 2,
                                "percent": 30}
