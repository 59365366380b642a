"""Retirement plans carried out: each phase's spec edits are one commit, made exactly once.

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

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from mlops_gitops import git
from mlops_gitops.errors import MlopsError
from mlops_gitops.plan.retirements import next_phase, phase_start, started
from mlops_gitops.spec import models as m
from mlops_gitops.spec.check import validate as validate_repository
from mlops_gitops.spec.edit import SpecEditor
from mlops_gitops.state.store import dumps
from mlops_gitops.state.view import StateView
from mlops_gitops.util import atomic_write, sweep_temp_files
from mlops_gitops.workspace import Workspace

STATE_SCHEMA_VERSION = 1
DEFAULT_CANARY_STEP = 25
PhaseStatus = Literal["done", "started", "stepped", "waiting", "skipped", "blocked"]


@dataclass(frozen=True)
class Edit:
    path: str
    change: str

    def describe(self) -> str:
        return f"{self.path}: {self.change}"

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "change": self.change}


@dataclass
class PhaseResult:
    """What one phase did in this run."""

    phase: str
    status: PhaseStatus = "done"
    edits: list[Edit] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    blocked_by: list[str] = field(default_factory=list)
    commit: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "status": self.status,
            "edits": [e.to_json() for e in self.edits],
            "notes": self.notes,
            "blocked_by": self.blocked_by,
            "commit": self.commit,
        }


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

    def summary(self) -> str:
        head = (
            f"retirement {self.plan}: {self.model} {self.version} -> {self.replacement} "
            f"on {self.retirement_date}"
        )
        if self.active_phase is None:
            upcoming = self.next_phase or {}
            return f"{head}: scheduled, {upcoming.get('name')} starts {upcoming.get('starts')}"
        done = ", ".join(f"{p.phase} {p.status}" for p in self.phases) or "nothing due"
        return f"{head}: phase {self.active_phase}: {self.status.upper()} ({done})"

    def details(self) -> list[str]:
        lines = []
        for result in self.phases:
            lines += [f"{result.phase}: edited {e.describe()}" for e in result.edits]
            lines += [f"{result.phase}: {note}" for note in result.notes]
            lines += [f"{result.phase}: BLOCKED: {why}" for why in result.blocked_by]
            if result.commit:
                lines.append(f"{result.phase}: committed {result.commit[:12]}")
        return lines

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


@dataclass
class _Change:
    """A phase's intended effect: new file texts (None deletes the file) and state."""

    result: PhaseResult
    files: dict[str, str | None] = field(default_factory=dict)
    record: bool = True
    """Whether the state file changes (and so a commit is made)."""


class RetirementRunner:
    def __init__(self, workspace: Workspace, now: datetime, commit: bool = True) -> None:
        self.ws = workspace
        self.now = now if now.tzinfo else now.replace(tzinfo=UTC)
        self.root = workspace.root
        self.commit = commit and git.is_repo(workspace.root)
        self._view: StateView | None = None
        # A killed run may have left temp files of atomic writes: never commit them.
        sweep_temp_files(self.root / workspace.project.state_dir / "retirements")

    # ------------------------------------------------------------ state

    def _state_rel(self, name: str) -> str:
        return f"{self.ws.project.state_dir}/retirements/{name}.json"

    def _state(self, name: str, spec: m.RetirementPlanSpec) -> tuple[dict[str, Any], str | None]:
        fresh: dict[str, Any] = {
            "schema_version": STATE_SCHEMA_VERSION,
            "plan": name,
            "model": spec.model,
            "version": spec.version,
            "phases": {},
            "traffic": {},
        }
        try:
            data = json.loads((self.root / self._state_rel(name)).read_text())
        except FileNotFoundError:
            return fresh, None
        except (OSError, ValueError) as exc:
            raise MlopsError(
                f"recorded state file {self._state_rel(name)} is unreadable: {exc}",
                hint="restore it from git history (git checkout -- <file>)",
            ) from None
        if not isinstance(data, dict):
            raise MlopsError(
                f"recorded state file {self._state_rel(name)} is not a JSON object",
                hint="restore it from git history (git checkout -- <file>)",
            )
        if data.get("schema_version", 0) > STATE_SCHEMA_VERSION:
            raise MlopsError(
                f"recorded state file {self._state_rel(name)} was written by a newer mlops-gitops",
                hint="upgrade mlops-gitops",
            )
        if (data.get("model"), data.get("version")) != (spec.model, spec.version):
            return fresh, (
                f"the plan now retires {spec.model} {spec.version}; the progress recorded for "
                f"{data.get('model')} {data.get('version')} does not apply and starts afresh"
            )
        data.setdefault("phases", {})
        data.setdefault("traffic", {})
        return data, None

    def _recorded(self) -> StateView:
        """The recorded state, read once: nothing here changes it (apply runs later)."""
        if self._view is None:
            self._view = self.ws.state_store.load()
        return self._view

    def _registered(self, model: str, version: str) -> bool:
        record = self._recorded().models.get(model)
        entry = record.versions.get(version) if record else None
        return entry is not None and entry.status == "registered"

    # ------------------------------------------------------------ running

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

    def run(self, name: str, plan: m.RetirementPlan) -> RetirementOutcome:
        spec = plan.spec
        begun = started(spec, self.now)
        active = begun[-1] if begun else None
        upcoming = next_phase(spec, self.now)
        outcome = RetirementOutcome(
            plan=name,
            model=spec.model,
            version=spec.version,
            replacement=spec.replacement,
            retirement_date=spec.retirement_date.isoformat(),
            active_phase=active.name if active else None,
            next_phase={
                "name": upcoming.name,
                "starts": phase_start(spec, upcoming).date().isoformat(),
            }
            if upcoming
            else None,
        )
        state, reset = self._state(name, spec)
        for phase in begun:
            done = state["phases"].get(phase.name)
            if phase.name == "traffic_reduction":
                if active is None or active.name != phase.name:
                    if done is not None:
                        continue
                    change = _Change(PhaseResult(phase.name, "skipped"))
                    change.result.notes.append(
                        "skipped: the phase ended before it could run (now in "
                        f"{active.name if active else '-'})"
                    )
                else:
                    change = self._traffic(spec, state)
            elif done is not None:
                continue
            elif phase.name == "deprecation_warning":
                change = _Change(PhaseResult(phase.name))
                change.result.notes.append(
                    f"{spec.model} {spec.version} is deprecated; it retires on "
                    f"{spec.retirement_date}, replaced by {spec.replacement}"
                )
            elif phase.name == "final_migration":
                change = self._migrate(spec)
            else:
                change = self._retire(name, spec)
            if reset and change.record:
                change.result.notes.insert(0, reset)
                reset = None
            self._carry_out(name, spec, state, change)
            outcome.phases.append(change.result)
            if change.result.status == "blocked":
                break
        outcome.completed = [
            p.name
            for p in spec.phases
            if state["phases"].get(p.name, {}).get("status", "started") != "started"
        ]
        return outcome

    def _carry_out(
        self, name: str, spec: m.RetirementPlanSpec, state: dict[str, Any], change: _Change
    ) -> None:
        result = change.result
        if result.blocked_by:
            result.status = "blocked"
            result.edits.clear()
            return
        if not change.record and not change.files:
            return
        originals = {rel: _read(self.root / rel) for rel in change.files}
        for rel, text in change.files.items():
            _write(self.root / rel, text)
        if change.files:
            problems = self._problems()
            if problems:
                for rel, text in originals.items():
                    _write(self.root / rel, text)
                result.status = "blocked"
                result.edits.clear()
                result.blocked_by += [
                    f"the edit would leave the specs invalid: {p}" for p in problems
                ]
                return
        now = self.now.isoformat(timespec="seconds")
        entry = state["phases"].get(result.phase)
        if result.phase == "traffic_reduction" and result.status != "skipped":
            state["phases"][result.phase] = entry or {"status": "started", "time": now}
        else:
            state["phases"][result.phase] = {"status": result.status, "time": now}
        state_rel = self._state_rel(name)
        atomic_write(self.root / state_rel, dumps(state))
        if self.commit:
            result.commit = git.commit(
                self.root,
                [state_rel, *change.files],
                _message(name, spec, result),
                self.ws.project.git.author,
            )
        if change.files:
            self.ws = Workspace.load(self.root)

    def _problems(self) -> list[str]:
        found = validate_repository(self.root).problems
        return [p.render() for p in found[:5]]

    # ------------------------------------------------------------ phases

    def _serving(
        self, spec: m.RetirementPlanSpec
    ) -> list[tuple[str, m.DeploymentSpec, Literal["stable", "canary"], str]]:
        """Deployments whose spec serves the retiring version: name, spec, role, file."""
        out: list[tuple[str, m.DeploymentSpec, Literal["stable", "canary"], str]] = []
        for dname, deployment in sorted(self.ws.manifest.deployments.items()):
            dspec = deployment.spec
            if dspec.model != spec.model:
                continue
            source = self.ws.manifest.sources[f"Deployment/{dname}"]
            if dspec.version == spec.version:
                out.append((dname, dspec, "stable", source))
            elif dspec.canary is not None and dspec.canary.version == spec.version:
                out.append((dname, dspec, "canary", source))
        return out

    def _editor(self, editors: dict[str, SpecEditor], source: str) -> SpecEditor:
        if source not in editors:
            editors[source] = SpecEditor((self.root / source).read_text(encoding="utf-8"), source)
        return editors[source]

    def _traffic(self, spec: m.RetirementPlanSpec, state: dict[str, Any]) -> _Change:
        change = _Change(PhaseResult("traffic_reduction", "waiting"))
        result = change.result
        step = self.ws.project.policies.max_canary_step or DEFAULT_CANARY_STEP
        today = self.now.astimezone(UTC).date().isoformat()
        recorded = self._recorded()
        moved: dict[str, Any] = dict(state["traffic"])
        editors: dict[str, SpecEditor] = {}
        serving = self._serving(spec)
        more = False
        for dname, dspec, role, source in serving:
            canary = dspec.canary
            current = canary.traffic if canary else 0
            target = min(current + step, 100) if role == "stable" else max(current - step, 0)
            hold = _hold(spec, dname, dspec, role, source, target, moved.get(dname), today)
            if (
                hold is None
                and role == "stable"
                and not self._registered(spec.model, spec.replacement)
            ):
                result.blocked_by.append(_unregistered(spec, f"Deployment/{dname}"))
                continue
            if hold is None and not _applied(recorded, dname, dspec):
                hold = (
                    f"Deployment/{dname}: waiting until the spec ({_config_text(dspec)}) is "
                    "applied before the next step"
                )
            if hold is not None:
                if hold:
                    result.notes.append(hold)
                continue
            editor = self._editor(editors, source)
            new_canary = {
                "version": canary.version if canary else spec.replacement,
                "traffic": target,
            }
            if canary is None:
                editor.delete_key(("spec", "canary"))  # an explicit `canary: null`
                value = f"{{version: {json.dumps(spec.replacement)}, traffic: {target}}}"
                editor.insert_key(("spec",), "canary", value, after="version")
                what = f"canary {spec.replacement} added at {target}% ({spec.version} stable)"
            else:
                editor.set_scalar(("spec", "canary", "traffic"), target)
                what = f"canary {canary.version} traffic {current}% -> {target}%"
            result.edits.append(Edit(source, what))
            more = more or 0 < target < 100
            now = self.now.isoformat(timespec="seconds")
            moved[dname] = {"day": today, "time": now, "canary": new_canary}
        first = "traffic_reduction" not in state["phases"]
        if result.edits:
            result.status = "stepped"
            state["traffic"] = moved
            if more:
                tomorrow = (self.now.astimezone(UTC).date() + timedelta(days=1)).isoformat()
                result.notes.append(f"next step of {step} points on {tomorrow} at the earliest")
        elif first:
            result.status = "started"
            if not serving:
                result.notes.append(f"no deployment serves {spec.version}")
        change.files = {path: editor.text for path, editor in editors.items()}
        change.record = bool(result.edits) or first
        return change

    def _migrate(self, spec: m.RetirementPlanSpec) -> _Change:
        change = _Change(PhaseResult("final_migration"))
        result = change.result
        serving = self._serving(spec)
        editors: dict[str, SpecEditor] = {}
        if not serving:
            result.notes.append(f"no deployment serves {spec.version}: nothing to migrate")
        for dname, _, _, source in serving:
            if source.endswith(".j2"):
                result.blocked_by.append(
                    f"Deployment/{dname} ({source}) serves {spec.version} and is a template the "
                    f"tool cannot edit: set it to {spec.replacement} by hand"
                )
        if any(role == "stable" for _, _, role, _ in serving) and not self._registered(
            spec.model, spec.replacement
        ):
            result.blocked_by.append(_unregistered(spec, "the migration"))
        if result.blocked_by:
            return change
        for dname, dspec, role, source in serving:
            editor = self._editor(editors, source)
            canary = dspec.canary
            if role == "stable":
                editor.set_scalar(("spec", "version"), spec.replacement)
                what = f"version {spec.version} -> {spec.replacement}"
                if canary is not None and canary.version == spec.replacement:
                    editor.delete_key(("spec", "canary"))
                    what += f", canary {spec.replacement} ({canary.traffic}%) removed: now stable"
                elif canary is not None:
                    result.notes.append(f"Deployment/{dname}: canary {canary.version} kept")
            else:
                assert canary is not None
                editor.delete_key(("spec", "canary"))
                what = f"canary {spec.version} ({canary.traffic}%) removed"
            result.edits.append(Edit(source, what))
        change.files = {path: editor.text for path, editor in editors.items()}
        return change

    def _retire(self, name: str, spec: m.RetirementPlanSpec) -> _Change:
        change = _Change(PhaseResult("retirement"))
        result = change.result
        manifest = self.ws.manifest
        for dname, _, role, source in self._serving(spec):
            result.blocked_by.append(
                f"the retirement date {spec.retirement_date} has passed but Deployment/{dname} "
                f"({source}) still serves {spec.version} as {role} without migration: move it "
                f"to {spec.replacement} (the final_migration phase does this), or postpone "
                "retirement_date"
            )
        for rname, rule in sorted(manifest.rules.items()):
            target = manifest.deployments.get(rule.spec.deployment)
            if target is None or target.spec.model != spec.model:
                continue
            for action in rule.spec.actions:
                if isinstance(action, m.RollbackAction) and action.to == spec.version:
                    result.blocked_by.append(
                        f"Rule/{rname} ({manifest.sources[f'Rule/{rname}']}) rolls back to "
                        f"{spec.version}: point it at another version first"
                    )
        model = manifest.models[spec.model]
        model_source = manifest.sources[f"Model/{spec.model}"]
        if model_source.endswith(".j2"):
            result.blocked_by.append(
                f"{model_source} is a template the tool cannot edit: remove version "
                f"{spec.version} by hand"
            )
        if result.blocked_by:
            return change
        index = [v.version for v in model.spec.versions].index(spec.version)
        editor = SpecEditor((self.root / model_source).read_text(encoding="utf-8"), model_source)
        editor.delete_item(("spec", "versions", index))
        plan_source = manifest.sources[f"RetirementPlan/{name}"]
        change.files = {model_source: editor.text, plan_source: None}
        result.edits.append(
            Edit(model_source, f"version {spec.version} removed: retired, its artifact archived")
        )
        result.edits.append(
            Edit(plan_source, f"deleted: the plan is complete (record: {self._state_rel(name)})")
        )
        record = self._recorded()
        still = sorted(
            d.name
            for d in record.deployments.values()
            if d.status == "deployed"
            and d.model == spec.model
            and spec.version in {d.version, d.canary.version if d.canary else None}
        )
        if still:
            result.notes.append(
                f"recorded state still serves {spec.version} in {', '.join(still)}: the plan "
                "moves them before it retires the version"
            )
        return change


def _hold(
    spec: m.RetirementPlanSpec,
    dname: str,
    dspec: m.DeploymentSpec,
    role: str,
    source: str,
    target: int,
    last: dict[str, Any] | None,
    today: str,
) -> str | None:
    """Why a deployment takes no traffic step now: a note, "" (nothing to say), or None."""
    where = f"Deployment/{dname}"
    canary = dspec.canary
    if source.endswith(".j2"):
        return (
            f"{where} ({source}) is a template the tool cannot edit: move its traffic to "
            f"{spec.replacement} by hand"
        )
    if role == "stable" and canary is not None and canary.version != spec.replacement:
        return (
            f"{where}: canary {canary.version} is in progress; traffic moves to "
            f"{spec.replacement} once it ends"
        )
    if target == (canary.traffic if canary else 0):
        return ""  # all the way already: final_migration finishes the move
    now_canary = canary.model_dump(mode="json") if canary else None
    if last is not None and last.get("canary") != now_canary:
        return (
            f"{where}: the canary changed since the tool set it to "
            f"{_canary_text(last.get('canary'))} (now {_canary_text(now_canary)}); not "
            "overriding it: traffic reduction stops here, final_migration still runs"
        )
    if last is not None and last.get("day") == today:
        return ""  # one step per UTC day
    return None


def _applied(recorded: StateView, dname: str, dspec: m.DeploymentSpec) -> bool:
    """Whether the recorded state serves what the spec says (the last step was applied)."""
    record = recorded.deployments.get(dname)
    if record is None or record.status != "deployed" or record.version != dspec.version:
        return False
    now_canary = dspec.canary.model_dump(mode="json") if dspec.canary else None
    return (record.canary.model_dump(mode="json") if record.canary else None) == now_canary


def _config_text(dspec: m.DeploymentSpec) -> str:
    canary = dspec.canary.model_dump(mode="json") if dspec.canary else None
    return dspec.version + (f" + canary {_canary_text(canary)}" if canary else "")


def _unregistered(spec: m.RetirementPlanSpec, where: str) -> str:
    return (
        f"the replacement {spec.model} {spec.replacement} is not registered in the recorded "
        f"state, and {where} needs it: apply its registration first"
    )


def _canary_text(canary: dict[str, Any] | None) -> str:
    return f"{canary['version']} at {canary['traffic']}%" if canary else "none"


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def _write(path: Path, text: str | None) -> None:
    if text is None:
        path.unlink(missing_ok=True)
    else:
        atomic_write(path, text.encode())


def _message(name: str, spec: m.RetirementPlanSpec, result: PhaseResult) -> str:
    lines = [f"mlops-gitops: retirement {name} {result.phase}", ""]
    lines.append(
        f"{spec.model} {spec.version} retires on {spec.retirement_date}, replaced by "
        f"{spec.replacement}."
    )
    lines += [f"- {edit.describe()}" for edit in result.edits]
    lines += [f"- {note}" for note in result.notes]
    lines += ["", f"Mlops-Retirement: {name}", f"Mlops-Phase: {result.phase}"]
    lines += [f"Mlops-Edit: {git.one_line(edit.describe())}" for edit in result.edits]
    return "\n".join(lines) + "\n"


def run_retirements(
    workspace: Workspace, now: datetime, commit: bool = True
) -> list[RetirementOutcome]:
    """Carry out every retirement plan's due phases; see the module docstring."""
    return RetirementRunner(workspace, now, commit).run_all()
