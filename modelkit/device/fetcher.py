"""HTTP for the device: one deadline for a whole update, bounded reads, and URL tokens kept secret.

python-tuf's own fetchers time out per read (a server trickling a byte every few seconds
keeps a download alive for ever). This one gives every update an overall budget: before
each read the socket timeout is set to what is left of it, so no read, and no sequence of
reads, runs past the deadline. Lengths are bounded by ngclient (it passes each file's
maximum length to download_file and stops one chunk after it).

A Cloud CDN signed URL prefix token is appended here, inside the fetcher, to URLs under its
prefix, and only over https: ngclient and every error message see URLs without it.
Redirects are not followed (one could lead a token to another host, or to http).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
import http.client
from pathlib import Path
import ssl
import tempfile
import time
from typing import IO, Any
import urllib.parse

from tuf.api import exceptions
from tuf.ngclient.fetcher import FetcherInterface

CHUNK = 1 << 16  # 64 KiB: peak memory of a download, whatever the file size
URL_TOKEN_FIELDS = ("URLPrefix", "Expires", "KeyName", "Signature")


@dataclass(frozen=True)
class UrlToken:
    """A Cloud CDN signed URL prefix: the query string to append to every URL under `prefix`."""

    prefix: str
    expires: int  # unix seconds
    key_name: str
    query: str


def parse_url_token(token: str) -> UrlToken:
    """Check a token's shape (the CDN checks its signature) and read its prefix and expiry."""
    query = token.strip().removeprefix("?")
    pairs = [p.partition("=") for p in query.split("&")]
    if [name for name, _, _ in pairs] != list(URL_TOKEN_FIELDS) or not all(v for _, _, v in pairs):
        raise ValueError(f"a URL token is {'=...&'.join(URL_TOKEN_FIELDS)}=... (got fields "
                         f"{', '.join(name for name, _, _ in pairs)})")
    values = {name: value for name, _, value in pairs}
    try:
        encoded = values["URLPrefix"]
        prefix = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
        expires = int(values["Expires"])
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"a URL token's URLPrefix is base64url and its Expires an integer ({exc})") from None
    return UrlToken(prefix=prefix, expires=expires, key_name=values["KeyName"], query=query)


class DeadlineFetcher(FetcherInterface):
    """ngclient's fetcher: standard library HTTP(S) with an overall deadline."""

    def __init__(self, *, ca_file: str | None = None, temp_dir: Path | None = None, connect_timeout_s: float = 15.0,
                 user_agent: str = "tfplat-edge-device") -> None:
        self.temp_dir = temp_dir
        self._context = ssl.create_default_context(cafile=ca_file)
        self._connect_timeout_s = connect_timeout_s
        self._user_agent = user_agent
        self._deadline = time.monotonic()
        self.url_token: UrlToken | None = None
        self.bytes_received = 0  # over this fetcher's life (devices report it; the bench measures it)
        self.requests = 0

    def start(self, budget_s: float) -> None:
        """Begin an update: every request after this must finish within budget_s seconds."""
        self._deadline = time.monotonic() + budget_s

    @contextmanager
    def download_file(self, url: str, max_length: int) -> Iterator[IO[bytes]]:
        """As FetcherInterface.download_file, with the temporary file in temp_dir: on a device /tmp is
        often RAM-backed, and a model must not land in memory. The file is anonymous (deleted on
        close, and by the kernel if the process dies), so an interrupted download leaves nothing."""
        if self.temp_dir is not None:
            self.temp_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=self.temp_dir) as temp_file:
            received = 0
            for chunk in self.fetch(url):
                received += len(chunk)
                if received > max_length:
                    raise exceptions.DownloadLengthMismatchError(
                        f"{url}: more than the {max_length} bytes allowed")
                temp_file.write(chunk)
            temp_file.seek(0)
            yield temp_file

    def _left(self, url: str) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise exceptions.SlowRetrievalError(f"{url}: the update's deadline passed")
        return left

    def _with_token(self, url: str, parts: urllib.parse.SplitResult) -> str:
        target = parts.path or "/"
        token = self.url_token
        if token is None or not url.startswith(token.prefix):
            return target
        if parts.scheme != "https":  # the prefix check in EdgeClient makes this unreachable; keep it so
            raise exceptions.DownloadError(f"{url}: refusing to send the URL token over {parts.scheme}")
        if time.time() >= token.expires:
            raise exceptions.DownloadError(f"the URL token expired at {token.expires} (unix time); "
                                           "get a new one from the provisioning service")
        return f"{target}?{token.query}"

    def _fetch(self, url: str) -> Iterator[bytes]:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
            raise exceptions.DownloadError(f"{url}: not an http(s) URL without query")
        target = self._with_token(url, parts)
        timeout = min(self._connect_timeout_s, self._left(url))
        conn: http.client.HTTPConnection
        if parts.scheme == "https":
            conn = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=timeout, context=self._context)
        else:
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        try:
            conn.request("GET", target, headers={"User-Agent": self._user_agent, "Accept-Encoding": "identity"})
            # The response keeps reading from this socket even after http.client lets go of it
            # (a "Connection: close" response detaches it from conn).
            sock = conn.sock
            self._set_timeout(sock, url)
            resp = conn.getresponse()
        except TimeoutError as exc:
            conn.close()
            raise exceptions.SlowRetrievalError(f"{url}: no answer before the deadline") from exc
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise exceptions.DownloadError(f"{url}: {exc.__class__.__name__}: {exc}") from None
        self.requests += 1
        if resp.status != 200:
            conn.close()
            # 403 and 404 both mean "not there" to ngclient (S3 answers 403 without list rights).
            raise exceptions.DownloadHTTPError(f"{url}: HTTP {resp.status}", resp.status)
        return self._chunks(conn, sock, resp, url)

    def _set_timeout(self, sock: Any, url: str) -> None:
        left = self._left(url)  # raises once the deadline has passed
        if sock is not None:
            sock.settimeout(left)

    def _chunks(self, conn: http.client.HTTPConnection, sock: Any, resp: http.client.HTTPResponse,
                url: str) -> Iterator[bytes]:
        try:
            while True:
                self._set_timeout(sock, url)
                chunk = resp.read1(CHUNK)  # returns after one receive: a trickle cannot stretch a read
                if not chunk:
                    return
                self.bytes_received += len(chunk)
                yield chunk
        except TimeoutError as exc:
            raise exceptions.SlowRetrievalError(f"{url}: not received before the update's deadline") from exc
        except (OSError, http.client.HTTPException) as exc:
            raise exceptions.DownloadError(f"{url}: {exc.__class__.__name__}: {exc}") from None
        finally:
            conn.close()
