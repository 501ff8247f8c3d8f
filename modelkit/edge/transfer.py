"""Moving target files into the edge bucket: content-addressed, checked, parallel, skipped when present.

Cache-Control values are set here on upload; the CDN config relies on them (infra/plan/edge.py).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
import hashlib
import json
from pathlib import Path
import sys
import threading
from typing import Any

from modelkit.device.layout import metadata_key, target_key, variant_path
from modelkit.edge.paths import MANIFEST_FILE
from modelkit.errors import UserError
from modelkit.storage import ObjectUri, client, transfer

# Consistent snapshots: every object but the timestamp is written once under a name that
# changes with its content (versioned metadata, hash-prefixed targets).
CACHE_IMMUTABLE = "public, max-age=31536000, immutable"
CACHE_TIMESTAMP = "public, max-age=60"  # what devices poll: bounds how long a publish takes to reach them
CACHE_SHORT = "public, max-age=300"  # legacy/tuf-root.json
# Files above 64 MiB go up as multipart uploads of 16 MiB parts, 8 parts in flight per file.
# Below that one PUT is as fast (fewer requests, no part assembly on the server side) and
# blobs upload in parallel with each other anyway.
MULTIPART_THRESHOLD = 64 * 1024 * 1024
MULTIPART_CHUNK = 16 * 1024 * 1024


@dataclass
class Stats:
    uploaded_bytes: int = 0
    uploaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    signed: list[str] = field(default_factory=list)  # roles signed, as "<role> v<version>"
    warnings: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, key: str, size: int) -> None:
        with self._lock:
            self.uploaded_bytes += size
            self.uploaded.append(key)

    def skip(self, key: str) -> None:
        with self._lock:
            self.skipped.append(key)

    def merge(self, other: Stats) -> None:
        with self._lock:
            self.uploaded_bytes += other.uploaded_bytes
            self.uploaded += other.uploaded
            self.skipped += other.skipped


@dataclass(frozen=True)
class Blob:
    """A target file: its object key (under the bucket prefix), content address, and where its bytes are."""

    key: str
    sha256: str
    size: int
    path: Path | None = None  # a file of the build folder
    data: bytes | None = None  # small targets made here (channel pointers)


class Bucket:
    """The edge bucket (or a prefix of it), through one S3 client shared by every thread."""

    def __init__(self, root: ObjectUri, endpoint_url: str | None = None) -> None:
        self.root = root
        self.s3 = client(root.scheme, endpoint_url=endpoint_url)
        self._ahead: dict[str, Future[bytes | None]] = {}
        self._reader: ThreadPoolExecutor | None = None

    def key(self, rel: str) -> str:
        return f"{self.root.key}/{rel}" if self.root.key else rel

    def read_ahead(self, rels: Iterable[str]) -> None:
        """Start reading documents publish() reads first (pointers, manifests), so they arrive
        while the config loads. get() hands each early result out once; later reads (after a
        write, say) go to the bucket again."""
        if self._reader is None:
            self._reader = ThreadPoolExecutor(max_workers=4, thread_name_prefix="read-ahead")
        for rel in rels:
            self._ahead[rel] = self._reader.submit(self._get, rel)

    def get(self, rel: str) -> bytes | None:
        early = self._ahead.pop(rel, None)
        return early.result() if early is not None else self._get(rel)

    def _get(self, rel: str) -> bytes | None:
        try:
            return bytes(self.s3.get_object(Bucket=self.root.bucket, Key=self.key(rel))["Body"].read())
        except self.s3.exceptions.NoSuchKey:
            return None

    def size(self, rel: str) -> int | None:
        from botocore.exceptions import ClientError

        try:
            return int(self.s3.head_object(Bucket=self.root.bucket, Key=self.key(rel))["ContentLength"])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def put(self, rel: str, body: bytes, cache_control: str) -> None:
        self.s3.put_object(Bucket=self.root.bucket, Key=self.key(rel), Body=body,
                           ContentType="application/json", CacheControl=cache_control)

    def upload(self, blob: Blob, progress: Callable[[int], None]) -> bool:
        """Upload a target after checking its bytes hash to its address; False if they do not."""
        rel, sha256, path = blob.key, blob.sha256, blob.path
        content_type = "application/json" if blob.data is not None else "application/octet-stream"
        extra: dict[str, Any] = {"ContentType": content_type, "CacheControl": CACHE_IMMUTABLE,
                                 "Metadata": {"sha256": sha256}}
        if blob.data is not None or (path is not None and path.stat().st_size <= MULTIPART_THRESHOLD):
            # One read serves the hash check and the PUT. A bytes body is sent in one
            # socket call without the GIL, so the upload keeps its speed while the main
            # thread is busy loading the config (a file body goes out 8 KiB per GIL hold).
            data = blob.data if blob.data is not None else path.read_bytes()  # type: ignore[union-attr]
            digest = hashlib.sha256(data).digest()
            if digest.hex() != sha256:
                return False
            # The server checks what arrived against the content address itself: S3 with the
            # sha256 (instead of the CRC32 botocore would compute), GCS's XML API with Content-MD5.
            if self.root.scheme == "s3":
                extra["ChecksumSHA256"] = base64.b64encode(digest).decode()
            else:
                extra["ContentMD5"] = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
            self.s3.put_object(Bucket=self.root.bucket, Key=self.key(rel), Body=data, **extra)
            progress(len(data))
            return True
        from boto3.s3.transfer import TransferConfig

        assert path is not None
        if sha256_file(path) != sha256:
            return False
        config = TransferConfig(multipart_threshold=MULTIPART_THRESHOLD, multipart_chunksize=MULTIPART_CHUNK,
                                max_concurrency=8)
        transfer(self.s3, config).upload_file(str(path), self.root.bucket, self.key(rel), callback=progress,
                                              extra_args=extra)
        return True


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def changed_build(path: Path, sha256: str) -> UserError:
    return UserError.one(file=str(path), field="sha256", value=sha256,
                         message="the build folder changed after `edge build` (file missing or altered)",
                         fix="run `tfplat-model edge build` again for this version")


def local_payload(folder: Path, model: str, version: int) -> tuple[dict[str, Any], tuple[Blob, ...]]:
    """A build folder's manifest payload and variant files (hashes are checked before upload)."""
    payload = json.loads((folder / MANIFEST_FILE).read_text())
    blobs = []
    for variant, entry in sorted(payload["variants"].items()):
        path = folder / "variants" / f"{variant}.tflite"
        if not path.is_file() or path.stat().st_size != int(entry["size"]):
            raise changed_build(path, entry["sha256"])
        blobs.append(Blob(key=target_key(variant_path(model, version, variant), entry["sha256"]),
                          sha256=entry["sha256"], size=int(entry["size"]), path=path))
    return payload, tuple(blobs)


class _NoProgress:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int) -> Any:
    """A byte progress bar on a terminal. Elsewhere (CI) none, and tqdm is not even imported:
    its import costs about as much CPU as creating the S3 client, right before the first upload."""
    if not sys.stderr.isatty():
        return _NoProgress()
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, desc="blobs")


def upload_blobs(bucket: Bucket, blobs: Iterable[Blob], stats: Stats, workers: int,
                 after_blob: Callable[[str], None] | None = None) -> None:
    """Every target not yet in the bucket, in parallel; a local file is re-hashed before it goes up."""
    unique = {b.key: b for b in blobs}.values()
    bar = _progress(sum(b.size for b in unique))

    def one(blob: Blob) -> str:
        rel = blob.key
        if bucket.size(rel) == blob.size:
            stats.skip(rel)
            bar.update(blob.size)
            return rel
        if not bucket.upload(blob, bar.update):  # never bytes under another address
            raise changed_build(blob.path or Path(rel), blob.sha256)
        stats.add(rel, blob.size)
        return rel

    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        pending = {pool.submit(one, b) for b in unique}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                rel = fut.result()  # re-raises an upload error: no manifest goes up after it
                if after_blob is not None:
                    after_blob(rel)
    except BaseException:
        # Stop queued uploads at once; nothing after the blobs (manifests, pointers) runs.
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    else:
        pool.shutdown()
    finally:
        bar.close()


class BlobPrefetch:
    """Uploads the blobs of a model's build folder in the background while the stack config
    loads, so the network work overlaps the CPU work of start-up; also starts the first reads.

    Safe at any time: target files are inert until signed metadata names them, and metadata
    still goes up only after publish() has checked the config, the root and the keys. If
    publishing stops before that, the files stay unreferenced (harmless, and skipped by the
    next publish).
    """

    def __init__(self, bucket: Bucket, build_root: Path, model: str, workers: int = 8) -> None:
        self.stats = Stats()
        self._blobs: list[Blob] = []
        for manifest in sorted((build_root / model).glob(f"*/{MANIFEST_FILE}")):
            if not manifest.parent.name.isdigit():
                continue
            try:
                self._blobs += local_payload(manifest.parent, model, int(manifest.parent.name))[1]
            except (UserError, ValueError, KeyError, OSError):
                continue  # publish() reports it if the channels need this version
        bucket.read_ahead([metadata_key("timestamp")])  # publish() reads down from the timestamp
        self._cancel = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(bucket, workers), daemon=True)
        self._thread.start()

    def _run(self, bucket: Bucket, workers: int) -> None:
        def check(_: str) -> None:
            if self._cancel.is_set():
                raise InterruptedError("publish stopped")

        try:
            upload_blobs(bucket, self._blobs, self.stats, workers, check)
        except BaseException as exc:  # noqa: BLE001 (handed to the thread that waits)
            self._error = exc

    def cancel(self) -> None:
        self._cancel.set()
        self._thread.join()

    def wait(self) -> set[str]:
        """Keys of every target file now in the bucket; re-raises what stopped the uploads."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return {b.key for b in self._blobs}
