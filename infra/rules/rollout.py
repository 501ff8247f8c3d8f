"""Blue-green rollout state of one model, its rules, and the runbook steps between states.

A model runs up to two colors; each color runs one SavedModel version or nothing. One color
is live; an optional canary share of traffic goes to the other one. Every step (stage,
canary, switch, rollback, retire) returns a new state or raises RolloutError without
changing anything, and every state it returns passes `check_rollout`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal, Protocol

Color = Literal["blue", "green"]

#: TF Serving numbers servable versions with int64; a version outside 1..MAX_VERSION (or
#: not a whole number) is never loaded, so its pods would never become ready.
MAX_VERSION = 2**63 - 1


def other(color: Color) -> Color:
    return "green" if color == "blue" else "blue"


class RolloutError(ValueError):
    """A refused state or step. `field` is the stack key at fault (e.g. "green")."""

    def __init__(self, field: str, message: str, hint: str, value: object = None) -> None:
        super().__init__(f"{message} ({hint})")
        self.field = field
        self.message = message
        self.hint = hint
        self.value = value


class RolloutLike(Protocol):
    @property
    def blue(self) -> int | None: ...
    @property
    def green(self) -> int | None: ...
    @property
    def live(self) -> Color: ...
    @property
    def canary_percent(self) -> int: ...


@dataclass(frozen=True, kw_only=True)
class Rollout:
    blue: int | None
    green: int | None
    live: Color
    canary_percent: int = 0

    @classmethod
    def of(cls, r: RolloutLike) -> Rollout:
        return cls(blue=r.blue, green=r.green, live=r.live, canary_percent=r.canary_percent)

    def version(self, color: Color) -> int | None:
        return self.blue if color == "blue" else self.green

    @property
    def idle(self) -> Color:
        return other(self.live)

    def with_version(self, color: Color, version: int | None) -> Rollout:
        return replace(self, blue=version) if color == "blue" else replace(self, green=version)

    def weights(self) -> dict[Color, int]:
        """Traffic percent per color that has a version (sums to 100)."""
        out: dict[Color, int] = {self.live: 100 - self.canary_percent}
        if self.version(self.idle) is not None:
            out[self.idle] = self.canary_percent
        return out

    def carrying_traffic(self) -> set[Color]:
        return {c for c, w in self.weights().items() if w > 0}

    def describe(self) -> str:
        parts = []
        colors: tuple[Color, Color] = ("blue", "green")
        for color in colors:
            v = self.version(color)
            mark = "*" if color == self.live else ""
            parts.append(f"{color}{mark}={'-' if v is None else f'v{v}'}")
        canary = f" canary {self.canary_percent}% -> {self.idle}" if self.canary_percent else ""
        return " ".join(parts) + canary


_CANARY_100 = ("a canary of 100% sends all gateway traffic to the idle color {idle} while the live Service, "
               "its health checks and tfplat status still call {live} live")


def check_rollout(r: RolloutLike) -> None:
    """The rules every state obeys; raises RolloutError naming the field at fault."""
    live_version = r.blue if r.live == "blue" else r.green
    idle: Color = other(r.live)
    idle_version = r.blue if idle == "blue" else r.green
    if live_version is None:
        raise RolloutError(r.live, f"the live color {r.live} has no version",
                           f"set {r.live}: <version>, or make {idle} live (live: {idle})", live_version)
    if not 0 <= r.canary_percent <= 100:
        raise RolloutError("canary_percent", "must be between 0 and 100", "use a percentage 0-100",
                           r.canary_percent)
    if r.canary_percent == 100:
        raise RolloutError("canary_percent", _CANARY_100.format(idle=idle, live=r.live),
                           f"make {idle} live instead (live: {idle}, canary_percent: 0; tfplat switch does this)",
                           r.canary_percent)
    if r.canary_percent and idle_version is None:
        raise RolloutError("canary_percent", f"canary traffic needs a version in the idle color {idle}",
                           f"stage a version into {idle} first (tfplat stage), or set canary_percent: 0",
                           r.canary_percent)
    if idle_version is not None and idle_version == live_version:
        raise RolloutError(idle, f"blue and green both run version {live_version}",
                           f"set {idle} to another version, or to null to retire it", idle_version)


# --------------------------------------------------------------------------- runbook steps


def stage(r: Rollout, version: int) -> Rollout:
    """Load `version` into the idle color (no traffic moves)."""
    if not 1 <= version <= MAX_VERSION:
        raise RolloutError(r.idle, f"versions are whole numbers from 1 to {MAX_VERSION} (TF Serving's int64)",
                           "use the SavedModel version number (its directory name under the model's prefix)",
                           version)
    if version == r.version(r.live):
        raise RolloutError(r.idle, f"version {version} is already live in {r.live}",
                           "stage a different version", version)
    if r.version(r.idle) == version:
        raise RolloutError(r.idle, f"version {version} is already staged in {r.idle}",
                           "nothing to do; run canary or switch next", version)
    if r.canary_percent:
        raise RolloutError("canary_percent", f"{r.idle} still receives {r.canary_percent}% canary traffic",
                           "set the canary to 0 (tfplat canary MODEL 0) or switch before staging again",
                           r.canary_percent)
    return r.with_version(r.idle, version)


def canary(r: Rollout, percent: int) -> Rollout:
    """Send `percent` of traffic to the idle color."""
    if not 0 <= percent <= 100:
        raise RolloutError("canary_percent", "must be between 0 and 100", "use a percentage 0-100", percent)
    if percent == 100:
        raise RolloutError("canary_percent", _CANARY_100.format(idle=r.idle, live=r.live),
                           "use tfplat switch MODEL to make the idle color live", percent)
    if percent and r.version(r.idle) is None:
        raise RolloutError("canary_percent", f"the idle color {r.idle} has no version",
                           "stage a version first (tfplat stage MODEL VERSION)", percent)
    return replace(r, canary_percent=percent)


def switch(r: Rollout) -> Rollout:
    """Make the idle color live; the old live color stays up (idle) for a rollback."""
    if r.version(r.idle) is None:
        raise RolloutError("live", f"the idle color {r.idle} has no version to switch to",
                           "stage a version first (tfplat stage MODEL VERSION)", r.live)
    return replace(r, live=r.idle, canary_percent=0)


def rollback(r: Rollout) -> Rollout:
    """Abort a canary, or else switch back to the previous (idle) color."""
    if r.canary_percent:
        return replace(r, canary_percent=0)
    if r.version(r.idle) is None:
        raise RolloutError("live", f"nothing to roll back to: {r.idle} has no version",
                           f"stage the previous good version into {r.idle} and switch to it", r.live)
    return replace(r, live=r.idle)


def retire(r: Rollout) -> Rollout:
    """Remove the idle color's version (its Deployment is deleted on the next apply)."""
    if r.version(r.idle) is None:
        raise RolloutError(r.idle, f"the idle color {r.idle} runs nothing", "nothing to retire", None)
    if r.canary_percent:
        raise RolloutError("canary_percent", f"{r.idle} receives {r.canary_percent}% canary traffic",
                           "switch, or set the canary to 0, before retiring", r.canary_percent)
    return r.with_version(r.idle, None)


# --------------------------------------------------------------------------- between revisions


def transition_problems(before: Rollout | None, after: Rollout | None) -> list[str]:
    """Why going from `before` to `after` in one apply would be unsafe ([] if safe).

    Used by the desired-state diff: a color that carries traffic must not lose or change
    its version in the same change, and traffic must not move to a version that was not
    already running (staged) before the change.
    """
    if before is None or after is None:
        return []
    problems = []
    for color in before.carrying_traffic():
        if after.version(color) != before.version(color):
            was, now = before.version(color), after.version(color)
            problems.append(f"{color} carries traffic (v{was}) and would change to "
                            f"{'nothing' if now is None else f'v{now}'} in the same apply; "
                            "stage into the idle color and switch instead")
    for color in after.carrying_traffic() - before.carrying_traffic():
        if after.version(color) != before.version(color):
            problems.append(f"traffic would move to {color} v{after.version(color)}, which is not running yet; "
                            "stage it in one change and move traffic in the next")
    return problems
