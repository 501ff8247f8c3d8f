"""Find a SavedModel version: a local directory, or s3:// / gs:// copied to a local folder."""

from __future__ import annotations

from pathlib import Path
import re

from modelkit import storage
from modelkit.errors import UserError


def version_from_location(location: str) -> int | None:
    """The version number a location ends with (<prefix>/<version>), if it does."""
    match = re.search(r"(?:^|/)(\d+)/?$", location)
    return int(match.group(1)) if match else None


def fetch(location: str, workdir: Path) -> Path:
    """A local directory holding saved_model.pb for `location` (downloaded when remote)."""
    if storage.is_remote(location):
        uri = storage.parse_uri(location, what="--saved-model")
        local = storage.download_dir(uri, workdir / "saved_model")
    else:
        local = Path(location)
    if not (local / "saved_model.pb").is_file():
        raise UserError.one(
            file=location, field="saved_model.pb", message="no SavedModel here",
            fix="point at one version directory, the one holding saved_model.pb and variables/ "
                "(e.g. s3://bucket/vision/mobilenet/4)")
    return local
