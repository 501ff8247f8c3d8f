"""SavedModel -> TFLite, one flatbuffer per variant.

- float32        no optimisation: the reference the other variants are compared with
- dynamic_range  int8 weights, float activations (no samples needed)
- float16        float16 weights; runs as float32 on CPUs, natively on GPU delegates
- int8           full integer: int8 weights, activations, inputs and outputs, calibrated on
                 a representative dataset drawn from edge.samples. Integer-only is what
                 microcontrollers and NPUs (Edge TPU, NNAPI, Hexagon) can run; the manifest
                 carries each tensor's scale and zero point so a device can quantize.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
import warnings

import numpy as np
import numpy.typing as npt

VARIANTS = ("float32", "dynamic_range", "float16", "int8")
# Ops that mean variables were not frozen into constants: such a model cannot run or be
# calibrated (TFLite would need the SavedModel's variable initialisation).
_UNFROZEN_OPS = {"VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE"}


class ConversionError(Exception):
    """A variant could not be produced; the build report says why and the variant is skipped."""


@dataclass(frozen=True)
class TensorDetail:
    name: str
    dtype: str
    shape: list[int]
    shape_signature: list[int]
    scale: float
    zero_point: int

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"dtype": self.dtype, "shape": self.shape_signature}
        if self.scale:
            out["quantization"] = {"scale": self.scale, "zero_point": self.zero_point}
        return out


def convert(saved_model_dir: Path, signature: str, variant: str,
            calibration: Mapping[str, npt.NDArray[np.generic]] | None) -> bytes:
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_saved_model(str(saved_model_dir), signature_keys=[signature])
    if variant == "dynamic_range":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
    elif variant == "float16":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.target_spec.supported_types = [tf.float16]
    elif variant == "int8":
        if not calibration:
            raise ConversionError("int8 needs sample inputs for calibration (edge.samples)")
        data = calibration

        def representative() -> Iterator[dict[str, npt.NDArray[np.generic]]]:
            count = min(len(a) for a in data.values())
            for i in range(count):
                yield {k: v[i:i + 1] for k, v in data.items()}

        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = representative
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    elif variant != "float32":
        raise ConversionError(f"unknown variant {variant!r} (known: {', '.join(VARIANTS)})")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # int8 calibration builds an Interpreter (see below)
            flatbuffer = bytes(conv.convert())
    except Exception as exc:
        raise ConversionError(f"TFLite converter failed: {str(exc).strip().splitlines()[-1][:300]}") from exc
    ops = op_names(flatbuffer)
    if ops & _UNFROZEN_OPS:
        raise ConversionError(f"the TFLite model still reads variables ({', '.join(sorted(ops & _UNFROZEN_OPS))}): "
                              "export the SavedModel so its variables are tracked (keras ExportArchive / "
                              "model.export) and convert again")
    return flatbuffer


def interpreter(flatbuffer: bytes, threads: int = 1) -> Any:
    import tensorflow as tf

    with warnings.catch_warnings():
        # tf.lite.Interpreter warns that LiteRT replaces it; the runtime is the same.
        warnings.simplefilter("ignore", UserWarning)
        return tf.lite.Interpreter(model_content=flatbuffer, num_threads=threads)


def op_names(flatbuffer: bytes) -> set[str]:
    """Builtin op names the model uses: the runtime a device needs must provide them all."""
    interp = interpreter(flatbuffer)
    return {str(op["op_name"]) for op in interp._get_ops_details()}


def tensor_details(flatbuffer: bytes, signature: str) -> tuple[list[TensorDetail], list[TensorDetail]]:
    runner = interpreter(flatbuffer).get_signature_runner(signature)

    def details(items: Mapping[str, Any]) -> list[TensorDetail]:
        out = []
        for name in sorted(items):
            d = items[name]
            scale, zero = d["quantization"]
            out.append(TensorDetail(name=name, dtype=np.dtype(d["dtype"]).name, shape=[int(x) for x in d["shape"]],
                                    shape_signature=[int(x) for x in d["shape_signature"]],
                                    scale=float(scale), zero_point=int(zero)))
        return out

    return details(runner.get_input_details()), details(runner.get_output_details())


def min_runtime_version(flatbuffer: bytes) -> str | None:
    """The oldest TFLite runtime that runs this model, as the converter recorded it."""
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.Model.GetRootAsModel(flatbuffer, 0)
    for i in range(model.MetadataLength()):
        meta = model.Metadata(i)
        if meta.Name() == b"min_runtime_version":
            raw = bytes(model.Buffers(meta.Buffer()).DataAsNumpy())
            return raw.split(b"\x00", 1)[0].decode() or None
    return None
