"""Runbook lines: fenced blocks of a Markdown runbook, their command lines, and the rule
(`RULES`) that decides whether the test runs a line offline or skips it as cloud-only.

The conventions are in tests/delivery/runbooks.py and docs/runbooks/README.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
import re
import shlex
from typing import Literal

Kind = Literal["offline", "skipped", "unclassified"]

#: First word -> (kind, why). The skip rules are the whole list of what a runbook may show
#: without the test running it.
RULES: dict[str, tuple[Kind, str]] = {
    "tfplat": ("offline", "the project CLI"),
    "make": ("offline", "offline make targets"),
    "git": ("offline", "git, against a local bare origin"),
    "python3": ("offline", "local helper (writes a request file)"),
    "pulumi": ("skipped", "needs the Pulumi CLI, a state backend and cloud credentials"),
    "kubectl": ("skipped", "needs a running cluster"),
    "gcloud": ("skipped", "needs a Google Cloud account"),
    "aws": ("skipped", "needs an AWS account"),
    "curl": ("skipped", "needs a model server (kubectl port-forward)"),
    "gh": ("skipped", "needs GitHub (gh pr merge is simulated)"),
}
OFFLINE_MAKE_TARGETS = frozenset({"plan", "plan-all", "validate", "diff"})
SKIPPED_MAKE_TARGETS = {"setup": "environment setup: the test runs inside the project's .venv"}
CLOUD_ENV_PREFIXES = ("PULUMI_", "AWS_", "GOOGLE_", "CLOUDSDK_", "KUBECONFIG")
# Shell control operators: one command per line keeps the classification honest.
CONTROL = frozenset({";", "&&", "||", "|", "&", "|&", ";;"})


@dataclass(frozen=True)
class Block:
    lang: str
    attrs: Mapping[str, str]
    body: str
    line: int  # line number of the opening fence


@dataclass(frozen=True)
class Command:
    text: str
    argv: tuple[str, ...]
    line: int
    kind: Kind
    rule: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.text}"


def parse_blocks(markdown: str) -> list[Block]:
    """Fenced code blocks (``` or ~~~) with their info string split into lang and key=value attrs."""
    blocks: list[Block] = []
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^ {0,3}(`{3,}|~{3,})\s*(.*)$", lines[i])
        if not m:
            i += 1
            continue
        fence, info = m.group(1), m.group(2).split()
        lang = info[0] if info and "=" not in info[0] else ""
        attrs = dict(a.split("=", 1) for a in info if "=" in a)
        start = i
        body: list[str] = []
        i += 1
        while i < len(lines) and not re.match(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}\s*$", lines[i]):
            body.append(lines[i])
            i += 1
        blocks.append(Block(lang=lang, attrs=attrs, body="\n".join(body) + "\n", line=start + 1))
        i += 1
    return blocks


def commands(block: Block) -> list[Command]:
    """The command lines of a sh block, continuation lines joined, comments dropped, classified."""
    out: list[Command] = []
    pending: list[str] = []
    first = 0
    for offset, raw in enumerate(block.body.splitlines()):
        if not pending:
            first = block.line + 1 + offset
        stripped = raw.strip()
        if stripped.endswith("\\"):
            pending.append(stripped[:-1])
            continue
        pending.append(stripped)
        text = " ".join(p.strip() for p in pending).strip()
        pending = []
        if not text or text.startswith("#"):
            continue
        out.append(classify(text, first))
    if pending:
        out.append(Command(" ".join(pending), (), first, "unclassified", "a line ends with a dangling \\"))
    return out


def operators(text: str) -> list[str]:
    """The shell operator tokens of a line (quoted text is not split)."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
    lexer.commenters = "#"
    return [t for t in lexer if t and all(ch in "();<>|&" for ch in t)]


def classify(text: str, line: int) -> Command:
    try:
        argv = tuple(shlex.split(text, comments=True))
    except ValueError as err:
        return Command(text, (), line, "unclassified", f"cannot be parsed as a shell line: {err}")
    if not argv:
        return Command(text, argv, line, "unclassified", "empty")
    word = argv[0].removeprefix(".venv/bin/")
    if word == "export":
        names_ = [a.split("=", 1)[0] for a in argv[1:]]
        if names_ and all(n.startswith(CLOUD_ENV_PREFIXES) for n in names_):
            return Command(text, argv, line, "skipped", "sets a cloud credential or Pulumi variable")
        return Command(text, argv, line, "unclassified", "exports a variable an offline command could depend on")
    if word not in RULES:
        return Command(text, argv, line, "unclassified",
                       f"{word!r} has no rule (add it to tests/delivery/runbooks.py RULES, or move it to prose)")
    kind, why = RULES[word]
    if kind == "offline":
        if CONTROL & set(operators(text)):
            return Command(text, argv, line, "unclassified", "one command per line: no ;, &&, || or pipes")
        if "<" in text and word != "python3":
            return Command(text, argv, line, "unclassified", "placeholders (<...>) are for cloud-only commands")
    if word == "make":
        targets = [a for a in argv[1:] if not a.startswith("-") and "=" not in a]
        skipped = [t for t in targets if t in SKIPPED_MAKE_TARGETS]
        if skipped and len(skipped) == len(targets):
            return Command(text, argv, line, "skipped", SKIPPED_MAKE_TARGETS[skipped[0]])
        unknown = [t for t in targets if t not in OFFLINE_MAKE_TARGETS]
        if unknown or not targets:
            return Command(text, argv, line, "unclassified",
                           f"make targets {unknown or '(none)'} are not offline targets {sorted(OFFLINE_MAKE_TARGETS)}")
    return Command(text, argv, line, kind, why)


