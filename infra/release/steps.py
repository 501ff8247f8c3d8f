"""Taking one release step: edit the stack file (the runbook commands' own edit and
guards), commit it, push it if asked, apply it. Also the way back to where a release
started (`restore`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap

from infra.cli.rollout_cmd import EntryEdit, apply_step
from infra.config.loader import load, stack_file
from infra.config.release_spec import ReleaseMarker
from infra.release import gitops
from infra.release.appliers import Applier
from infra.rules.rollout import Rollout, canary, retire, rollback, stage

MARKER_KEY = "release_in_progress"
Log = Callable[..., Any]


def set_marker(marker: ReleaseMarker) -> EntryEdit:
    def edit(entry: Any) -> None:
        value = CommentedMap(marker.as_yaml())
        value["from"] = CommentedMap(value["from"])
        value.fa.set_flow_style()
        entry[MARKER_KEY] = value
    return edit


def clear_marker(entry: Any) -> None:
    """The release's end: its marker goes, and so does the `canary_percent: 0` its steps
    left (0 is the default), so the entry reads as if the steps had been written by hand."""
    for key in (MARKER_KEY, "canary_percent"):
        if key in entry and (key == MARKER_KEY or entry[key] == 0):
            del entry[key]


def unchanged(r: Rollout) -> Rollout:
    return r


@dataclass
class Stepper:
    root: Path
    stack: str
    model: str
    release_id: str
    version: int
    applier: Applier
    log: Log
    push_to: tuple[str, str] | None = None  # (remote, branch)

    @property
    def path(self) -> Path:
        return stack_file(self.root, self.stack)

    def current(self) -> tuple[Rollout, ReleaseMarker | None]:
        spec = load(self.root, self.stack).stack.models[self.model]
        return Rollout.of(spec), spec.release_in_progress

    def take(self, label: str, step: Callable[[Rollout], Rollout], *, entry_edit: EntryEdit | None = None,
             apply: bool = True, back: bool = False) -> Rollout:
        """One step: the stack-file edit through the rollout rules and guards, its commit
        (and push), then the apply. Returns the state the stack file now holds.

        Going forward, a push that fails stops the step before its apply (the branch must
        never lag behind the cluster). Going back (`back`), the apply happens anyway: the
        cluster's rollback matters more; the commit stays local and the log says so."""
        result = apply_step(self.root, self.stack, self.model, step, entry_edit=entry_edit)
        commit, unpushed = None, None
        if result.written is not None:
            commit = gitops.commit(self.root, self.path, f"release {self.model} v{self.version} on {self.stack}: "
                                                         f"{label} [skip ci]\n\nTfplat-Release: {self.release_id}")
            if self.push_to is not None:
                try:
                    commit = gitops.push(self.root, *self.push_to)
                except gitops.GitError as err:
                    if not back:
                        raise
                    unpushed = f"{err}; push the branch's release commits by hand (git push {' '.join(self.push_to)})"
        applied = self.apply(label) if apply else None
        self.log("step", label=label, before=result.before.describe(), after=result.after.describe(),
                 commit=commit, applied=applied, **({"unpushed": unpushed} if unpushed else {}))
        return result.after

    def apply(self, label: str) -> str:
        environment = load(self.root, self.stack).stack.environment
        return self.applier.apply(self.root, self.stack, environment,
                                  f"tfplat release {self.model} v{self.version}: {label}")

    def restore(self, marker: ReleaseMarker, reason: str) -> Rollout:
        """Back to the state the release started from: traffic first (one apply: canary
        to 0, or a switch back; the marker then says the release is rolling back, so a
        --resume can never take it forward again), then the idle color's previous version,
        then the marker goes. Each is its own commit, so every apply is one guarded step."""
        r, _ = self.current()
        going_back = set_marker(replace(marker, rolling_back=marker.rolling_back or reason[:500]))
        if r.live != marker.from_live:
            r = self.take(f"switch back to {marker.from_live}", rollback, back=True, entry_edit=going_back)
        elif r.canary_percent:
            r = self.take("canary 0%", lambda s: canary(s, 0), back=True, entry_edit=going_back)
        before = marker.from_blue if r.idle == "blue" else marker.from_green
        if r.version(r.idle) != before:
            label = f"restore {r.idle} to v{before}" if before is not None else f"retire {r.idle}"
            return self.take(label, (lambda s: stage(s, before)) if before is not None else retire,
                             entry_edit=clear_marker, back=True)
        return self.take("release ended", unchanged, entry_edit=clear_marker, apply=False, back=True)
