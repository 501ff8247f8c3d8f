"""tfplat-model as users run it: real processes, exit codes, messages without tracebacks."""

from __future__ import annotations

import json
import os
from pathlib import Path
import subprocess
import sys

from conftest import S3, Env, write_stack
import numpy as np
import pytest

from modelkit.edge import signing

# Runs the CLI and reports whether TensorFlow (or numpy) was imported along the way.
RUN = """
import sys
from modelkit.cli.main import main
code = main(sys.argv[1:])
print("HEAVY:" + ",".join(m for m in ("tensorflow", "numpy") if m in sys.modules), file=sys.stderr)
sys.exit(code)
"""


def cli(env: Env, *args: str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    run_env = {**os.environ, "TFPLAT_ROOT": str(env.root), **(extra_env or {})}
    return subprocess.run([sys.executable, "-c", RUN, *args], capture_output=True, text=True, timeout=300,
                          env=run_env, check=False)


def heavy(proc: subprocess.CompletedProcess[str]) -> set[str]:
    line = next(x for x in proc.stderr.splitlines() if x.startswith("HEAVY:"))
    return {m for m in line.removeprefix("HEAVY:").split(",") if m}


def test_keygen_prints_a_usable_pair(env: Env) -> None:
    proc = cli(env, "edge", "keygen", "--key-id", "edge-2027-01")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    public = next(x for x in lines if x.startswith("public_key_b64: ")).split(": ", 1)[1]
    pem = proc.stdout[proc.stdout.index("-----BEGIN PRIVATE KEY-----"):]
    key = signing.load_private_key_pem(pem.encode(), "stdout")
    assert signing.public_b64(key) == public
    assert "pulumi config set --secret --path 'tfplat:edge.signing.private_key'" in proc.stdout
    assert heavy(proc) == set()


def test_build_publish_fetch_through_the_cli(env: Env, s3: S3, tmp_path: Path) -> None:
    out = tmp_path / "build"
    proc = cli(env, "edge", "build", "--model", "tiny", "--saved-model", str(env.saved_models / "2"), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "int8" in proc.stdout and "published" in proc.stdout
    report = json.loads((out / "tiny" / "2" / "report.json").read_text())
    assert all(v["published"] for v in report["variants"].values())

    bucket = s3.new_bucket()
    write_stack(env, stable=2)
    key_env = {"TFPLAT_EDGE_SIGNING_KEY": env.key.private_pem}
    args = ("edge", "publish", "--stack", "edgetest", "--model", "tiny", "--bucket", f"s3://{bucket}/edge",
            "--build", str(out))
    proc = cli(env, *args, extra_env=key_env)
    assert proc.returncode == 0, proc.stderr
    assert "stable v2, no canary" in proc.stdout
    assert heavy(proc) == set(), "publishing must not need TensorFlow or numpy"
    again = cli(env, *args, extra_env=key_env)
    assert again.returncode == 0 and "uploaded 0 object(s), 0 bytes" in again.stdout

    proc = cli(env, "edge", "fetch", "--model", "tiny", "--base-url", f"{s3.endpoint}/{bucket}/edge",
               "--device-id", "d1", "--store", str(tmp_path / "dev"), "--stack", "edgetest")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["status"] == "updated" and result["installed"]["version"] == 2
    assert heavy(proc) == set()
    write_stack(env, stable=1)


@pytest.mark.parametrize(("args", "extra_env", "expected"), [
    (("edge", "publish", "--stack", "edgetest", "--model", "tiny", "--bucket", "s3://b"), {},
     "TFPLAT_EDGE_SIGNING_KEY: no signing key given"),
    (("edge", "publish", "--stack", "edgetest", "--model", "tiny", "--bucket", "bucket-without-scheme"),
     {"TFPLAT_EDGE_SIGNING_KEY": "KEY"}, "--bucket: not an object storage URI"),
    (("edge", "publish", "--stack", "edgetest", "--model", "tiny", "--bucket", "s3://b"),
     {"TFPLAT_EDGE_SIGNING_KEY": "not a pem"}, "not an unencrypted PEM private key"),
    (("edge", "publish", "--stack", "nosuchstack", "--model", "tiny", "--bucket", "s3://b"), {},
     'no stack named "nosuchstack"'),
    (("edge", "publish", "--stack", "edgetest", "--model", "mobilenet", "--bucket", "s3://b"),
     {"TFPLAT_EDGE_SIGNING_KEY": "KEY"}, "channels.mobilenet: no edge channel for this model"),
    (("inspect", "--model", "tinny", "--saved-model", "/nowhere"), {}, 'no such model (got "tinny")'),
    (("edge", "build", "--model", "tiny", "--saved-model", "/nowhere/latest"), {}, "cannot tell the model version"),
    (("edge", "fetch", "--model", "tiny", "--base-url", "http://127.0.0.1:9", "--device-id", "d", "--store", "/tmp/x",
      "--trusted-key", "k=abc"), {}, "not a usable public key"),
])
def test_user_mistakes_exit_2_with_a_fix(env: Env, args: tuple[str, ...], extra_env: dict[str, str],
                                        expected: str) -> None:
    write_stack(env, stable=1)
    if extra_env.get("TFPLAT_EDGE_SIGNING_KEY") == "KEY":
        extra_env = {"TFPLAT_EDGE_SIGNING_KEY": env.key.private_pem}
    proc = cli(env, *args, extra_env={**extra_env, "TFPLAT_EDGE_SIGNING_KEY_FILE": ""})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert expected in proc.stderr
    assert "fix:" in proc.stderr and "Traceback" not in proc.stderr


def test_samples_command_is_deterministic(env: Env, tmp_path: Path) -> None:
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    for path in (a, b):
        proc = cli(env, "samples", "--model", "mobilenet", "--out", str(path), "--count", "3")
        assert proc.returncode == 0, proc.stderr
    assert a.read_bytes() == b.read_bytes()
    with np.load(a) as npz:
        assert npz.files == ["image"] and npz["image"].shape == (3, 224, 224, 3)
        assert npz["image"].dtype == np.float32


def test_a_refused_publish_moves_no_channel(env: Env, s3: S3, builds: object) -> None:
    """Blobs go up while the config loads; a key that fails the check stops everything after them."""
    bucket = s3.new_bucket()
    write_stack(env, stable=1)
    proc = cli(env, "edge", "publish", "--stack", "edgetest", "--model", "tiny", "--bucket", f"s3://{bucket}/edge",
               "--build", str(env.build), extra_env={"TFPLAT_EDGE_SIGNING_KEY": signing.generate().private_pem})
    assert proc.returncode == 2 and "not the key pinned for key id" in proc.stderr
    listed = s3.client().list_objects_v2(Bucket=bucket, Prefix="edge/").get("Contents", [])
    keys = {o["Key"] for o in listed}
    assert not {k for k in keys if not k.startswith("edge/blobs/")}, keys  # no manifest, no pointer
