"""`edge build`: one SavedModel version -> the TFLite variants models/<name>.yaml asks for.

Output, per model version (nothing here is signed; `edge publish` signs):
    <out>/<model>/<version>/variants/<variant>.tflite   every variant that passed its gate
    <out>/<model>/<version>/manifest.json               manifest payload (published variants)
    <out>/<model>/<version>/report.json                 every variant, with figures and why it failed

Samples are split in two: the first half calibrates int8, the second half measures parity,
so int8 is never graded on the very data it was calibrated with.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
import hashlib
import json
from pathlib import Path
import shutil
import tempfile
import time
from typing import Any

import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from infra.config.spec import ModelSpec
from modelkit import __version__, savedmodel
from modelkit import samples as samples_mod
from modelkit import signature as sigmod
from modelkit.edge import convert as conv
from modelkit.edge import measure
from modelkit.edge.paths import MANIFEST_FILE, REPORT_FILE, version_dir
from modelkit.errors import UserError


@dataclass
class VariantResult:
    variant: str
    published: bool = False
    reasons: list[str] = field(default_factory=list)
    entry: dict[str, Any] = field(default_factory=dict)  # manifest entry (published or not)
    convert_s: float = 0.0


@dataclass
class BuildResult:
    model: str
    version: int
    out_dir: Path
    variants: list[VariantResult]
    manifest: dict[str, Any]
    samples_note: str

    @property
    def published(self) -> list[str]:
        return [v.variant for v in self.variants if v.published]


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _split(data: Mapping[str, npt.NDArray[np.generic]]) -> tuple[dict[str, Any], dict[str, Any]]:
    count = min(len(a) for a in data.values())
    if count < 2:
        return dict(data), dict(data)
    half = (count + 1) // 2
    return {k: v[:half] for k, v in data.items()}, {k: v[half:] for k, v in data.items()}


def _samples(model: ModelSpec, location: str | None) -> tuple[dict[str, Any], str]:
    if location or model.edge.samples:
        data = samples_mod.load(model, location, limit=model.edge.num_samples)
        return data, f"{location or model.edge.samples} ({min(len(a) for a in data.values())} samples)"
    # No declared samples (allowed when int8 is not asked for): parity on synthetic inputs
    # still measures numerical drift, though not accuracy on real data.
    data = samples_mod.generate(model, model.edge.num_samples, seed=0)
    return data, f"synthetic, seed 0 ({model.edge.num_samples} samples; edge.samples is not set)"


def _build_variant(variant: str, model: ModelSpec, *, sm_dir: Path, calib: Mapping[str, Any],
                   evaluation: Mapping[str, Any], reference: Mapping[str, Any], out: Path) -> VariantResult:
    result = VariantResult(variant=variant)
    t0 = time.perf_counter()
    try:
        flat = conv.convert(sm_dir, model.signature.name, variant, calib)
    except conv.ConversionError as exc:
        result.reasons.append(str(exc))
        return result
    result.convert_s = time.perf_counter() - t0
    inputs, outputs = conv.tensor_details(flat, model.signature.name)
    runner = measure.Runner(flat, model.signature.name, inputs, outputs)
    par = measure.parity(runner, evaluation, reference, classifier=model.task == "classification", label=variant)
    lat = measure.latency(runner, evaluation, label=variant)
    gate = model.edge.gates[variant]
    result.reasons = measure.gate_failures(par, gate)
    sha = _sha256(flat)
    result.entry = {
        "sha256": sha, "size": len(flat),
        "inputs": {d.name: d.to_json() for d in inputs},
        "outputs": {d.name: d.to_json() for d in outputs},
        "runtime": {"engine": "tflite", "min_runtime_version": conv.min_runtime_version(flat),
                    "builtin_ops": sorted(conv.op_names(flat)), "integer_only": variant == "int8"},
        "metrics": {
            "latency_ms": {"p50": round(lat.p50_ms, 4), "p90": round(lat.p90_ms, 4), "mean": round(lat.mean_ms, 4),
                           "runs": lat.runs, "threads": lat.threads, "batch": 1},
            "max_abs_error": par.max_abs_error, "top1_agreement": par.top1_agreement,
            "parity_samples": par.samples, "convert_s": round(result.convert_s, 3),
        },
        "gate": {"max_abs_error": gate.max_abs_error, "min_top1_agreement": gate.min_top1_agreement},
    }
    result.published = not result.reasons
    if result.published:
        (out / "variants").mkdir(parents=True, exist_ok=True)
        (out / "variants" / f"{variant}.tflite").write_bytes(flat)
    return result


def build(model: ModelSpec, saved_model: str, version: int, out_root: Path,
          samples_location: str | None = None) -> BuildResult:
    """Convert, measure and gate every variant of `model`; write the build folder."""
    if not model.edge.variants:
        raise UserError.one(file=model.file, field="edge.variants", value=[],
                            message="this model asks for no edge variants",
                            fix="list the variants to build, e.g. edge.variants: [float32, int8]")
    with tempfile.TemporaryDirectory(prefix="tfplat-edge-") as tmp:
        sm_dir = savedmodel.fetch(saved_model, Path(tmp))
        diffs = sigmod.compare(model.signature, sigmod.read_signatures(sm_dir))
        if diffs:
            raise UserError.one(file=model.file, field="signature", value=saved_model,
                                message="the SavedModel does not match the declared signature:\n      "
                                        + "\n      ".join(diffs),
                                fix=f"fix models/{model.name}.yaml or export the model again "
                                    "(`tfplat-model inspect` lists the differences)")
        data, note = _samples(model, samples_location)
        calib, evaluation = _split(data)
        reference = measure.reference_outputs(sm_dir, model.signature.name, evaluation)
        out = version_dir(out_root, model.name, version)
        if out.exists():
            shutil.rmtree(out)  # a rebuild must not leave variants of an earlier build behind
        out.mkdir(parents=True)
        results = [
            _build_variant(v, model, sm_dir=sm_dir, calib=calib, evaluation=evaluation, reference=reference, out=out)
            for v in tqdm(model.edge.variants, desc=f"edge build {model.name} v{version}", unit="variant",
                          disable=None)
        ]
        pb_sha = _sha256((sm_dir / "saved_model.pb").read_bytes())
    base = next((r.entry["size"] for r in results if r.variant == "float32" and r.entry), None)
    for r in results:
        if r.entry:
            r.entry["metrics"]["size_ratio_vs_float32"] = round(r.entry["size"] / base, 4) if base else None
    import tensorflow as tf

    manifest = {
        "model": model.name, "version": version, "task": model.task, "signature": model.signature.name,
        "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "source": {"saved_model": saved_model, "saved_model_pb_sha256": pb_sha},
        "tool": {"modelkit": __version__, "tensorflow": tf.__version__},
        "variants": {r.variant: r.entry for r in results if r.published},
    }
    report = {
        "model": model.name, "version": version, "samples": note,
        "variants": {r.variant: {"published": r.published, "reasons": r.reasons, **r.entry} for r in results},
    }
    (out / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    (out / REPORT_FILE).write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    return BuildResult(model=model.name, version=version, out_dir=out, variants=results, manifest=manifest,
                       samples_note=note)


def render(result: BuildResult) -> str:
    """The build report as a table, each rejected variant with its reasons."""
    lines = [f"{result.model} v{result.version}: samples {result.samples_note}",
             f"  {'variant':<14}{'size':>12}{'vs f32':>8}{'p50 ms':>9}{'max|err|':>11}{'top1':>7}  result"]
    for r in result.variants:
        m = r.entry.get("metrics", {})
        top1, ratio = m.get("top1_agreement"), m.get("size_ratio_vs_float32")
        cells = [
            f"{r.entry['size']:,}" if r.entry else "-",
            f"{ratio:.2f}x" if ratio else "-",
            f"{m['latency_ms']['p50']:.3f}" if m else "-",
            f"{m['max_abs_error']:.2e}" if m else "-",
            f"{top1:.3f}" if top1 is not None else "-",
        ]
        verdict = "published" if r.published else "REJECTED: " + "; ".join(r.reasons)
        lines.append(f"  {r.variant:<14}{cells[0]:>12}{cells[1]:>8}{cells[2]:>9}{cells[3]:>11}{cells[4]:>7}  {verdict}")
    lines.append(f"  wrote {result.out_dir}")
    return "\n".join(lines)
