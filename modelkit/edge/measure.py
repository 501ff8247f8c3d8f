"""What a variant is worth: CPU latency in the TFLite interpreter, and parity with the SavedModel.

Parity runs the same samples through the SavedModel's serving signature and through the
variant (quantizing int8 inputs and dequantizing int8 outputs with the model's own scale
and zero point), then reports the largest absolute difference over every output element
and, for classifiers, how often both pick the same top-1 class.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
import statistics
import time
from typing import Any

import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from infra.config.spec import EdgeGate
from modelkit.edge.convert import TensorDetail, interpreter

Arrays = Mapping[str, npt.NDArray[np.generic]]
NDArray = npt.NDArray[Any]


@dataclass(frozen=True)
class Latency:
    p50_ms: float
    p90_ms: float
    mean_ms: float
    runs: int
    threads: int


@dataclass(frozen=True)
class Parity:
    max_abs_error: float
    top1_agreement: float | None  # None unless the model is a classifier
    samples: int


def reference_outputs(saved_model_dir: Path, signature: str, data: Arrays, chunk: int = 32) -> dict[str, NDArray]:
    """The SavedModel's outputs for every sample (what TF Serving would answer)."""
    import tensorflow as tf

    fn = tf.saved_model.load(str(saved_model_dir)).signatures[signature]
    count = min(len(a) for a in data.values())
    parts: dict[str, list[NDArray]] = {}
    for start in range(0, count, chunk):
        out = fn(**{k: tf.constant(v[start:start + chunk]) for k, v in data.items()})
        for name, tensor in out.items():
            parts.setdefault(name, []).append(tensor.numpy())
    return {k: np.concatenate(v) for k, v in parts.items()}


def _quantize(x: npt.NDArray[np.generic], d: TensorDetail) -> npt.NDArray[np.generic]:
    if d.dtype not in ("int8", "uint8") or not d.scale:
        return np.asarray(x).astype(np.dtype(d.dtype))
    info = np.iinfo(d.dtype)
    q: npt.NDArray[np.float32] = np.round(np.asarray(x, dtype=np.float32) / d.scale + d.zero_point)
    return np.clip(q, info.min, info.max).astype(np.dtype(d.dtype))


def _dequantize(y: npt.NDArray[np.generic], d: TensorDetail) -> npt.NDArray[np.float32]:
    if d.dtype in ("int8", "uint8") and d.scale:
        return ((np.asarray(y, dtype=np.float32) - d.zero_point) * d.scale).astype(np.float32)
    return np.asarray(y, dtype=np.float32)


class Runner:
    """One variant in the interpreter, fed and read in the signature's float terms."""

    def __init__(self, flatbuffer: bytes, signature: str, inputs: list[TensorDetail],
                 outputs: list[TensorDetail], threads: int = 1) -> None:
        self._runner = interpreter(flatbuffer, threads).get_signature_runner(signature)
        self.inputs = {d.name: d for d in inputs}
        self.outputs = {d.name: d for d in outputs}
        self.threads = threads

    def feed(self, row: Mapping[str, npt.NDArray[np.generic]]) -> dict[str, Any]:
        return {k: _quantize(v, self.inputs[k]) for k, v in row.items()}

    def __call__(self, fed: Mapping[str, Any]) -> dict[str, npt.NDArray[np.float32]]:
        raw = self._runner(**fed)
        return {k: _dequantize(v, self.outputs[k]) for k, v in raw.items()}


def classifier_output(outputs: Mapping[str, NDArray]) -> str | None:
    """The output compared for top-1: the first (by name) with a class axis of size > 1."""
    for name in sorted(outputs):
        arr = outputs[name]
        if arr.ndim >= 2 and arr.shape[-1] > 1:
            return name
    return None


def parity(runner: Runner, data: Arrays, reference: Mapping[str, NDArray], *, classifier: bool,
           label: str = "") -> Parity:
    count = min(len(a) for a in data.values())
    max_err = 0.0
    agree = 0
    top1_name = classifier_output(reference) if classifier else None
    for i in tqdm(range(count), desc=f"parity {label}".strip(), unit="sample", leave=False, disable=None):
        got = runner(runner.feed({k: v[i:i + 1] for k, v in data.items()}))
        for name, ref in reference.items():
            diff = np.abs(got[name].reshape(ref[i:i + 1].shape) - ref[i:i + 1])
            max_err = max(max_err, float(diff.max()) if diff.size else 0.0)
        if top1_name is not None:
            agree += int(np.argmax(got[top1_name][0]) == np.argmax(reference[top1_name][i]))
    top1 = agree / count if top1_name is not None and count else None
    return Parity(max_abs_error=max_err, top1_agreement=top1, samples=count)


def latency(runner: Runner, data: Arrays, *, runs: int = 50, warmup: int = 5, budget_s: float = 20.0,
            label: str = "") -> Latency:
    """Batch-1 latency on one CPU thread, after `warmup` untimed runs; stops early past budget_s."""
    fed = runner.feed({k: v[:1] for k, v in data.items()})
    for _ in range(warmup):
        runner(fed)
    times: list[float] = []
    start = time.perf_counter()
    for _ in tqdm(range(runs), desc=f"latency {label}".strip(), unit="run", leave=False, disable=None):
        t0 = time.perf_counter()
        runner(fed)
        times.append((time.perf_counter() - t0) * 1000)
        if time.perf_counter() - start > budget_s and len(times) >= 5:
            break
    times.sort()
    p90 = times[min(len(times) - 1, round(0.9 * (len(times) - 1)))]
    return Latency(p50_ms=statistics.median(times), p90_ms=p90, mean_ms=statistics.fmean(times),
                   runs=len(times), threads=runner.threads)


def gate_failures(p: Parity, gate: EdgeGate) -> list[str]:
    """Why a variant misses its gate; [] when it passes."""
    reasons = []
    if p.max_abs_error > gate.max_abs_error:
        reasons.append(f"max_abs_error {p.max_abs_error:.6g} > gate {gate.max_abs_error:g}")
    if p.top1_agreement is not None and p.top1_agreement < gate.min_top1_agreement:
        reasons.append(f"top1_agreement {p.top1_agreement:.4f} < gate {gate.min_top1_agreement:g}")
    return reasons
