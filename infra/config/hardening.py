"""Checks of a stack's security choices that the JSON Schema cannot express.

Production must say how its API server is reached (a public endpoint only with a written
waiver), serve its gateway over HTTPS, and run images by digest unless a tag-only image is
waived with a reason; every waiver must still apply to something, so none outlives its cause.
"""

from __future__ import annotations

from collections.abc import Iterable

from infra.config.errors import ConfigIssue
from infra.config.spec import StackSpec
from infra.config.yamlio import YamlDoc
from infra.config.yamlio import issue_at as _at
from infra.rules.admission import pinned_by_digest
from infra.rules.images import fleet_images

ENDPOINT = ("config", "tfplat:cluster", "endpoint")
ACCESS_DOC = "docs/runbooks/cluster-access.md"


def _endpoint(doc: YamlDoc, stack: StackSpec) -> list[ConfigIssue]:
    e = stack.cluster.endpoint
    prod = stack.environment == "prod"
    out: list[ConfigIssue] = []
    raw = doc.data["config"].get("tfplat:cluster", {}).get("endpoint", {}) or {}
    if raw.get("access") is not None and e.legacy_public is not None \
            and e.legacy_public != (e.access == "public"):
        out.append(_at(doc, (*ENDPOINT, "public"), f"contradicts endpoint.access: {e.access}",
                       "remove endpoint.public (deprecated); endpoint.access alone says how the API is reached",
                       e.legacy_public))
    if e.access is None:
        options = "private or dns" if stack.cloud == "gcp" else "private"
        out.append(_at(doc, ENDPOINT, "a production stack must choose how its API server is reached",
                       f"set endpoint.access: {options} (and the access path for CI and operators, {ACCESS_DOC}), "
                       "or public with endpoint.public_waiver saying why"))
        return out
    if e.access == "dns" and stack.cloud != "gcp":
        out.append(_at(doc, (*ENDPOINT, "access"), "the DNS-based endpoint is a GKE feature",
                       f"use access: private on {stack.cloud} (reach it from inside the VPC, {ACCESS_DOC})", e.access))
    if e.access == "public" and not e.authorized_cidrs:
        out.append(_at(doc, ENDPOINT,
                       "a public API endpoint needs authorized_cidrs (otherwise it is open to the internet)",
                       "list the CIDRs of your VPN and CI runners in endpoint.authorized_cidrs, "
                       "or set endpoint.access: private"))
    if e.access == "public" and prod and not e.public_waiver:
        out.append(_at(doc, ENDPOINT, "a public API endpoint in production is a waiver and needs a written reason",
                       f"prefer access: private{' or dns' if stack.cloud == 'gcp' else ''} ({ACCESS_DOC}); "
                       "otherwise set endpoint.public_waiver to why and until when"))
    if e.public_waiver and e.access != "public":
        out.append(_at(doc, (*ENDPOINT, "public_waiver"), f"waives a public endpoint, but access is {e.access}",
                       "remove endpoint.public_waiver"))
    return out


def _gateway(doc: YamlDoc, stack: StackSpec) -> list[ConfigIssue]:
    gw = stack.serving.gateway
    if stack.environment != "prod" or not gw.enabled or gw.tls_secret or gw.certificate_arn:
        return []
    key = "tls_secret: <kubernetes.io/tls Secret>" if stack.cloud == "gcp" else "certificate_arn: <ACM certificate ARN>"
    return [_at(doc, ("config", "tfplat:serving", "gateway"),
                "a production gateway serves HTTPS only (port 80 redirects to it), and this one has no certificate",
                f"set gateway.{key}, or gateway.enabled: false")]


def _tag_only(doc: YamlDoc, stack: StackSpec, kinds: Iterable[str]) -> list[ConfigIssue]:
    """Prod runs the images of its model fleets by digest, or names each exception; a
    waiver must name an image the stack runs by tag, so none outlives its cause."""
    waived = stack.admission.tag_only
    base = ("config", "tfplat:admission", "tag_only")
    images = {i.ref: i for kind in sorted(set(kinds)) for i in fleet_images(stack.cloud, kind, stack.serving.images)}
    out: list[ConfigIssue] = []
    for ref, img in sorted(images.items()):
        if stack.environment == "prod" and not pinned_by_digest(ref) and ref not in waived:
            out.append(_at(doc, ("config", "tfplat:admission"),
                           f"image {ref} ({img.key}) would run in production without a digest, which the admission "
                           "policy refuses",
                           f"run `make pin-images` (or add the digest to tfplat:serving.images.{img.key}), or waive "
                           f"it: tfplat:admission.tag_only: {{\"{ref}\": \"<why, and until when>\"}}"))
    by_tag = {f"{i.repository}:{i.tag}": i for i in images.values() if i.tag}
    for ref in sorted(waived):
        if ref in images:
            continue
        pinned = by_tag.get(ref)
        if pinned is not None:
            out.append(_at(doc, (*base, ref), f"waives an image that is pinned by digest now ({pinned.ref})",
                           "remove the waiver", ref))
        else:
            out.append(_at(doc, (*base, ref), "waives an image this stack does not run",
                           f"remove it (the model fleets run {', '.join(sorted(images)) or 'no image'})", ref))
    return out


def check_hardening(doc: YamlDoc, stack: StackSpec, kinds: Iterable[str] | None) -> list[ConfigIssue]:
    """`kinds`: the accelerator kinds of the models the stack deploys (cpu, gpu, tpu); None
    when a model file is missing or broken, so the images are unknown and not judged."""
    issues = _endpoint(doc, stack) + _gateway(doc, stack)
    return issues + (_tag_only(doc, stack, kinds) if kinds is not None else [])
