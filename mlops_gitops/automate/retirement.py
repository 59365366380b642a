"""Retirement plans carried out: each phase's spec edits are one commit, made exactly once.

What each phase does is decided with plain values in `automate/phases.py`; this runner reads
the progress, applies the decided edits (comments kept), checks that the specs stay valid,
records the progress and commits.

`reconcile` runs this after the rules and before plan and apply, so the edits it commits are
applied in the same run. The calendar (`plan/retirements.py`): a phase starts at 00:00 UTC on
`retirement_date - days_before` and lasts until the next listed phase starts. Phases that
started while no reconcile ran are caught up in order; progress lives in
`<state_dir>/retirements/<plan>.json`, committed with each phase's edits.

- `deprecation_warning`: no spec edit. The version is deprecated: plans carry a warning and
  `status` shows it as `deprecated`. The phase is recorded by a commit of the state file.
- `traffic_reduction`, the schedule. Let S be the Project's `policies.max_canary_step` (25
  when unset). On the first reconcile run of each UTC day while the phase is active, and for
  each deployment whose file is not a template:
  - where the retiring version is stable with no canary, the replacement is put on canary at
    S%; where the replacement is already the canary, its traffic rises by S points, up to 100;
  - where the retiring version is the canary, its traffic falls by S points, down to 0.

  A deployment takes one step per day at most, and only when its recorded state has caught up
  with its spec (the previous step was applied: a step blocked by a gate or a policy is waited
  for, never stacked). A deployment whose canary is another version, or whose canary someone
  changed after the tool's last step (a rule's rollback, a human), is left alone and reported.
  With S = 25 the replacement serves 25, 50, 75 and 100% on the first four days of the phase.
  If the phase passed while no reconcile ran, it is skipped (recorded once).
- `final_migration`: wherever the retiring version serves, the replacement becomes stable
  (`spec.version`; a canary of the replacement is removed, since it is now stable); where the
  retiring version is the canary, the canary is removed. A canary of a third version stays.
- `retirement`: the version's entry is removed from the Model spec (the comment lines that
  describe it go with it) and the plan's file is deleted, its work done (its record stays in the
  state folder, its text in git). The planner then plans `retire`: archived, the blob kept.

A phase is all or nothing: when a precondition fails (the replacement is not registered in the
recorded state, a template serves the version, the retirement date passed while a deployment
still serves the version without migration, the edit would leave the specs invalid) it is
blocked, nothing is edited, and it is tried again on the next run. Later phases wait for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlops_gitops import fsguard, git
from mlops_gitops.automate.phases import (
    DEFAULT_CANARY_STEP,
    Decision,
    Inputs,
    PhaseResult,
    SpecOp,
    decide,
)
from mlops_gitops.errors import MlopsError
from mlops_gitops.plan.retirements import next_phase, phase_start, started
from mlops_gitops.spec import models as spec_models
from mlops_gitops.spec.check import validate as validate_repository
from mlops_gitops.spec.edit import SpecEditor
from mlops_gitops.state.progress import (
    PhaseMark,
    RetirementProgress,
    progress_bytes,
    read_progress,
    restore_hint,
)
from mlops_gitops.state.view import StateView
from mlops_gitops.workspace import Workspace

__all__ = ["PhaseResult", "RetirementOutcome", "RetirementRunner", "run_retirements"]


@dataclass
class RetirementOutcome:
    plan: str
    model: str
    version: str
    replacement: str
    retirement_date: str
    active_phase: str | None
    next_phase: dict[str, str] | None
    phases: list[PhaseResult] = field(default_factory=list)
    completed: list[str] = field(default_factory=list)
    """Phases recorded as done (or skipped) after this run."""

    @property
    def blocked_by(self) -> list[str]:
        return [f"{p.phase}: {why}" for p in self.phases for why in p.blocked_by]

    @property
    def edited(self) -> bool:
        """Whether spec files changed (the workspace must be opened again)."""
        return any(p.edits for p in self.phases)

    @property
    def acted(self) -> bool:
        return any(p.status in ("done", "started", "stepped", "skipped") for p in self.phases)

    @property
    def commits(self) -> list[str]:
        return [p.commit for p in self.phases if p.commit]

    @property
    def status(self) -> str:
        if self.blocked_by:
            return "blocked"
        if self.acted:
            return "acted"
        if self.active_phase is None:
            return "scheduled"
        return "in progress"

    def to_json(self) -> dict[str, Any]:
        return {
            "plan": self.plan,
            "model": self.model,
            "version": self.version,
            "replacement": self.replacement,
            "retirement_date": self.retirement_date,
            "active_phase": self.active_phase,
            "next_phase": self.next_phase,
            "status": self.status,
            "phases": [p.to_json() for p in self.phases],
            "completed": self.completed,
            "blocked_by": self.blocked_by,
            "commits": self.commits,
        }


class RetirementRunner:
    def __init__(self, workspace: Workspace, now: datetime, commit: bool = True) -> None:
        self.ws = workspace
        self.now = now if now.tzinfo else now.replace(tzinfo=UTC)
        self.root = workspace.root
        self.commit = commit and git.is_repo(workspace.root)
        self._view: StateView | None = None
        # A killed run may have left temp files of atomic writes: never commit them.
        fsguard.sweep_temp_files(self.root, self.root / workspace.project.state_dir / "retirements")

    def _record_rel(self, name: str) -> str:
        return f"{self.ws.project.state_dir}/retirements/{name}.json"

    def _progress(
        self, name: str, spec: spec_models.RetirementPlanSpec
    ) -> tuple[RetirementProgress, str | None]:
        """The recorded progress, and a note when it belonged to another version."""
        fresh = RetirementProgress(plan=name, model=spec.model, version=spec.version)
        rel = self._record_rel(name)
        found = read_progress(self.root / rel, rel, RetirementProgress)
        if found is None:
            return fresh, None
        if found.plan != name:
            raise MlopsError(
                f"{rel}: records plan {found.plan!r}, not {name!r}", hint=restore_hint(rel)
            )
        if (found.model, found.version) != (spec.model, spec.version):
            return fresh, (
                f"the plan now retires {spec.model} {spec.version}; the progress recorded for "
                f"{found.model} {found.version} does not apply and starts afresh"
            )
        return found, None

    def _recorded(self) -> StateView:
        """The recorded state, read once: nothing here changes it (apply runs later)."""
        if self._view is None:
            self._view = self.ws.state_store.load()
        return self._view

    def run_all(self) -> list[RetirementOutcome]:
        if self.commit and self.ws.project.git.author:
            # Checked before any edit: failing at commit time would leave edits uncommitted.
            git.parse_author(self.ws.project.git.author)
        outcomes = []
        for name in sorted(self.ws.manifest.retirements):
            plan = self.ws.manifest.retirements.get(name)
            if plan is not None:
                outcomes.append(self.run(name, plan))
        return outcomes

    def run(self, name: str, plan: spec_models.RetirementPlan) -> RetirementOutcome:
        spec = plan.spec
        begun = started(spec, self.now)
        active = begun[-1].name if begun else None
        upcoming = next_phase(spec, self.now)
        outcome = RetirementOutcome(
            plan=name,
            model=spec.model,
            version=spec.version,
            replacement=spec.replacement,
            retirement_date=spec.retirement_date.isoformat(),
            active_phase=active,
            next_phase={
                "name": upcoming.name,
                "starts": phase_start(spec, upcoming).date().isoformat(),
            }
            if upcoming
            else None,
        )
        progress, reset = self._progress(name, spec)
        for phase in begun:
            inputs = Inputs(
                plan=name,
                spec=spec,
                manifest=self.ws.manifest,
                recorded=self._recorded(),
                progress=progress,
                now=self.now,
                record=self._record_rel(name),
                step=self.ws.project.policies.max_canary_step or DEFAULT_CANARY_STEP,
            )
            decision = decide(inputs, phase.name, active)
            if decision is None:
                continue
            if reset and decision.record:
                decision.result.notes.insert(0, reset)
                reset = None
            progress = self._carry_out(name, spec, progress, decision)
            outcome.phases.append(decision.result)
            if decision.result.status == "blocked":
                break
        outcome.completed = [
            p.name
            for p in spec.phases
            if p.name in progress.phases and progress.phases[p.name].status != "started"
        ]
        return outcome

    def _carry_out(
        self,
        name: str,
        spec: spec_models.RetirementPlanSpec,
        progress: RetirementProgress,
        decision: Decision,
    ) -> RetirementProgress:
        """Edit, validate, record and commit one phase; the progress after it."""
        result = decision.result
        if result.blocked_by:
            result.status = "blocked"
            result.edits.clear()
            return progress
        files = self._edited(decision.ops)
        if not decision.record and not files:
            return progress
        originals = {rel: _read(self.root / rel) for rel in files}
        for rel, text in files.items():
            _write(self.root, rel, text)
        if files:
            problems = self._problems()
            if problems:
                for rel, text in originals.items():
                    _write(self.root, rel, text)
                result.status = "blocked"
                result.edits.clear()
                result.blocked_by += [
                    f"the edit would leave the specs invalid: {p}" for p in problems
                ]
                return progress
        progress = _advanced(progress, decision, self.now)
        record = self._record_rel(name)
        fsguard.write(self.root, self.root / record, progress_bytes(progress))
        if self.commit:
            result.commit = git.commit(
                self.root,
                [record, *files],
                _message(name, spec, result),
                self.ws.project.git.author,
            )
        if files:
            self.ws = Workspace.load(self.root)
        return progress

    def _edited(self, ops: list[SpecOp]) -> dict[str, str | None]:
        """New texts of the files the operations change (None: the file goes)."""
        editors: dict[str, SpecEditor] = {}
        gone: dict[str, str | None] = {}
        for op in ops:
            if op.kind == "delete_file":
                gone[op.source] = None
                continue
            editor = editors.get(op.source)
            if editor is None:
                text = (self.root / op.source).read_text(encoding="utf-8")
                editor = editors[op.source] = SpecEditor(text, op.source)
            if op.kind == "set":
                editor.set_scalar(op.path, op.value)
            elif op.kind == "delete_key":
                editor.delete_key(op.path)
            elif op.kind == "insert_key":
                editor.insert_key(op.path, op.key, str(op.value), after=op.after)
            else:
                assert isinstance(op.path[-1], int)
                editor.delete_item(op.path)
        return {path: editor.text for path, editor in editors.items()} | gone

    def _problems(self) -> list[str]:
        found = validate_repository(self.root).problems
        return [p.render() for p in found[:5]]


def _advanced(
    progress: RetirementProgress, decision: Decision, now: datetime
) -> RetirementProgress:
    """The progress once the phase's decision is carried out."""
    result = decision.result
    phases = dict(progress.phases)
    if result.phase == "traffic_reduction" and result.status != "skipped":
        phases.setdefault(result.phase, PhaseMark(status="started", time=now))
    else:
        status = result.status if result.status in ("done", "skipped") else "started"
        phases[result.phase] = PhaseMark(status=status, time=now)
    traffic = decision.traffic if decision.traffic is not None else progress.traffic
    return progress.model_copy(update={"phases": phases, "traffic": traffic})


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def _write(root: Path, rel: str, text: str | None) -> None:
    if text is None:
        fsguard.remove(root, root / rel)
    else:
        fsguard.write(root, root / rel, text.encode())


def _message(name: str, spec: spec_models.RetirementPlanSpec, result: PhaseResult) -> str:
    lines = [f"mlops-gitops: retirement {name} {result.phase}", ""]
    lines.append(
        f"{spec.model} {spec.version} retires on {spec.retirement_date}, replaced by "
        f"{spec.replacement}."
    )
    lines += [f"- {edit.describe()}" for edit in result.edits]
    lines += [f"- {note}" for note in result.notes]
    lines += ["", f"Mlops-Retirement: {name}", f"Mlops-Phase: {result.phase}"]
    lines.append(f"Mlops-Version: {spec.model} {spec.version}")
    lines += [f"Mlops-Edit: {git.one_line(edit.describe())}" for edit in result.edits]
    return "\n".join(lines) + "\n"


def run_retirements(
    workspace: Workspace, now: datetime, commit: bool = True
) -> list[RetirementOutcome]:
    """Carry out every retirement plan's due phases; see the module docstring."""
    return RetirementRunner(workspace, now, commit).run_all()
