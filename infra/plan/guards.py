"""Guards on a rollout change as a whole: what may move between two applied states.

The runbook steps (infra.rules.rollout) check one step against the state it starts from.
These guards check the whole change since the last reviewed state (the stack file as last
committed, which is what the deploy pipeline applies): a change holds at most one step
that moves traffic or versions safely, and a canary grows by at most the stack's step
limit. The CLI's rollout commands and the release engine call `change_problems`; the
desired-state diff (`tfplat diff --fail-on-unsafe`) reports the same problems.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from infra.rules.rollout import Rollout, transition_problems

#: Largest canary increase (percentage points) in one change, by tier, unless the stack
#: sets tfplat:rollout.max_canary_step_percent. Lowering a canary is never limited.
DEFAULT_MAX_CANARY_STEP: Mapping[str, int] = {"dev": 100, "staging": 100, "prod": 50}


@dataclass(frozen=True, kw_only=True)
class StepLimits:
    max_canary_step: int  # percentage points a canary may grow in one change

    @classmethod
    def for_stack(cls, environment: str, configured: int | None = None) -> StepLimits:
        return cls(max_canary_step=configured if configured is not None
                   else DEFAULT_MAX_CANARY_STEP.get(environment, 50))


@dataclass(frozen=True, kw_only=True)
class ChangeProblem:
    field: str  # the stack key at fault ("canary_percent", "live", a color)
    message: str
    hint: str
    value: object = None


def canary_step_problem(before: Rollout, after: Rollout, limits: StepLimits) -> ChangeProblem | None:
    """A canary that grows by more than the limit in one change (same idle version)."""
    same_target = before.live == after.live and before.version(after.idle) == after.version(after.idle)
    start = before.canary_percent if same_target else 0
    if after.canary_percent - start <= limits.max_canary_step:
        return None
    allowed = start + limits.max_canary_step
    return ChangeProblem(
        field="canary_percent", value=after.canary_percent,
        message=f"the canary would grow from {start}% to {after.canary_percent}% in one change; "
                f"this stack allows at most {limits.max_canary_step} points per step",
        hint=f"go to {allowed}% or less first, apply it and watch the dashboards, then grow it in the next change "
             "(the limit is tfplat:rollout.max_canary_step_percent in the stack file)")


def change_problems(before: Rollout | None, after: Rollout, limits: StepLimits) -> list[ChangeProblem]:
    """Why going from `before` (last reviewed state; None: the model is new) to `after` in
    one change would be unsafe ([] if safe)."""
    if before is None or before == after:
        return []
    problems = [ChangeProblem(field="live", message=text, value=after.describe(),
                              hint="commit this change and apply it (pulumi up), wait for it, "
                                   "then take the next step in a new change")
                for text in transition_problems(before, after)]
    step = canary_step_problem(before, after, limits)
    if step is not None:
        problems.append(step)
    return problems
