"""Checks of tfplat:edge the JSON Schema cannot express: the TUF roles' keys and the channels.

Keys are checked for shape here (infra.plan.edge.public_key_kind); the publisher and the
root ceremony parse them for real. The one check across files: a prod stack shares no key
with a non-prod stack, so metadata signed for dev can never verify on a prod device.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

from infra.config.errors import ConfigIssue, did_you_mean, one_of
from infra.config.spec import EdgeKey, ModelSpec, StackSpec
from infra.config.yamlio import YamlDoc, read_yaml
from infra.config.yamlio import issue_at as _at
from infra.rules.kms import kms_provider, public_key_kind

EDGE: tuple[str | int, ...] = ("config", "tfplat:edge")
SIGNING = (*EDGE, "signing")
KEYGEN = "`tfplat-model edge keygen --role {role}` prints a key pair"
KMS_FORMS = ("AWS: the ARN of a key, or of its alias, with KeySpec ECC_NIST_P256 or ECC_NIST_P384 and KeyUsage "
             "SIGN_VERIFY (arn:aws:kms:<region>:<account>:key/<key id>); GCP: a key version with algorithm "
             "EC_SIGN_P256_SHA256, EC_SIGN_P384_SHA384 or EC_SIGN_ED25519 (projects/<project>/locations/<location>/"
             "keyRings/<ring>/cryptoKeys/<key>/cryptoKeyVersions/<n>)")


def _role_key(doc: YamlDoc, role: str, key: EdgeKey) -> list[ConfigIssue]:
    path = (*SIGNING, role)
    issues: list[ConfigIssue] = []
    if not key.public_key:
        issues.append(_at(doc, (*path, "public_key"), f"the {role} role needs a public key",
                          f"set signing.{role}.public_key ({KEYGEN.format(role=role)}; for a KMS key, its public key)"))
    elif public_key_kind(key.public_key) is None:
        issues.append(_at(doc, (*path, "public_key"), "not an Ed25519 or ECDSA P-256/P-384 public key",
                          "paste base64 of the DER SubjectPublicKeyInfo (the `public_key:` line of "
                          "`tfplat-model edge keygen`)", key.public_key))
    if key.kms_key:
        provider = kms_provider(key.kms_key)
        if provider is None:
            issues.append(_at(doc, (*path, "kms_key"), "neither an AWS KMS key ARN nor a Cloud KMS key version",
                              f"{KMS_FORMS}; or remove kms_key and set signing.{role}.private_key", key.kms_key))
        elif provider == "aws" and key.public_key and public_key_kind(key.public_key) == "ed25519":
            issues.append(_at(doc, (*path, "kms_key"),
                              "an Ed25519 key in AWS KMS signs at most 4096 bytes, and TUF metadata is longer",
                              "create an ECC_NIST_P256 key (aws kms create-key --key-spec ECC_NIST_P256 "
                              "--key-usage SIGN_VERIFY); securesystemslib's AWS signer signs its digests",
                              key.kms_key))
        if key.private_key:
            issues.append(_at(doc, (*path, "private_key"),
                              f"signing.{role}.private_key and signing.{role}.kms_key are both set (the KMS key signs)",
                              "remove the private key: pulumi config rm --path "
                              f"'tfplat:edge.signing.{role}.private_key'"))
    elif not key.private_key:
        issues.append(_at(doc, path, f"no key material for the {role} role",
                          f"set signing.{role}.private_key as a Pulumi secret ({KEYGEN.format(role=role)}), "
                          f"or signing.{role}.kms_key"))
    return issues


def _signing(doc: YamlDoc, stack: StackSpec) -> list[ConfigIssue]:
    edge = stack.edge
    issues: list[ConfigIssue] = []
    root = (*SIGNING, "root")
    if not edge.root.keys:
        issues.append(_at(doc, (*root, "keys"), "edge publishing needs offline root keys",
                          "each root key holder runs `tfplat-model edge keygen --role root` on an offline machine; "
                          "add every public key under signing.root.keys (docs/runbooks/edge-root-ceremony.md)"))
    elif edge.root.threshold > len(edge.root.keys):
        issues.append(_at(doc, (*root, "threshold"),
                          f"needs {edge.root.threshold} signatures but there are {len(edge.root.keys)} root keys",
                          "lower the threshold or add root keys", edge.root.threshold))
    for name, public in edge.root.keys.items():
        if public_key_kind(public) is None:
            issues.append(_at(doc, (*root, "keys", name), "not an Ed25519 or ECDSA P-256/P-384 public key",
                              "paste base64 of the DER SubjectPublicKeyInfo (`tfplat-model edge keygen --role root`)",
                              public))
    issues += _role_key(doc, "targets", edge.targets) + _role_key(doc, "online", edge.online)
    # A key in two roles would make one leak two compromises (and the rotations one step).
    seen: dict[str, str] = {}
    for where, public in _keys(stack):
        if public in seen:
            issues.append(_at(doc, _path(where), f"the same key is already {seen[public]}",
                              "give each role its own key: the roles are rotated separately after a leak"))
        seen.setdefault(public, where)
    legacy = edge.legacy
    if legacy is not None:
        if legacy.key_id not in legacy.public_keys:
            issues.append(_at(doc, (*SIGNING, "legacy", "key_id"), "the legacy key id is not among legacy.public_keys",
                              "use the key id devices pin today", legacy.key_id))
        if legacy.private_key and legacy.kms_key:
            issues.append(_at(doc, (*SIGNING, "legacy", "private_key"),
                              "legacy.private_key and legacy.kms_key are both set",
                              "keep the one that signs today's documents"))
        if legacy.kms_key and kms_provider(legacy.kms_key) is None:
            issues.append(_at(doc, (*SIGNING, "legacy", "kms_key"),
                              "neither an AWS KMS key ARN nor a Cloud KMS key version",
                              "name the Ed25519 key that signs today's documents", legacy.kms_key))
    return issues


def _keys(stack: StackSpec) -> Iterator[tuple[str, str]]:
    """(where, public key) of every TUF key of a stack, `where` as a dotted path under signing."""
    e = stack.edge
    for name, public in sorted(e.root.keys.items()):
        yield f"root.keys.{name}", public
    for role, key in (("targets", e.targets), ("online", e.online)):
        if key.public_key:
            yield f"{role}.public_key", key.public_key


def _path(where: str) -> tuple[str | int, ...]:
    return (*SIGNING, *where.split("."))


def check_edge(doc: YamlDoc, stack: StackSpec, models: Mapping[str, ModelSpec],
               broken: set[str]) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    edge = stack.edge
    if edge.channels and not edge.enabled:
        issues.append(_at(doc, (*EDGE, "enabled"), "edge channels are set but edge is disabled",
                          "set enabled: true, or remove channels", edge.enabled))
    if edge.enabled:
        issues += _signing(doc, stack)
        if stack.cloud == "gcp" and edge.cdn_enabled and not edge.cdn_hostname:
            issues.append(_at(doc, (*EDGE, "cdn", "hostname"), "Cloud CDN needs the DNS name devices use",
                              "set cdn.hostname (a Google-managed certificate is issued for it), "
                              "or cdn.enabled: false to serve from the bucket only"))
    for name, ch in edge.channels.items():
        base = (*EDGE, "channels", name)
        if name in broken:
            continue  # its own file's errors are already reported
        model = models.get(name)
        if model is None:
            issues.append(_at(doc, base, f"no model file models/{name}.yaml",
                              f"use one of: {one_of(sorted(models))}{did_you_mean(name, list(models))}"))
            continue
        if not model.edge.variants:
            issues.append(_at(doc, base, f"{model.file} asks for no edge variants",
                              f"add edge.variants to {model.file}, or remove this channel"))
        if ch.canary is not None and ch.canary == ch.stable:
            issues.append(_at(doc, (*base, "canary"), f"canary and stable both serve version {ch.stable}",
                              "set canary to the version under test, or null", ch.canary))
        if ch.canary_percent and ch.canary is None:
            issues.append(_at(doc, (*base, "canary_percent"), "a canary share needs a canary version",
                              "set canary: <version>, or canary_percent: 0", ch.canary_percent))
    return issues


def _other_stack_keys(path: Path) -> tuple[str, dict[str, str]]:
    """(tfplat:environment, {public key: where}) of another stack file, read as every stack file is
    (bounded, cached); a file that does not parse gives nothing (its own load reports it)."""
    doc, _ = read_yaml(path, path.name)
    config = doc.data.get("config") if doc is not None else None
    if not isinstance(config, dict):
        return "", {}
    edge = config.get("tfplat:edge")
    signing = edge.get("signing") if isinstance(edge, dict) else None
    if not isinstance(signing, dict):
        return str(config.get("tfplat:environment")), {}
    root = signing.get("root")
    keys = root.get("keys") if isinstance(root, dict) else None
    found = {str(v): f"root.keys.{k}" for k, v in keys.items()} if isinstance(keys, dict) else {}
    for role in ("targets", "online"):
        entry = signing.get(role)
        public = entry.get("public_key") if isinstance(entry, dict) else None
        if isinstance(public, str):
            found[public] = f"{role}.public_key"
    return str(config.get("tfplat:environment")), found


def check_edge_key_separation(doc: YamlDoc, stack: StackSpec, stacks_dir: Path) -> list[ConfigIssue]:
    """A prod stack and a non-prod stack never share a TUF key: a prod device pointed at a dev
    repository must fail on signatures, not only on the environment named in the metadata."""
    if not stack.edge.enabled:
        return []
    prod = stack.environment == "prod"
    issues: list[ConfigIssue] = []
    for path in sorted(stacks_dir.glob("Pulumi.*.yaml")):
        other = path.name[len("Pulumi."):-len(".yaml")]
        if other == stack.name:
            continue
        environment, keys = _other_stack_keys(path)
        if (environment == "prod") == prod:
            continue
        for where, public in _keys(stack):
            if public in keys:
                issues.append(_at(doc, _path(where),
                                  f"the same key is {keys[public]} of {environment} stack {other} ({path.name})",
                                  "prod and non-prod stacks need different keys: generate a new one for this "
                                  "stack (`tfplat-model edge keygen`), then run the root ceremony again"))
    return issues
