"""Secret values stay Pulumi secrets: Kubernetes Secret data, Helm values, kubeconfigs.

A value wrapped as a Pulumi secret is encrypted in the state file and masked in previews
and logs; a plain one is not. Checks see a wrapped value as `SECRET` (or `UNKNOWN` while a
preview cannot know it). The rule: every value of a Kubernetes Secret, every
credential-named Helm value and a provider's kubeconfig are wrapped, or absent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
import re
from typing import Any

from .model import SECRET, Finding, PropertyPath, Props, ResourcePolicy, Settings, is_unknown

K8S_SECRET = "kubernetes:core/v1:Secret"
HELM_TYPES = ("kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v4:Chart")
K8S_PROVIDER = "pulumi:providers:kubernetes"
# Key names (lower case, separators dropped) that hold a credential; names of Secrets,
# files and keys inside Secrets (existingSecret, passwordKey, tokenFile) do not match.
CREDENTIAL_KEY = re.compile(r"(password|passwd|token|apikey|secretkey|secretaccesskey|privatekey|clientsecret|"
                            r"credentials|webhookurl|routingkey|servicekey|authkey)$")

Path = PropertyPath


def _wrapped(value: Any) -> bool:
    return value == SECRET or is_unknown(value)


def _credential(key: str) -> bool:
    return bool(CREDENTIAL_KEY.search(re.sub(r"[^a-z0-9]", "", key.lower())))


def _helm_paths(value: Any, path: Path) -> list[Path]:
    found: list[Path] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(item, str) and item and not _wrapped(item) and _credential(str(key)):
                found.append((*path, str(key)))
            else:
                found += _helm_paths(item, (*path, str(key)))
    elif isinstance(value, Sequence) and not isinstance(value, str):
        for index, item in enumerate(value):
            found += _helm_paths(item, (*path, index))
    return found


def plaintext_paths(resource_type: str, props: Props) -> list[Path]:
    """Property paths holding a value that must be a secret but is plain text."""
    if resource_type == K8S_SECRET:
        found: list[Path] = []
        for field in ("data", "stringData"):
            entries = props.get(field)
            if isinstance(entries, Mapping):
                found += [(field, str(k)) for k, v in entries.items() if v not in (None, "") and not _wrapped(v)]
        return found
    if resource_type in HELM_TYPES:
        return _helm_paths(props.get("values"), ("values",))
    if resource_type == K8S_PROVIDER:
        config = props.get("kubeconfig")
        return [("kubeconfig",)] if isinstance(config, str) and config and not _wrapped(config) else []
    return []


def _dotted(path: Path) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else p) for i, p in enumerate(path))


_FIX = {
    K8S_SECRET: "build the value from a Pulumi secret (pulumi.Output.secret, a RandomPassword result or a key set "
                "with `pulumi config set --secret --path` under tfplat:monitoring)",
    K8S_PROVIDER: "pass the kubeconfig through pulumi.Output.secret (infra/program.py)",
}
_HELM_FIX = ("never put credentials in Helm values: store them in a Kubernetes Secret and reference it "
             "(existingSecret / *Key values), or wrap them with pulumi.Output.secret")


def check_secret_values(resource_type: str, props: Props, settings: Settings) -> list[Finding]:
    return [Finding(f"{_dotted(path)} is plain text, so it lands unencrypted in the state file and in previews",
                    _FIX.get(resource_type, _HELM_FIX))
            for path in plaintext_paths(resource_type, props)]


def rewrap(value: Any, paths: Sequence[Path], wrap: Callable[[Any], Any]) -> Any:
    """A copy of `value` with the leaves at `paths` passed through `wrap` (a remediation's fix)."""
    if not paths:
        return value
    if () in paths:
        return wrap(value)
    heads: dict[str | int, list[Path]] = {}
    for path in paths:
        heads.setdefault(path[0], []).append(path[1:])
    if isinstance(value, Mapping):
        return {k: rewrap(v, heads.get(k, []), wrap) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [rewrap(v, heads.get(i, []), wrap) for i, v in enumerate(value)]
    return value


POLICIES = (
    ResourcePolicy(
        id="secret-values-wrapped", severity="critical", check=check_secret_values, wrap_in_crossguard=plaintext_paths,
        description="Kubernetes Secret values, credential-named Helm values and kubeconfigs are Pulumi secrets "
                    "(or absent), never plain text.",
        remediation="Wrap the value with pulumi.Output.secret or take it from secret config; reference Kubernetes "
                    "Secrets from Helm values instead of inlining credentials."),
)
