"""A real HTTP(S) server in front of a moto bucket that an attacker (or a bad network) controls.

Devices talk to it as to a CDN: GET <url>/edge/<key> is served from the bucket's edge/<key>,
unless a rule for that key says otherwise: another status, other bytes, endless bytes, or a
trickle. It logs every request (path, status) and never sees a URL token's signature in a
message it logs (the query is dropped).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import ipaddress
from pathlib import Path
import ssl
import threading
import time
import urllib.error
import urllib.request

Rule = Callable[[str], "Answer | None"]  # key under edge/ -> what to answer (None: serve the bucket)
Gate = Callable[[str, str], "Answer | None"]  # (path, query) -> a refusal, or None to go on (a CDN's checks)


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: bytes | None = None
    endless: bool = False  # stream bytes until the client hangs up
    trickle_s: float = 0.0  # one byte every trickle_s seconds (with body, or endless)


@dataclass
class Proxy:
    origin: str  # http://moto/<bucket>
    rules: list[Rule] = field(default_factory=list)
    gate: Gate | None = None
    log: list[tuple[str, int]] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)  # what arrived after "?" (URL tokens)
    server: ThreadingHTTPServer | None = None
    url: str = ""

    def answer(self, key: str) -> Answer | None:
        for rule in self.rules:
            found = rule(key)
            if found is not None:
                return found
        return None

    def start(self, cert: tuple[Path, Path] | None = None) -> Proxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path, _, query = self.path.partition("?")
                proxy.queries.append(query)
                key = path.removeprefix("/edge/")
                answer = proxy.gate(path, query) if proxy.gate is not None else None
                answer = answer or proxy.answer(key)
                try:
                    if answer is None:
                        try:
                            with urllib.request.urlopen(f"{proxy.origin}/edge/{key}", timeout=30) as resp:
                                answer = Answer(body=resp.read())
                        except urllib.error.HTTPError as exc:
                            answer = Answer(status=exc.code, body=b"")
                    self.send(answer, path)
                except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                    pass  # the client gave up: what the endless and trickle rules wait for

            def send(self, answer: Answer, path: str) -> None:
                proxy.log.append((path, answer.status))
                self.send_response(answer.status)
                if answer.endless:
                    self.send_header("Connection", "close")
                    self.end_headers()
                    while True:
                        self.wfile.write(b"[" if answer.trickle_s else b"[" * 65536)
                        self.wfile.flush()
                        if answer.trickle_s:
                            time.sleep(answer.trickle_s)
                body = answer.body or b""
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if answer.trickle_s:
                    for i in range(len(body)):
                        self.wfile.write(body[i:i + 1])
                        self.wfile.flush()
                        time.sleep(answer.trickle_s)
                else:
                    self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        scheme = "http"
        if cert is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(cert[0]), str(cert[1]))
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients hanging up on endless or slow answers is the point of those rules


def self_signed(folder: Path) -> tuple[Path, Path]:
    """(certificate, key) of a certificate for 127.0.0.1 that is its own CA (devices get it as ca_file)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "edge.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path
