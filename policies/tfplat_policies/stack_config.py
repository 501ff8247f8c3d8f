"""No plaintext secrets in the stack file (offline only).

CrossGuard cannot run this: the engine hands a policy pack the stack's config decrypted
(PULUMI_CONFIG) without saying which keys were `secure:`, and Python validations never see
config at all. So the offline plan checks the file itself, with the schema's x-secret
markers (infra.config.schema.marked_paths) and the `secure:` paths the YAML reader records.
infra is imported inside check_stack_file only: the CrossGuard pack ships without it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from pathlib import Path

from .enforcement import CONFIG_DIR, load_tier
from .model import Finding, Policy, Violation

ConfigPath = tuple[str | int, ...]

POLICY = Policy(
    id="config-secrets-encrypted", severity="critical", crossguard=False,
    description="Every stack config value the schema marks x-secret is stored encrypted (`secure:`).",
    remediation="Remove the value from the stack file and set it with `pulumi config set --secret --path`.")


def _dotted(path: ConfigPath) -> str:
    head, *rest = path
    return str(head) + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in rest)


def findings(marked: Iterable[ConfigPath], secret_paths: Collection[ConfigPath], stack: str) -> list[Finding]:
    # The loader's own rule (offline only: this check reads the stack file with infra).
    from infra.config.checks import plaintext_secrets

    out = []
    for path in plaintext_secrets(marked, secret_paths):
        key = _dotted(path[1:])
        out.append(Finding(f"{key} is a secret stored in plain text in the stack file",
                           f"delete it from stacks/Pulumi.{stack}.yaml and run: "
                           f"pulumi config set --secret --path '{key}' -s {stack}"))
    return out


def check_stack_file(root: Path, stack: str, *, environment: str | None = None,
                     config_dir: Path = CONFIG_DIR) -> list[Violation]:
    """Violations of config-secrets-encrypted in stacks/Pulumi.<stack>.yaml, at the stack's tier
    (tfplat:environment unless `environment` is given). An unreadable file gives none: the
    config loader reports it."""
    from infra.config.checks import plaintext_secrets
    from infra.config.loader import stack_file
    from infra.config.schema import marked_paths
    from infra.config.yamlio import read_yaml

    path = stack_file(root, stack)
    display = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
    doc, _ = read_yaml(path, display)
    if doc is None or not isinstance(doc.data, dict) or not isinstance(doc.data.get("config"), dict):
        return []
    tier = load_tier(environment or str(doc.data["config"].get("tfplat:environment")), config_dir)
    level = tier.offline_level(POLICY.id)
    if level is None:
        return []
    marked = marked_paths("stack", doc.data, "x-secret")
    out = []
    for path_, finding in zip(plaintext_secrets(marked, doc.secret_paths),
                              findings(marked, doc.secret_paths, stack), strict=True):
        out.append(Violation(policy=POLICY.id, enforcement=level, urn=f"{display}:{doc.line_of(path_) or 0}",
                             name=_dotted(path_[1:]), type="pulumi:config", message=finding.message,
                             fix=finding.fix))
    return out
