"""A test stack's edge repository, end to end with the real code: its stack file, its root
ceremony (edge/roots/<stack>/), publishing to a moto bucket over HTTP, and devices.

Each TestStack has its own keys (a real Ed25519 key per role, generated here), so tests that
rotate or leak keys never disturb the others.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from conftest import REPO, S3, Env
from securesystemslib.signer import Signer

from modelkit.config import load_stack
from modelkit.device.client import EdgeClient
from modelkit.edge import keys as edge_keys
from modelkit.edge import publish as pub
from modelkit.edge import trust
from modelkit.edge.keys import KeyPair
from modelkit.storage import parse_uri

BASES = {"staging": "Pulumi.staging.yaml", "prod": "Pulumi.prod.yaml"}


def ed25519_raw() -> tuple[str, str]:
    """(PEM, base64 raw public key): a legacy (pre-TUF) signing key as devices pin it."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from modelkit.edge.legacy import raw_b64

    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return pem, raw_b64(key.public_key())


@dataclass
class Keys:
    root: list[KeyPair]
    targets: KeyPair
    online: KeyPair
    legacy: tuple[str, str] = field(default_factory=ed25519_raw)

    @classmethod
    def new(cls, roots: int = 1) -> Keys:
        return cls(root=[edge_keys.generate() for _ in range(roots)], targets=edge_keys.generate(),
                   online=edge_keys.generate())


def signer(pair: KeyPair) -> Signer:
    return edge_keys.load_signer(pair.private_pem.encode(), "(test key)")


@dataclass
class TestStack:
    __test__ = False  # not a test class, whatever its name

    env: Env
    name: str
    environment: str = "staging"
    keys: Keys = field(default_factory=Keys.new)
    threshold: int = 1
    online_kms: tuple[str, str] | None = None  # (kms_key, public key) instead of the online key secret
    timestamp_hours: int = 24

    @property
    def file(self) -> Path:
        return self.env.root / "stacks" / f"Pulumi.{self.name}.yaml"

    @property
    def roots(self) -> Path:
        return trust.roots_dir(self.env.root, self.name)

    def write(self, *, stable: int = 1, canary: int | None = None, percent: int = 0) -> TestStack:
        """The stack file: staging's (or prod's) config with this stack's tfplat:edge section."""
        k = self.keys
        roots = "".join(f"          holder-{i}: {p.public_b64}\n" for i, p in enumerate(k.root, start=1))
        secret = "\n        private_key:\n          secure: v1:c2VjcmV0\n"
        online = (f"        public_key: {self.online_kms[1]}\n        kms_key: {self.online_kms[0]}\n"
                  if self.online_kms else f"        public_key: {k.online.public_b64}{secret}")
        base = (REPO / "stacks" / BASES[self.environment]).read_text().split("  tfplat:edge:")[0]
        self.file.write_text(base + (
            "  tfplat:edge:\n"
            "    enabled: true\n"
            "    cdn: {enabled: false}   # the tests publish straight to a moto bucket\n"
            "    signing:\n"
            f"      root:\n        threshold: {self.threshold}\n        keys:\n{roots}"
            f"      targets:\n        public_key: {k.targets.public_b64}{secret}"
            f"      online:\n{online}        timestamp_expiry_hours: {self.timestamp_hours}\n"
            "      legacy:\n        key_id: legacy-1\n"
            f"        public_keys: {{legacy-1: \"{k.legacy[1]}\"}}\n"
            "        private_key:\n          secure: v1:c2VjcmV0\n"
            "    channels:\n"
            f"      tiny: {{stable: {stable}, canary: {'null' if canary is None else canary}, "
            f"canary_percent: {percent}}}\n"))
        return self

    def ceremony(self, signers: int | None = None, now: datetime | None = None) -> Path | None:
        """Draft the next root from the stack file and have `signers` root keys sign it (default: the
        threshold; for a rotation the keys of both versions, which are the same here unless changed)."""
        spec = load_stack(self.name, self.env.root)
        files = trust.load_roots(self.roots)
        complete = [f for f, st in zip(files, trust.status(files), strict=True) if st.complete]
        at = now or datetime.now(UTC)
        desired = trust.desired_root(spec.edge, stack=self.name, environment=spec.environment,
                                     previous=complete[-1].md.signed if complete else None, now=at,
                                     stack_file=spec.file)
        path = trust.draft(self.roots, desired, now=at)
        if path is not None:
            for pair in self.keys.root[: signers if signers is not None else self.threshold]:
                trust.sign(path, signer(pair))
        return path

    def root_bytes(self, version: int = 1) -> bytes:
        return (self.roots / f"{version}.root.json").read_bytes()

    def context(self, bucket: str, *, now: datetime | None = None, workers: int = 8,
                signers: Mapping[str, Signer | None] | None = None, scheme: str = "s3",
                keep_published: bool = False) -> pub.Context:
        spec = load_stack(self.name, self.env.root)
        return pub.context(
            bucket=pub.Bucket(parse_uri(f"{scheme}://{bucket}/edge")), stack=self.name,
            environment=spec.environment, stack_file=spec.file, edge=spec.edge, project_root=self.env.root,
            signers=signers if signers is not None else {"targets": signer(self.keys.targets),
                                                         "online": signer(self.keys.online)},
            now=now or datetime.now(UTC), workers=workers, keep_published=keep_published)

    def publish(self, bucket: str, *, now: datetime | None = None, build: Path | None = None,
                **kw: Any) -> pub.Stats:
        at = now or datetime.now(UTC)
        ctx = self.context(bucket, now=at, workers=kw.pop("workers", 8), signers=kw.pop("signers", None),
                           scheme=kw.pop("scheme", "s3"))
        return pub.publish(publisher=pub.Publisher(ctx, "tiny"), build_root=build or self.env.build, now=at, **kw)

    def device(self, s3: S3, bucket: str, store: Path, *, device_id: str = "device-1",
               preference: tuple[str, ...] = ("int8", "float32"), root_version: int = 1, **kw: Any) -> EdgeClient:
        return EdgeClient(base_url=f"{s3.endpoint}/{bucket}/edge", model="tiny", device_id=device_id, store=store,
                          trusted_root=self.root_bytes(root_version), preference=preference, **kw)
