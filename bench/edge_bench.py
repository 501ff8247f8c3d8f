"""Edge pipeline benchmark on a MobileNetV2-shaped model (run with .venv-tf: `make bench-edge`).

Measures, in one run:
- conversion time of each TFLite variant, its size relative to float32 (targets: int8 <= 0.30x,
  float16 <= 0.55x) and its batch-1 CPU latency in the TFLite interpreter;
- publish throughput of `tfplat-model edge publish` against `aws s3 sync` of the same files to
  the same local S3 endpoint (moto_server in its own process; target >= 1.0x), both started
  as fresh processes, median of several rounds with new buckets;
- bytes uploaded by an unchanged re-publish (target 0).

The model has random weights (tf.keras.applications.MobileNetV2(weights=None): no download),
so parity figures are printed but the accuracy gates are relaxed: they would only measure
noise on an untrained network. Results are also written to bench/results/edge_bench.json.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
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
from modelkit.config import load_model
from modelkit.edge import build as edge_build
from modelkit.edge import signing
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


def bench_root(tmp: Path, key: signing.KeyPair) -> Path:
    """A TFPLAT_ROOT whose stack `bench` publishes mobilenet v1 on the stable channel."""
    root = tmp / "root"
    shutil.copytree(REPO / "models", root / "models", ignore=shutil.ignore_patterns("samples"))
    shutil.copytree(REPO / "stacks", root / "stacks")
    # Staging's own tfplat:edge block (its last key) is replaced by the bench's.
    base = (REPO / "stacks" / "Pulumi.staging.yaml").read_text().split("  tfplat:edge:")[0]
    text = base + (
        "  tfplat:edge:\n    enabled: true\n    cdn: {enabled: false}\n    signing:\n      key_id: bench\n"
        "      private_key:\n        secure: v1:YmVuY2g=\n"
        f"      public_keys:\n        bench: {key.public_b64}\n"
        "    channels:\n      mobilenet: {stable: 1}\n")
    (root / "stacks" / "Pulumi.bench.yaml").write_text(text)
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
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="edge-bench-"))
    key = signing.generate()
    root = bench_root(tmp, key)
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

    figures.update(publish_vs_sync(tmp, key, args.rounds))
    out = REPO / "bench" / "results" / "edge_bench.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"\nwrote {out}")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


def publish_vs_sync(tmp: Path, key: signing.KeyPair, rounds: int) -> dict[str, Any]:
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
                   "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint,
                   "TFPLAT_EDGE_SIGNING_KEY": key.private_pem}
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
          f"(uploaded {statistics.median(ours_bytes):,.0f} bytes incl. manifest + pointers)")
    print(f"  aws s3 sync                {theirs_s:6.2f} s  {total / theirs_s / 1e6:7.1f} MB/s")
    print(f"  throughput ratio           {ratio:6.2f}x  (target >= 1.0x: {'ok' if ratio >= 1.0 else 'MISS'})")
    print(f"  unchanged re-publish       {again_bytes} bytes uploaded in {again_s:.2f} s (target 0: "
          f"{'ok' if again_bytes == 0 else 'MISS'}); aws s3 sync again: {sync_again_s:.2f} s")
    return {"publish": {"variant_bytes": total, "publish_s": [round(x, 3) for x in ours],
                        "sync_s": [round(x, 3) for x in theirs], "publish_median_s": round(ours_s, 3),
                        "sync_median_s": round(theirs_s, 3), "throughput_ratio": round(ratio, 3),
                        "republish_bytes": again_bytes, "republish_s": round(again_s, 3),
                        "sync_again_s": round(sync_again_s, 3)}}


if __name__ == "__main__":
    sys.exit(main())
