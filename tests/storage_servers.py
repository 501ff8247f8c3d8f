"""Local object storage servers for tests, reached the way tfplat's users reach the real
ones: moto's S3 server (over HTTP, AWS_ENDPOINT_URL) and a GCS emulator (the JSON API that
google-cloud-storage speaks, STORAGE_EMULATOR_HOST)."""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import socket
import urllib.request

from moto.server import ThreadedMotoServer


@contextlib.contextmanager
def s3_server() -> Iterator[str]:
    """moto's S3 server on a free local port, emptied first (moto keeps buckets per process)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10)
    try:
        yield endpoint
    finally:
        server.stop()


@contextlib.contextmanager
def gcs_server() -> Iterator[str]:
    """gcp-storage-emulator (in memory) on a free local port; yields its base URL."""
    from gcp_storage_emulator.server import create_server

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = create_server("127.0.0.1", port, in_memory=True)
    server.start()
    server.wipe()  # the in-memory store is shared by every server of the process
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def gcs_put(endpoint: str, bucket: str, key: str, body: bytes = b"pb") -> None:
    """Create `bucket` if needed and write one object into the emulator."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    client = storage.Client(project="test", credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
                            client_options={"api_endpoint": endpoint})
    b = client.bucket(bucket)
    if not b.exists():
        b = client.create_bucket(bucket)
    b.blob(key).upload_from_string(body)
