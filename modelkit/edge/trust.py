"""Root metadata: drafted from the stack, signed offline in a ceremony, committed to the repository.

edge/roots/<stack>/<n>.root.json holds every root version of a stack's repository. A root
names the keys of every top-level role (root keys with a threshold, the targets key, and
the online key for snapshot and timestamp) and the environment (x-tfplat), so a prod
device refuses metadata of any other environment. Version 1 is what devices ship with;
each later version must be signed by a threshold of the previous version's root keys and
of its own (a rotation), which is how leaked online or targets keys are replaced without
touching devices (docs/runbooks/rotate-edge-signing-key.md).

The ceremony (docs/runbooks/edge-root-ceremony.md): `edge root draft` writes the next
version from the stack config, each root key holder runs `edge root sign` with their
offline key, and the signed file is committed. `edge publish` uploads committed roots and
refuses to sign anything while the newest complete root disagrees with the stack config.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from tuf.api.metadata import Metadata, Role, Root
from tuf.api.serialization.json import JSONSerializer

from modelkit.device.layout import TFPLAT_FIELD
from modelkit.edge.keys import NAME_FIELD, public_key, sign_metadata
from modelkit.errors import UserError

if TYPE_CHECKING:
    from securesystemslib.signer import Key, Signer

    from infra.config.spec import EdgeSpec

ROOTS = Path("edge") / "roots"
RENEW_DAYS = 60  # `edge root draft` renews a root that expires within this many days


def roots_dir(project_root: Path, stack: str) -> Path:
    return project_root / ROOTS / stack


@dataclass(frozen=True)
class RootFile:
    path: Path
    raw: bytes
    md: Metadata[Root]

    @property
    def version(self) -> int:
        return self.md.signed.version


@dataclass(frozen=True)
class RootStatus:
    version: int
    complete: bool
    signed: tuple[str, ...]  # names of the root keys that signed
    unsigned: tuple[str, ...]
    needs: str  # "" when complete, else who still has to sign
    expires: datetime


def key_name(key: Key) -> str:
    name = key.unrecognized_fields.get(NAME_FIELD)
    return name if isinstance(name, str) else key.keyid[:12]


def load_roots(folder: Path) -> list[RootFile]:
    """Every <n>.root.json of a stack, in version order, each parsed (not yet verified)."""
    files = []
    for path in sorted(folder.glob("*.root.json"), key=lambda p: int(p.name.split(".")[0])
                       if p.name.split(".")[0].isdigit() else 0):
        raw = path.read_bytes()
        try:
            md = Metadata[Root].from_bytes(raw)
        except Exception as exc:  # DeserializationError wraps anything malformed
            raise UserError.one(file=str(path), field="", message=f"not root metadata ({exc})",
                                fix="restore the file from git (only `edge root draft/sign` write roots)") from exc
        if path.name != f"{md.signed.version}.root.json" or md.signed.type != Root.type:
            raise UserError.one(file=str(path), field="signed.version", value=md.signed.version,
                                message="the file name does not match the root's version",
                                fix="restore the file from git")
        files.append(RootFile(path=path, raw=raw, md=md))
    for expected, f in enumerate(files, start=1):
        if f.version != expected:
            raise UserError.one(file=str(f.path), field="", message=f"root versions have a gap (no v{expected})",
                                fix="restore the missing version from git: devices walk every version in order")
    return files


def status(files: list[RootFile]) -> list[RootStatus]:
    out = []
    previous: Root | None = None
    for f in files:
        result = f.md.signed.get_root_verification_result(previous, f.md.signed_bytes, f.md.signatures)
        needs = []
        for label, part in (("previous", result.first), ("this", result.second)):
            if not part.verified and (label == "this" or previous is not None):
                names = ", ".join(sorted(key_name(k) for k in part.unsigned.values()))
                needs.append(f"{part.missing} more of {names} ({label} root's keys)")
        out.append(RootStatus(version=f.version, complete=result.verified,
                              signed=tuple(sorted({key_name(k) for k in result.signed.values()})),
                              unsigned=tuple(sorted({key_name(k) for k in result.unsigned.values()})),
                              needs="; ".join(needs), expires=f.md.signed.expires))
        previous = f.md.signed
    return out


def trusted_roots(folder: Path, stack: str) -> list[RootFile]:
    """The complete root versions, oldest first (a last version still being signed is left out)."""
    files = load_roots(folder)
    states = status(files)
    for f, st in zip(files, states, strict=True):
        if not st.complete and f is not files[-1]:
            raise UserError.one(file=str(f.path), field="signatures", message=f"root v{f.version} is not signed "
                                f"enough ({st.needs}), and a later version follows it",
                                fix="finish signing it (`tfplat-model edge root sign`), or restore it from git")
    complete = [f for f, st in zip(files, states, strict=True) if st.complete]
    if not complete:
        raise UserError.one(file=str(folder), field="", message=f"no signed root for stack {stack}",
                            fix="run the root ceremony: docs/runbooks/edge-root-ceremony.md")
    return complete


def desired_root(edge: EdgeSpec, *, stack: str, environment: str, previous: Root | None, now: datetime,
                 stack_file: str) -> Root:
    """The root the stack config asks for, as the version after `previous`."""
    def named(b64: str | None, name: str, field: str) -> Key:
        key = public_key(b64 or "", where=stack_file, field=f"config.tfplat:edge.signing.{field}")
        key.unrecognized_fields[NAME_FIELD] = name
        return key

    root_keys = [named(b64, name, f"root.keys.{name}") for name, b64 in sorted(edge.root.keys.items())]
    targets = named(edge.targets.public_key, "targets", "targets.public_key")
    online = named(edge.online.public_key, "online", "online.public_key")
    keys = {k.keyid: k for k in [*root_keys, targets, online]}
    roles = {"root": Role([k.keyid for k in root_keys], edge.root.threshold),
             "targets": Role([targets.keyid], 1),
             "snapshot": Role([online.keyid], 1), "timestamp": Role([online.keyid], 1)}
    return Root(version=previous.version + 1 if previous else 1, expires=now + timedelta(days=edge.root.expiry_days),
                keys=keys, roles=roles, consistent_snapshot=True,
                unrecognized_fields={TFPLAT_FIELD: {"environment": environment, "stack": stack}})


def same_trust(a: Root, b: Root) -> bool:
    """Same keys, roles and environment (version and expiry aside)."""
    return (a.keys == b.keys and a.roles == b.roles and a.consistent_snapshot == b.consistent_snapshot
            and a.unrecognized_fields == b.unrecognized_fields)


def write(path: Path, md: Metadata[Root]) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = md.to_bytes(JSONSerializer(compact=False)) + b"\n"  # reviewed in pull requests: keep it readable
    path.write_bytes(data)
    return data


def draft(folder: Path, desired: Root, *, now: datetime, force: bool = False) -> Path | None:
    """Write the next root version for signing; None when the newest root already says the same."""
    files = load_roots(folder)
    states = status(files)
    last = files[-1] if files else None
    if last is not None and not states[-1].complete:  # a draft in progress: keep it if still right
        previous = files[-2].md.signed if len(files) > 1 else None
        if same_trust(last.md.signed, desired) and not force:
            return last.path
        desired.version = previous.version + 1 if previous else 1
        write(last.path, Metadata(desired))
        return last.path
    if (last is not None and same_trust(last.md.signed, desired) and not force
            and last.md.signed.expires - now > timedelta(days=RENEW_DAYS)):
        return None
    path = folder / f"{desired.version}.root.json"
    write(path, Metadata(desired))
    return path


def sign(path: Path, signer: Signer) -> RootStatus:
    """Add one root key holder's signature to a root version (the key must be a root key of it or
    of the version before)."""
    files = load_roots(path.parent)
    index = next((i for i, f in enumerate(files) if f.path == path), None)
    if index is None:
        raise UserError.one(file=str(path), field="", message="no such root version", fix="run `edge root draft`")
    md = files[index].md
    previous = files[index - 1].md.signed if index else None
    allowed = set(md.signed.roles["root"].keyids) | (set(previous.roles["root"].keyids) if previous else set())
    if signer.public_key.keyid not in allowed:
        raise UserError.one(file=str(path), field="signed.roles.root.keyids", value=signer.public_key.keyid,
                            message="the key given is not a root key of this version or the one before",
                            fix="sign with your offline root key (its public key is under signing.root.keys)")
    sign_metadata(md, signer, append=True)
    write(path, md)
    return status(load_roots(path.parent))[index]


def check_config(latest: Root, desired: Root, stack_file: str, folder: Path) -> None:
    """Refuse to publish while the newest signed root and the stack config disagree."""
    if same_trust(latest, desired):
        return
    raise UserError.one(
        file=stack_file, field="config.tfplat:edge.signing", value=f"root v{latest.version}",
        message=f"the keys or environment in the stack differ from the newest signed root ({folder}/"
                f"{latest.version}.root.json)",
        fix="run the root ceremony for the new keys (`tfplat-model edge root draft`, then sign; "
            "docs/runbooks/edge-root-ceremony.md), or undo the stack change")


def now_utc() -> datetime:
    return datetime.now(UTC)
