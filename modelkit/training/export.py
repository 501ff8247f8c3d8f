"""Export a trained model as the next version of its model: <export base>/<n>/, with the
serving signature models/<name>.yaml declares and the run's provenance in assets.extra/.

The chief exports; the version number is one above the highest already under the prefix
(1 for the first). The SavedModel is written locally, then copied into place with
saved_model.pb last: TF Serving and `tfplat-model inspect` look for that file, so a version
whose upload was cut short is never taken for a whole one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
import json
from pathlib import Path
import re
import shutil
import tempfile
from typing import Any

from infra.config.spec import Signature
from modelkit import storage
from modelkit.errors import UserError
from modelkit.training.spec import RunSpec

PROVENANCE_FILE = "assets.extra/tfplat-training.json"
MODEL_FILE = "saved_model.pb"
_DIGEST = re.compile(r"@(sha256:[0-9a-f]{64})$")


@dataclass(frozen=True, kw_only=True)
class Exported:
    version: int
    location: str  # <export base>/<version>


def existing_versions(base: str) -> list[int]:
    """Numbered version folders under `base` (s3://, gs:// or a local path)."""
    if base.startswith("s3://"):
        uri = storage.parse_uri(base, what="export base")
        names = {key[len(uri.key) + 1:].split("/", 1)[0] for key, _ in storage.list_keys(storage.client("s3"), uri)}
    elif base.startswith("gs://"):
        import tensorflow as tf

        names = {n.rstrip("/") for n in tf.io.gfile.listdir(base)} if tf.io.gfile.exists(base) else set()
    else:
        path = Path(base)
        names = {p.name for p in path.iterdir()} if path.is_dir() else set()
    return sorted(int(n) for n in names if n.isdigit())


def provenance(spec: RunSpec, *, steps: int) -> dict[str, Any]:
    """What produced this version: image (and its digest), git revision, data, run."""
    digest = _DIGEST.search(spec.image)
    return {"model": spec.model, "run": spec.run, "image": spec.image,
            "image_digest": digest.group(1) if digest else None, "git_revision": spec.git_revision,
            "data": list(spec.data), "strategy": spec.strategy, "workers": spec.workers, "steps": steps,
            "exported_at": datetime.now(UTC).isoformat(timespec="seconds")}


def _dtype(name: str) -> Any:
    import tensorflow as tf

    return tf.dtypes.as_dtype(name)


def write_saved_model(model: Any, signature: Signature, target: Path,
                      serve: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None) -> Path:
    """A SavedModel whose `signature.name` endpoint has exactly the declared inputs and outputs.
    `serve` maps the named inputs to the named outputs; by default a one-input, one-output
    model is called on its input."""
    import keras
    import tensorflow as tf

    inputs = list(signature.inputs)
    outputs = list(signature.outputs)
    if serve is None:
        if len(inputs) != 1 or len(outputs) != 1:
            raise UserError.one(file="(export)", field="signature", value=inputs + outputs,
                                message="more than one input or output; say how to call the model",
                                fix="pass serve=lambda inputs: {<output>: ...} to export_version")
        serve = lambda named: {outputs[0]: model(named[inputs[0]])}  # noqa: E731
    specs = [tf.TensorSpec([None if d < 0 else d for d in signature.inputs[n].shape], _dtype(signature.inputs[n].dtype),
                           name=n) for n in inputs]
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(name=signature.name, fn=lambda *args: dict(serve(dict(zip(inputs, args, strict=True)))),
                         input_signature=specs)
    archive.write_out(str(target), verbose=False)
    return target


def export_version(spec: RunSpec, model: Any, signature: Signature, *, steps: int,
                   serve: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None) -> Exported:
    """Write the next version under spec.export_base (the chief only; others return nothing)."""
    version = max(existing_versions(spec.export_base), default=0) + 1
    location = f"{spec.export_base}/{version}"
    with tempfile.TemporaryDirectory(prefix="tfplat-export-") as tmp:
        local = write_saved_model(model, signature, Path(tmp) / str(version), serve)
        extra = local / PROVENANCE_FILE
        extra.parent.mkdir(parents=True, exist_ok=True)
        extra.write_text(json.dumps(provenance(spec, steps=steps), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        _copy_version(local, location)
    return Exported(version=version, location=location)


def _copy_version(local: Path, location: str) -> None:
    files = sorted((p for p in local.rglob("*") if p.is_file()), key=lambda p: p.name == MODEL_FILE)
    if location.startswith("s3://"):
        uri = storage.parse_uri(location, what="export location")
        for f in files:
            storage.upload_file(uri.child(str(f.relative_to(local))), f)
    elif location.startswith("gs://"):
        import tensorflow as tf

        for f in files:
            dest = f"{location}/{f.relative_to(local)}"
            tf.io.gfile.makedirs(dest.rsplit("/", 1)[0])
            tf.io.gfile.copy(str(f), dest, overwrite=False)
    else:
        dest_root = Path(location)
        if dest_root.exists():
            raise UserError.one(file=location, field="", message="this version already exists",
                                fix="another run exported it meanwhile; run the export again")
        for f in files:
            target = dest_root / f.relative_to(local)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, target)
