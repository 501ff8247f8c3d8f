"""Kubernetes resource quantities: parse, scale, and print them back canonically."""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal
import re

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
_DECIMAL = {"k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
_MEM = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$")
_CPU = re.compile(r"^(?:([0-9]+)m|([0-9]+(?:\.[0-9]+)?))$")


def memory_bytes(text: str) -> int:
    m = _MEM.match(text)
    if not m:
        raise ValueError(f"not a memory quantity: {text!r}")
    number, unit = Decimal(m.group(1)), m.group(2)
    factor = _BINARY.get(unit or "", _DECIMAL.get(unit or "", 1))
    return int((number * factor).to_integral_value(ROUND_CEILING))


def with_headroom(memory: str, percent: int) -> str:
    """`memory` plus `percent`, rounded up to a whole MiB, e.g. ("8Gi", 50) -> "12288Mi"."""
    total = Decimal(memory_bytes(memory)) * (100 + percent) / 100
    mib = int((total / 2**20).to_integral_value(ROUND_CEILING))
    return f"{mib}Mi"


def cpu_millis(text: str) -> int:
    m = _CPU.match(text)
    if not m:
        raise ValueError(f"not a CPU quantity: {text!r}")
    if m.group(1) is not None:
        return int(m.group(1))
    return int((Decimal(m.group(2)) * 1000).to_integral_value(ROUND_CEILING))


def cpu_text(millis: int) -> str:
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"
