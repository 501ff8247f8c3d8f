"""Sample inputs (.npz, one array per signature input): the int8 representative dataset,
the parity checks of edge variants, and the TF Serving warmup requests.

`generate` writes deterministic synthetic samples, so a model without a curated sample set
(and CI) still gets a repeatable int8 calibration; real deployments point edge.samples at
representative data instead.
"""

from __future__ import annotations

from collections.abc import Mapping
import io
from pathlib import Path
import tempfile

import numpy as np
import numpy.typing as npt

from infra.config.spec import ModelSpec, TensorSpec
from modelkit import storage
from modelkit.config import resolve_path
from modelkit.errors import Problem, UserError

Arrays = dict[str, npt.NDArray[np.generic]]


def _concrete_shape(spec: TensorSpec, batch: int, *, fill: int = 8) -> tuple[int, ...]:
    """Batch first; other unknown (-1) dimensions get `fill`."""
    return tuple(batch if i == 0 else (fill if d < 0 else d) for i, d in enumerate(spec.shape))


def generate(model: ModelSpec, count: int, *, seed: int = 0, low: float = -1.0, high: float = 1.0,
             int_high: int = 1000) -> Arrays:
    """Deterministic samples for every signature input: same model, count and seed, same bytes."""
    rng = np.random.default_rng(seed)
    out: Arrays = {}
    for name in sorted(model.signature.inputs):
        spec = model.signature.inputs[name]
        shape = _concrete_shape(spec, count)
        if spec.dtype.startswith("float") or spec.dtype == "bfloat16":
            out[name] = rng.uniform(low, high, size=shape).astype(np_dtype(spec.dtype))
        elif spec.dtype == "bool":
            out[name] = rng.integers(0, 2, size=shape).astype(bool)
        elif spec.dtype == "string":
            raise UserError.one(file=model.file, field=f"signature.inputs.{name}.dtype", value=spec.dtype,
                                message="synthetic samples cannot be made for string inputs",
                                fix="point edge.samples at an .npz of real inputs")
        else:
            out[name] = rng.integers(0, int_high, size=shape).astype(spec.dtype)
    return out


def write_npz(arrays: Mapping[str, npt.NDArray[np.generic]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.savez_compressed(buf, **dict(arrays))
    path.write_bytes(buf.getvalue())


def _read_location(location: str) -> tuple[bytes, str]:
    if storage.is_remote(location):
        uri = storage.parse_uri(location, what="edge.samples")
        with tempfile.TemporaryDirectory() as tmp:
            target = Path(tmp) / "samples.npz"
            storage.download_file(uri, target)
            return target.read_bytes(), location
    path = resolve_path(location)
    if not path.is_file():
        raise FileNotFoundError(path)
    return path.read_bytes(), str(path)


def load(model: ModelSpec, location: str | None = None, *, limit: int | None = None) -> Arrays:
    """The model's samples (edge.samples unless `location`), checked against its signature."""
    source = location or model.edge.samples
    field = "edge.samples"
    if not source:
        raise UserError.one(file=model.file, field=field, value=None, message="no sample inputs declared",
                            fix=f"set edge.samples (an .npz), or run `tfplat-model samples --model {model.name}`")
    try:
        data, shown = _read_location(source)
    except FileNotFoundError as exc:
        raise UserError.one(file=model.file, field=field, value=source, message="the samples file does not exist",
                            fix=f"run `tfplat-model samples --model {model.name}` to generate it, "
                                "or point edge.samples at an existing .npz") from exc
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays: Arrays = {k: npz[k] for k in npz.files}
    except (ValueError, OSError) as exc:
        raise UserError.one(file=shown, field="", message=f"not a readable .npz file ({exc})",
                            fix="write it with numpy.savez, one array per signature input") from exc
    problems = check(model, arrays, shown)
    if problems:
        raise UserError(*problems)
    count = min(len(a) for a in arrays.values())
    n = min(count, limit) if limit else count
    return {k: np.asarray(arrays[k][:n]).astype(np_dtype(spec.dtype)) for k, spec in model.signature.inputs.items()}


def np_dtype(dtype: str) -> npt.DTypeLike:
    """numpy dtype for a config dtype (bfloat16 samples are kept as float32; strings as bytes)."""
    return {"bfloat16": np.float32, "string": np.bytes_}.get(dtype, dtype)


def check(model: ModelSpec, arrays: Mapping[str, npt.NDArray[np.generic]], shown: str) -> list[Problem]:
    problems = []
    for name, spec in model.signature.inputs.items():
        arr = arrays.get(name)
        if arr is None:
            problems.append(Problem(file=shown, field=name, value=sorted(arrays),
                                    message="no array for this signature input",
                                    fix=f"save one array named {name!r} per input (numpy.savez(path, {name}=...))"))
            continue
        want = spec.shape
        if arr.ndim != len(want) or any(w >= 0 and w != g for w, g in zip(want[1:], arr.shape[1:], strict=False)):
            problems.append(Problem(file=shown, field=name, value=list(arr.shape),
                                    message=f"shape does not fit the signature {list(want)}",
                                    fix="store samples batched along the first axis, other dims as declared"))
    lengths = {len(arrays[n]) for n in model.signature.inputs if n in arrays}
    if len(lengths) > 1:
        problems.append(Problem(file=shown, field="", value=sorted(lengths),
                                message="inputs hold different numbers of samples",
                                fix="give every input array the same first dimension"))
    return problems


def batch(arrays: Mapping[str, npt.NDArray[np.generic]], start: int, size: int) -> Arrays:
    """Rows start..start+size of every input, wrapping around when samples run out."""
    count = min(len(a) for a in arrays.values())
    idx = [(start + i) % count for i in range(size)]
    return {k: np.asarray(v[idx]) for k, v in arrays.items()}
