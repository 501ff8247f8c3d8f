"""Edge pipeline benchmark on a MobileNetV2-shaped model (run with .venv-tf: `make bench-edge`).

Measures, in one run:
- conversion time of each TFLite variant, its size relative to float32 (targets: int8 <= 0.30x,
  float16 <= 0.55x) and its batch-1 CPU latency in the TFLite interpreter;
- publish throughput of `tfplat-model edge publish` against `aws s3 sync` of the same files to
  the same local S3 endpoint (moto_server in its own process; target >= 1.0x), both started
  as fresh processes, median of several rounds with new buckets;
- bytes uploaded by an unchanged re-publish (target 0);
- the device (the TUF client): bytes, requests and time of a poll when nothing changed, and the
  peak memory (max RSS) of a device process that installs a 256 MiB variant.

The model has random weights (tf.keras.applications.MobileNetV2(weights=None): no download),
so parity figures are printed but the accuracy gates are relaxed: they would only measure
noise on an untrained network. Results are also written to bench/results/edge_bench.json.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, replace
import json
import os
from pathlib import Path
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any
import urllib.request

from infra.config.spec import EdgeGate
from modelkit.config import load_model, load_stack
from modelkit.edge import build as edge_build
from modelkit.edge import keys as edge_keys
from modelkit.edge import trust
from modelkit.edge.transfer import sha256_file
from modelkit.samples import generate, write_npz

REPO = Path(__file__).resolve().parents[1]

TARGETS = {"int8": 0.30, "float16": 0.55}
BIN = Path(sys.executable).parent


def export_mobilenet(path: Path) -> None:
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(weights=None, input_shape=(224, 224, 3), classes=1000)
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(name="serving_default", fn=lambda image: {"probabilities": model(image)},
                         input_signature=[tf.TensorSpec([None, 224, 224, 3], tf.float32, name="image")])
    archive.write_out(str(path), verbose=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(endpoint, timeout=1).close()
            return proc, endpoint
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("moto_server did not start")


@dataclass(frozen=True)
class Keys:
    root: edge_keys.KeyPair
    targets: edge_keys.KeyPair
    online: edge_keys.KeyPair

    def env(self) -> dict[str, str]:
        return {"TFPLAT_EDGE_TARGETS_KEY": self.targets.private_pem, "TFPLAT_EDGE_ONLINE_KEY": self.online.private_pem}


def bench_root(tmp: Path, keys: Keys, stable: int = 1, model: str = "mobilenet") -> Path:
    """A TFPLAT_ROOT whose stack `bench` publishes `model` v<stable>, with its root signed (a ceremony)."""
    root = tmp / "root"
    if not root.exists():
        shutil.copytree(REPO / "models", root / "models", ignore=shutil.ignore_patterns("samples"))
        shutil.copytree(REPO / "stacks", root / "stacks")
    # Staging's own tfplat:edge block (its last key) is replaced by the bench's.
    base = (REPO / "stacks" / "Pulumi.staging.yaml").read_text().split("  tfplat:edge:")[0]
    secret = "\n        private_key:\n          secure: v1:YmVuY2g=\n"
    text = base + (
        "  tfplat:edge:\n    enabled: true\n    cdn: {enabled: false}\n    signing:\n"
        f"      root:\n        keys:\n          bench: {keys.root.public_b64}\n"
        f"      targets:\n        public_key: {keys.targets.public_b64}{secret}"
        f"      online:\n        public_key: {keys.online.public_b64}{secret}"
        f"    channels:\n      {model}: {{stable: {stable}}}\n")
    (root / "stacks" / "Pulumi.bench.yaml").write_text(text)
    stack = load_stack("bench", root)
    folder = trust.roots_dir(root, "bench")
    if not folder.exists():
        now = trust.now_utc()
        desired = trust.desired_root(stack.edge, stack="bench", environment=stack.environment, previous=None, now=now,
                                     stack_file=stack.file)
        path = trust.draft(folder, desired, now=now)
        assert path is not None
        trust.sign(path, edge_keys.load_signer(keys.root.private_pem.encode(), "bench root key"))
    return root


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:3])} failed:\n{proc.stderr[-2000:]}")
    return elapsed, proc.stdout


def uploaded_bytes(output: str) -> int:
    match = re.search(r"uploaded \d+ object\(s\), ([\d,]+) bytes", output)
    assert match, output
    return int(match.group(1).replace(",", ""))


def main() -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="publish-vs-sync rounds (default 7)")
    parser.add_argument("--samples", type=int, default=32, help="samples: half calibrate int8, half parity")
    parser.add_argument("--polls", type=int, default=20, help="device polls when nothing changed (default 20)")
    parser.add_argument("--large-mib", type=int, default=256, help="size of the large variant (default 256 MiB)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="edge-bench-"))
    keys = Keys(root=edge_keys.generate(), targets=edge_keys.generate(), online=edge_keys.generate())
    root = bench_root(tmp, keys)
    os.environ["TFPLAT_ROOT"] = str(root)
    spec = load_model("mobilenet", root)
    relaxed = {v: EdgeGate(max_abs_error=float("inf"), min_top1_agreement=0.0) for v in spec.edge.gates}
    spec = replace(spec, edge=replace(spec.edge, gates=relaxed, samples="samples.npz", num_samples=args.samples))
    write_npz(generate(spec, args.samples, seed=0), root / "samples.npz")

    t0 = time.perf_counter()
    export_mobilenet(tmp / "saved" / "1")
    export_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = edge_build.build(spec, str(tmp / "saved" / "1"), 1, tmp / "build")
    build_s = time.perf_counter() - t0
    print(edge_build.render(result))

    print("note: random weights make every output near-uniform, so parity figures say little here;"
          " tests/tf measures parity on a trained model")
    figures: dict[str, Any] = {"export_s": round(export_s, 2), "build_total_s": round(build_s, 2), "variants": {}}
    f32 = next(v.entry["size"] for v in result.variants if v.variant == "float32")
    print(f"\n{'variant':<14}{'convert s':>10}{'bytes':>13}{'vs f32':>8}{'target':>8}{'p50 ms':>9}{'p90 ms':>9}"
          f"{'max|err|':>10}{'top1':>7}")
    for v in result.variants:
        m = v.entry["metrics"]
        ratio = v.entry["size"] / f32
        target = TARGETS.get(v.variant)
        ok = "" if target is None else ("ok" if ratio <= target else "MISS")
        top1 = m["top1_agreement"]
        print(f"{v.variant:<14}{v.convert_s:>10.2f}{v.entry['size']:>13,}{ratio:>7.3f}x"
              f"{(f'<={target:.2f} {ok}' if target else '-'):>8}{m['latency_ms']['p50']:>9.2f}"
              f"{m['latency_ms']['p90']:>9.2f}{m['max_abs_error']:>10.2e}{top1:>7.3f}")
        figures["variants"][v.variant] = {"convert_s": round(v.convert_s, 3), "bytes": v.entry["size"],
                                          "ratio_vs_float32": round(ratio, 4), "target": target,
                                          "latency_ms": m["latency_ms"], "max_abs_error": m["max_abs_error"],
                                          "top1_agreement": top1}

    figures.update(publish_vs_sync(tmp, keys, args.rounds))
    figures.update(device_figures(tmp, keys, args.polls, args.large_mib))
    out = REPO / "bench" / "results" / "edge_bench.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"\nwrote {out}")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


def publish_vs_sync(tmp: Path, keys: Keys, rounds: int) -> dict[str, Any]:
    """Each round gets a fresh moto_server (it keeps objects in memory and slows as they pile up)."""
    import boto3

    variants = tmp / "build" / "mobilenet" / "1" / "variants"
    total = sum(p.stat().st_size for p in variants.iterdir())
    ours: list[float] = []
    theirs: list[float] = []
    ours_bytes: list[int] = []
    again_bytes, again_s, sync_again_s = -1, 0.0, 0.0
    for i in range(rounds):
        moto, endpoint = start_moto()
        try:
            env = {**os.environ, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                   "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint, **keys.env()}
            s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                              aws_access_key_id="bench", aws_secret_access_key="bench")
            s3.create_bucket(Bucket="pub")
            s3.create_bucket(Bucket="sync")
            publish = [str(BIN / "tfplat-model"), "edge", "publish", "--stack", "bench", "--model", "mobilenet",
                       "--bucket", "s3://pub/edge", "--build", str(tmp / "build")]
            sync = [str(BIN / "aws"), "s3", "sync", str(variants), "s3://sync/edge/variants",
                    "--endpoint-url", endpoint, "--only-show-errors"]
            # Alternate who goes first so neither always meets a warmer server.
            order = [(publish, ours), (sync, theirs)] if i % 2 == 0 else [(sync, theirs), (publish, ours)]
            for cmd, sink in order:
                elapsed, output = timed(cmd, env)
                sink.append(elapsed)
                if cmd is publish:
                    ours_bytes.append(uploaded_bytes(output))
            if i == rounds - 1:
                again_s, again_out = timed(publish, env)
                again_bytes = uploaded_bytes(again_out)
                sync_again_s, _ = timed(sync, env)
        finally:
            moto.terminate()
            moto.wait(timeout=10)
    ours_s, theirs_s = statistics.median(ours), statistics.median(theirs)
    ratio = (total / ours_s) / (total / theirs_s)
    print(f"\npublish vs aws s3 sync, {total:,} bytes of variants, median of {rounds} rounds "
          "(fresh processes, fresh moto_server per round):")
    print(f"  tfplat-model edge publish  {ours_s:6.2f} s  {total / ours_s / 1e6:7.1f} MB/s  "
          f"(uploaded {statistics.median(ours_bytes):,.0f} bytes incl. TUF metadata and pointers)")
    print(f"  aws s3 sync                {theirs_s:6.2f} s  {total / theirs_s / 1e6:7.1f} MB/s")
    print(f"  throughput ratio           {ratio:6.2f}x  (target >= 1.0x: {'ok' if ratio >= 1.0 else 'MISS'})")
    print(f"  unchanged re-publish       {again_bytes} bytes uploaded in {again_s:.2f} s (target 0: "
          f"{'ok' if again_bytes == 0 else 'MISS'}); aws s3 sync again: {sync_again_s:.2f} s")
    return {"publish": {"variant_bytes": total, "publish_s": [round(x, 3) for x in ours],
                        "sync_s": [round(x, 3) for x in theirs], "publish_median_s": round(ours_s, 3),
                        "sync_median_s": round(theirs_s, 3), "throughput_ratio": round(ratio, 3),
                        "republish_bytes": again_bytes, "republish_s": round(again_s, 3),
                        "sync_again_s": round(sync_again_s, 3)}}


# The device as it runs on a device: without what a device lacks (boto3 and botocore would come
# in through securesystemslib's AWS signer). Memory is the process's own high-water mark (VmHWM):
# ru_maxrss would include the bench's RSS at fork, TensorFlow and all.
DEVICE = r"""
import importlib.abc, json, sys, time, pathlib
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("boto3", "botocore", "tensorflow", "numpy"):
            raise ImportError(name)
sys.meta_path.insert(0, Block())
from modelkit.device.client import EdgeClient
def hwm_kib():
    line = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:"))
    return int(line.split()[1])
args = json.loads(sys.argv[1])
c = EdgeClient(base_url=args["base_url"], model=args["model"], device_id="bench", store=pathlib.Path(args["store"]),
               trusted_root=pathlib.Path(args["root"]).read_bytes(), preference=["float32"])
before = hwm_kib()
results = []
for _ in range(args["polls"]):
    t0 = time.perf_counter()
    r = c.update()
    results.append({"status": r.status, "error": r.error, "bytes": r.bytes_received, "requests": r.requests,
                    "s": time.perf_counter() - t0})
t0 = time.perf_counter()
assert c.installed() is not None  # the full check an application makes before it loads the model
verify_s = time.perf_counter() - t0
print(json.dumps({"results": results, "rss_before_kib": before, "rss_peak_kib": hwm_kib(), "verify_s": verify_s}))
"""


def _device(root: Path, base_url: str, store: Path, model: str, polls: int) -> dict[str, Any]:
    args = {"base_url": base_url, "model": model, "store": str(store), "polls": polls,
            "root": str(trust.roots_dir(root, "bench") / "1.root.json")}
    proc = subprocess.run([sys.executable, "-c", DEVICE, json.dumps(args)], capture_output=True, text=True,
                          check=False, env={**os.environ, "TFPLAT_ROOT": str(root)})
    if proc.returncode != 0:
        raise SystemExit(f"device failed:\n{proc.stderr[-2000:]}")
    out: dict[str, Any] = json.loads(proc.stdout)
    return out


def device_figures(tmp: Path, keys: Keys, polls: int, large_mib: int) -> dict[str, Any]:
    """A device polling an unchanged repository, and one installing a large variant (fresh moto_server)."""
    moto, endpoint = start_moto()
    try:
        env = {**os.environ, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
               "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint, **keys.env()}
        import boto3

        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="bench",
                          aws_secret_access_key="bench")
        s3.create_bucket(Bucket="dev")
        s3.put_bucket_policy(Bucket="dev", Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::dev/*"}]}))
        # A 256 MiB variant (random bytes: a model of that size, as far as the transfer goes).
        big = tmp / "large-build" / "mobilenet" / "9"
        (big / "variants").mkdir(parents=True)
        with (big / "variants" / "float32.tflite").open("wb") as fh:
            for _ in range(large_mib):
                fh.write(os.urandom(1 << 20))
        small = json.loads((tmp / "build" / "mobilenet" / "1" / "manifest.json").read_text())
        size = large_mib << 20
        sha = sha256_file(big / "variants" / "float32.tflite")
        entry = {**small["variants"]["float32"], "sha256": sha, "size": size}
        (big / "manifest.json").write_text(json.dumps({**small, "version": 9, "variants": {"float32": entry}}))
        root = bench_root(tmp, keys, stable=9)
        publish = [str(BIN / "tfplat-model"), "edge", "publish", "--stack", "bench", "--model", "mobilenet",
                   "--bucket", "s3://dev/edge", "--build", str(tmp / "large-build")]
        timed(publish, {**env, "TFPLAT_ROOT": str(root)})
        large = _device(root, f"{endpoint}/dev/edge", tmp / "device-large", "mobilenet", 1)
        polled = _device(root, f"{endpoint}/dev/edge", tmp / "device-large", "mobilenet", polls)
    finally:
        moto.terminate()
        moto.wait(timeout=10)
    first = large["results"][0]
    assert first["status"] == "updated", first
    same = polled["results"]
    assert all(r["status"] == "unchanged" for r in same), same
    poll_bytes = statistics.median(r["bytes"] for r in same)
    poll_s = statistics.median(r["s"] for r in same)
    print(f"\ndevice (TUF client), {polls} polls with nothing changed: {poll_bytes:,.0f} bytes, "
          f"{statistics.median(r['requests'] for r in same):.0f} requests, {poll_s * 1000:.1f} ms per poll (median)")
    print(f"  full re-verification of the installed {large_mib} MiB model (installed(), daily in update()): "
          f"{polled['verify_s']:.2f} s")
    print(f"device installing a {large_mib} MiB variant: {first['s']:.2f} s, peak RSS "
          f"{large['rss_peak_kib'] / 1024:.1f} MiB ({(large['rss_peak_kib'] - large['rss_before_kib']) / 1024:.1f} MiB "
          "above the started client)")
    return {"device": {"poll_bytes": poll_bytes, "poll_requests": statistics.median(r["requests"] for r in same),
                       "poll_ms": round(poll_s * 1000, 2), "verify_s": round(polled["verify_s"], 3),
                       "large_variant_bytes": size, "large_install_s": round(first["s"], 2),
                       "peak_rss_mib": round(large["rss_peak_kib"] / 1024, 1),
                       "rss_before_mib": round(large["rss_before_kib"] / 1024, 1)}}


if __name__ == "__main__":
    sys.exit(main())
