"""tfplat-model as users run it: real processes, exit codes, messages without tracebacks."""

from __future__ import annotations

import json
import os
from pathlib import Path
import subprocess
import sys

from conftest import S3, Env
from edgekit import TestStack
import numpy as np
import pytest

from modelkit.edge import keys as edge_keys

# Runs the CLI and reports whether TensorFlow (or numpy) was imported along the way.
RUN = """
import sys
from modelkit.cli.main import main
code = main(sys.argv[1:])
print("HEAVY:" + ",".join(m for m in ("tensorflow", "numpy") if m in sys.modules), file=sys.stderr)
sys.exit(code)
"""


def cli(env: Env, *args: str, extra_env: dict[str, str] | None = None, stdin: str | None = None
        ) -> subprocess.CompletedProcess[str]:
    run_env = {**os.environ, "TFPLAT_ROOT": str(env.root), **(extra_env or {})}
    return subprocess.run([sys.executable, "-c", RUN, *args], capture_output=True, text=True, timeout=300,
                          env=run_env, check=False, input=stdin)


def heavy(proc: subprocess.CompletedProcess[str]) -> set[str]:
    line = next(x for x in proc.stderr.splitlines() if x.startswith("HEAVY:"))
    return {m for m in line.removeprefix("HEAVY:").split(",") if m}


def test_keygen_prints_a_usable_pair_and_never_overwrites_a_key_file(env: Env, tmp_path: Path) -> None:
    proc = cli(env, "edge", "keygen", "--role", "online")
    assert proc.returncode == 0, proc.stderr
    public = next(x for x in proc.stdout.splitlines() if x.startswith("public_key: ")).split(": ", 1)[1]
    pem = proc.stdout[proc.stdout.index("-----BEGIN PRIVATE KEY-----"):]
    assert edge_keys.spki_b64(edge_keys.load_signer(pem.encode(), "stdout").public_key) == public
    assert "pulumi config set --secret --path 'tfplat:edge.signing.online.private_key'" in proc.stdout
    assert heavy(proc) == set()

    out = tmp_path / "holder-1.pem"
    proc = cli(env, "edge", "keygen", "--role", "root", "--name", "holder-1", "--out", str(out))
    assert proc.returncode == 0 and "PRIVATE KEY" not in proc.stdout and "OFFLINE" in proc.stdout
    assert out.stat().st_mode & 0o777 == 0o600
    assert "signing.root.keys.holder-1" in proc.stdout
    again = cli(env, "edge", "keygen", "--role", "root", "--out", str(out))
    assert again.returncode == 2 and "keygen never overwrites" in again.stderr


def test_ceremony_build_publish_refresh_and_fetch_through_the_cli(env: Env, s3: S3, tmp_path: Path) -> None:
    stack = TestStack(env, "edgecli").write(stable=2)
    key_file = tmp_path / "root.pem"
    key_file.write_text(stack.keys.root[0].private_pem)
    proc = cli(env, "edge", "root", "draft", "--stack", "edgecli")
    assert proc.returncode == 0 and "needs 1 more of holder-1" in proc.stdout, proc.stdout + proc.stderr
    proc = cli(env, "edge", "root", "sign", "--stack", "edgecli", "--key-file", str(key_file))
    assert proc.returncode == 0 and "root v1: signed by holder-1; complete" in proc.stdout, proc.stdout + proc.stderr
    proc = cli(env, "edge", "root", "status", "--stack", "edgecli", "--check")
    assert proc.returncode == 0 and heavy(proc) == set()
    proc = cli(env, "edge", "root", "draft", "--stack", "edgecli")
    assert "nothing to draft" in proc.stdout

    out = tmp_path / "build"
    proc = cli(env, "edge", "build", "--model", "tiny", "--saved-model", str(env.saved_models / "2"), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "int8" in proc.stdout and "published" in proc.stdout
    report = json.loads((out / "tiny" / "2" / "report.json").read_text())
    assert all(v["published"] for v in report["variants"].values())

    bucket = s3.new_bucket()
    keys = {"TFPLAT_EDGE_TARGETS_KEY": stack.keys.targets.private_pem,
            "TFPLAT_EDGE_ONLINE_KEY": stack.keys.online.private_pem}
    args = ("edge", "publish", "--stack", "edgecli", "--model", "tiny", "--bucket", f"s3://{bucket}/edge",
            "--build", str(out))
    proc = cli(env, *args, extra_env=keys)
    assert proc.returncode == 0, proc.stderr
    assert "stable v2, no canary" in proc.stdout and "signed: model-tiny v1, targets v1, snapshot v1, timestamp v1" \
        in proc.stdout
    assert heavy(proc) == set(), "publishing must not need TensorFlow or numpy"
    again = cli(env, *args, extra_env=keys)
    assert again.returncode == 0 and "uploaded 0 object(s), 0 bytes" in again.stdout

    online_only = {"TFPLAT_EDGE_ONLINE_KEY": stack.keys.online.private_pem}
    proc = cli(env, "edge", "refresh", "--stack", "edgecli", "--bucket", f"s3://{bucket}/edge", extra_env=online_only)
    assert proc.returncode == 0 and "nothing was due" in proc.stdout, proc.stdout + proc.stderr

    proc = cli(env, "edge", "fetch", "--model", "tiny", "--base-url", f"{s3.endpoint}/{bucket}/edge",
               "--device-id", "d1", "--store", str(tmp_path / "dev"), "--stack", "edgecli")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["status"] == "updated" and result["installed"]["version"] == 2
    assert heavy(proc) == set()


@pytest.mark.parametrize(("args", "extra_env", "expected"), [
    (("edge", "publish", "--stack", "edgetest", "--model", "tiny", "--bucket", "s3://b"),
     {"TFPLAT_EDGE_TARGETS_KEY": "KEY"}, "TFPLAT_EDGE_ONLINE_KEY: no online signing key given"),
    (("edge", "publish", "--stack", "edgetest", "--model", "tiny", "--bucket", "bucket-without-scheme"),
     {"TFPLAT_EDGE_TARGETS_KEY": "KEY", "TFPLAT_EDGE_ONLINE_KEY": "KEY"}, "--bucket: not an object storage URI"),
    (("edge", "publish", "--stack", "edgetest", "--model", "tiny", "--bucket", "s3://b"),
     {"TFPLAT_EDGE_ONLINE_KEY": "not a pem"}, "not a usable PEM private key"),
    (("edge", "publish", "--stack", "nosuchstack", "--model", "tiny", "--bucket", "s3://b"), {},
     'no stack named "nosuchstack"'),
    (("edge", "publish", "--stack", "edgetest", "--model", "mobilenet", "--bucket", "s3://b"),
     {"TFPLAT_EDGE_TARGETS_KEY": "KEY", "TFPLAT_EDGE_ONLINE_KEY": "KEY"},
     "channels.mobilenet: no edge channel for this model"),
    (("edge", "root", "sign", "--stack", "nosigned", "--key-file", "/nowhere.pem"), {}, "no root to sign"),
    (("inspect", "--model", "tinny", "--saved-model", "/nowhere"), {}, 'no such model (got "tinny")'),
    (("edge", "build", "--model", "tiny", "--saved-model", "/nowhere/latest"), {}, "cannot tell the model version"),
    (("edge", "fetch", "--model", "tiny", "--base-url", "http://127.0.0.1:9", "--device-id", "d", "--store", "/tmp/x",
      "--legacy-key", "k=abc"), {}, "needs environment="),
])
def test_user_mistakes_exit_2_with_a_fix(env: Env, edge_stack: TestStack, args: tuple[str, ...],
                                        extra_env: dict[str, str], expected: str) -> None:
    edge_stack.write(stable=1)
    keys = {"TFPLAT_EDGE_TARGETS_KEY": edge_stack.keys.targets.private_pem,
            "TFPLAT_EDGE_ONLINE_KEY": edge_stack.keys.online.private_pem}
    extra_env = {k: keys[k] if v == "KEY" else v for k, v in extra_env.items()}
    blank = {k: "" for k in ("TFPLAT_EDGE_TARGETS_KEY", "TFPLAT_EDGE_ONLINE_KEY", "TFPLAT_EDGE_TARGETS_KEY_FILE",
                             "TFPLAT_EDGE_ONLINE_KEY_FILE")}
    proc = cli(env, *args, extra_env={**blank, **extra_env})
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


def test_a_refused_publish_signs_nothing(env: Env, edge_stack: TestStack, s3: S3, builds: object) -> None:
    """Target files go up while the config loads; a key that fails the check stops everything after them."""
    bucket = s3.new_bucket()
    edge_stack.write(stable=1)
    proc = cli(env, "edge", "publish", "--stack", "edgetest", "--model", "tiny", "--bucket", f"s3://{bucket}/edge",
               "--build", str(env.build), extra_env={"TFPLAT_EDGE_TARGETS_KEY": edge_keys.generate().private_pem,
                                                     "TFPLAT_EDGE_ONLINE_KEY": edge_stack.keys.online.private_pem})
    assert proc.returncode == 2 and "is not the targets key the stack pins" in proc.stderr, proc.stderr
    assert [k for k in s3.keys(bucket) if not k.startswith("targets/")] == []  # no metadata at all
