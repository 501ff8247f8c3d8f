"""Read a SavedModel's serving signature and compare it with what models/<name>.yaml declares.

The signature is read from saved_model.pb itself (the SignatureDef TF Serving serves), not
by loading the model: no variables are restored, so inspecting a large model is quick.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.config.spec import Signature, TensorSpec

# SignatureDef.method_name for each `signature.method` in the model schema.
METHODS = {
    "predict": "tensorflow/serving/predict",
    "classify": "tensorflow/serving/classify",
    "regress": "tensorflow/serving/regress",
}


@dataclass(frozen=True, kw_only=True)
class FoundSignature:
    name: str
    method_name: str
    inputs: Mapping[str, TensorSpec]
    outputs: Mapping[str, TensorSpec]
    unknown_rank: frozenset[str]  # tensor names ("inputs.x") whose rank is unknown


def _dtype_name(enum_value: int) -> str:
    from tensorflow.core.framework import types_pb2

    # DT_FLOAT -> float32, the names the model schema uses (tf.DType.name).
    if enum_value == types_pb2.DT_INVALID:
        return "invalid"
    import tensorflow as tf

    return str(tf.dtypes.as_dtype(enum_value).name)


def _tensors(side: str, infos: Mapping[str, Any], unknown: set[str]) -> dict[str, TensorSpec]:
    """TensorInfo protos -> specs; -1 stands for a dimension of any size, as in the config."""
    result = {}
    for key, info in infos.items():
        if info.tensor_shape.unknown_rank:
            unknown.add(f"{side}.{key}")
        dims = tuple(int(d.size) for d in info.tensor_shape.dim)
        result[key] = TensorSpec(dtype=_dtype_name(info.dtype), shape=dims)
    return result


def read_signatures(saved_model_dir: Path) -> dict[str, FoundSignature]:
    """Every SignatureDef of the serving MetaGraph (tag "serve") in saved_model.pb."""
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((saved_model_dir / "saved_model.pb").read_bytes())
    graphs = [g for g in proto.meta_graphs if "serve" in g.meta_info_def.tags] or list(proto.meta_graphs)
    out: dict[str, FoundSignature] = {}
    for name, sig in graphs[0].signature_def.items():
        if name.startswith("__"):
            continue  # __saved_model_init_op and friends: TF internals, never served
        unknown: set[str] = set()
        ins = _tensors("inputs", sig.inputs, unknown)
        outs = _tensors("outputs", sig.outputs, unknown)
        out[name] = FoundSignature(name=name, method_name=sig.method_name, inputs=ins, outputs=outs,
                                   unknown_rank=frozenset(unknown))
    return out


def _compare_tensors(side: str, want: Mapping[str, TensorSpec], got: Mapping[str, TensorSpec],
                     unknown_rank: frozenset[str]) -> list[str]:
    diffs = []
    for key in sorted(set(want) - set(got)):
        diffs.append(f"signature.{side}.{key}: declared in the model config, missing from the SavedModel "
                     f"(it has: {', '.join(sorted(got)) or 'none'})")
    for key in sorted(set(got) - set(want)):
        diffs.append(f"signature.{side}.{key}: in the SavedModel ({got[key].dtype} {list(got[key].shape)}), "
                     "not declared in the model config")
    for key in sorted(set(want) & set(got)):
        w, g = want[key], got[key]
        if w.dtype != g.dtype:
            diffs.append(f"signature.{side}.{key}.dtype: config says {w.dtype}, SavedModel has {g.dtype}")
        if f"{side}.{key}" in unknown_rank:
            diffs.append(f"signature.{side}.{key}.shape: config says {list(w.shape)}, SavedModel has unknown rank")
        elif w.shape != g.shape:
            diffs.append(f"signature.{side}.{key}.shape: config says {list(w.shape)}, SavedModel has {list(g.shape)}"
                         " (-1 = any size)")
    return diffs


def compare(declared: Signature, found: Mapping[str, FoundSignature]) -> list[str]:
    """Every difference between the declared signature and the SavedModel's; [] when they match."""
    sig = found.get(declared.name)
    if sig is None:
        return [f"signature.name: the SavedModel has no signature {declared.name!r} "
                f"(it has: {', '.join(sorted(found)) or 'none'})"]
    diffs = []
    want_method = METHODS[declared.method]
    if sig.method_name != want_method:
        diffs.append(f"signature.method: config says {declared.method} ({want_method}), "
                     f"SavedModel has {sig.method_name or '(empty)'}")
    diffs += _compare_tensors("inputs", declared.inputs, sig.inputs, sig.unknown_rank)
    diffs += _compare_tensors("outputs", declared.outputs, sig.outputs, sig.unknown_rank)
    return diffs
