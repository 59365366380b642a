"""Retirement phases decided with plain values: specs, recorded state, progress and the clock in;
the spec edits a phase makes, its notes and what blocks it out. No I/O, like the planner, so
every rule of the schedule (see `automate/retirement.py`) is tested without a repository.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from mlops_gitops.compile.manifest import Manifest
from mlops_gitops.safeio import dumps
from mlops_gitops.spec import models as spec_models
from mlops_gitops.state.progress import CanaryMark, RetirementProgress, TrafficMark
from mlops_gitops.state.view import StateView

DEFAULT_CANARY_STEP = 25
PhaseStatus = Literal["done", "started", "stepped", "waiting", "skipped", "blocked"]
Role = Literal["stable", "canary"]


@dataclass(frozen=True)
class Edit:
    """A file a phase changes, and how, in words (commit message, outcome)."""

    path: str
    change: str

    def describe(self) -> str:
        return f"{self.path}: {self.change}"

    def to_json(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class SpecOp:
    """One comment-preserving edit of a spec file, carried out by the runner."""

    source: str
    kind: Literal["set", "delete_key", "insert_key", "delete_item", "delete_file"]
    path: tuple[str | int, ...] = ()
    value: Any = None
    key: str = ""
    after: str | None = None


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
class Decision:
    """A phase's intended effect: its result, its spec edits, and the progress to record."""

    result: PhaseResult
    ops: list[SpecOp] = field(default_factory=list)
    record: bool = True
    """Whether progress is recorded (and so a commit is made)."""
    traffic: dict[str, TrafficMark] | None = None
    """The new per-deployment traffic marks, when the phase stepped traffic."""


@dataclass(frozen=True)
class Inputs:
    plan: str
    spec: spec_models.RetirementPlanSpec
    manifest: Manifest
    recorded: StateView
    progress: RetirementProgress
    now: datetime
    record: str
    """Where the plan's progress is recorded, named when the plan's file is deleted."""
    step: int = DEFAULT_CANARY_STEP
    """Points of traffic per daily step: the Project's max_canary_step, or 25."""


@dataclass(frozen=True)
class Serving:
    """A deployment whose spec serves the retiring version."""

    name: str
    spec: spec_models.DeploymentSpec
    role: Role
    source: str


def serving(manifest: Manifest, spec: spec_models.RetirementPlanSpec) -> list[Serving]:
    out = []
    for name, deployment in sorted(manifest.deployments.items()):
        dspec = deployment.spec
        if dspec.model != spec.model:
            continue
        source = manifest.sources[f"Deployment/{name}"]
        if dspec.version == spec.version:
            out.append(Serving(name, dspec, "stable", source))
        elif dspec.canary is not None and dspec.canary.version == spec.version:
            out.append(Serving(name, dspec, "canary", source))
    return out


def registered(recorded: StateView, model: str, version: str) -> bool:
    record = recorded.models.get(model)
    entry = record.versions.get(version) if record else None
    return entry is not None and entry.status == "registered"


def decide(inputs: Inputs, phase: str, active: str | None) -> Decision | None:
    """What `phase` (already started) does in this run; None when it has nothing left to do."""
    done = inputs.progress.phases.get(phase)
    if phase == "traffic_reduction":
        if active == phase:
            return traffic(inputs)
        if done is not None:
            return None
        result = PhaseResult(phase, "skipped")
        result.notes.append(
            f"skipped: the phase ended before it could run (now in {active or '-'})"
        )
        return Decision(result)
    if done is not None:
        return None
    if phase == "deprecation_warning":
        return deprecation(inputs)
    if phase == "final_migration":
        return migration(inputs)
    return retirement(inputs)


def deprecation(inputs: Inputs) -> Decision:
    spec = inputs.spec
    result = PhaseResult("deprecation_warning")
    result.notes.append(
        f"{spec.model} {spec.version} is deprecated; it retires on {spec.retirement_date}, "
        f"replaced by {spec.replacement}"
    )
    return Decision(result)


def traffic(inputs: Inputs) -> Decision:
    spec, step = inputs.spec, inputs.step
    result = PhaseResult("traffic_reduction", "waiting")
    decision = Decision(result)
    today = inputs.now.astimezone(UTC).date().isoformat()
    moved = dict(inputs.progress.traffic)
    found = serving(inputs.manifest, spec)
    more = False
    for served in found:
        canary = served.spec.canary
        current = canary.traffic if canary else 0
        up = served.role == "stable"
        target = min(current + step, 100) if up else max(current - step, 0)
        hold = _hold(spec, served, target, moved.get(served.name), today)
        if hold is None and up and not registered(inputs.recorded, spec.model, spec.replacement):
            result.blocked_by.append(_unregistered(spec, f"Deployment/{served.name}"))
            continue
        if hold is None and not applied(inputs.recorded, served.name, served.spec):
            hold = (
                f"Deployment/{served.name}: waiting until the spec ({_config_text(served.spec)}) "
                "is applied before the next step"
            )
        if hold is not None:
            if hold:
                result.notes.append(hold)
            continue
        source = served.source
        if canary is None:
            value = f"{{version: {dumps(spec.replacement)}, traffic: {target}}}"
            decision.ops += [
                SpecOp(source, "delete_key", ("spec", "canary")),  # an explicit `canary: null`
                SpecOp(source, "insert_key", ("spec",), value, key="canary", after="version"),
            ]
            what = f"canary {spec.replacement} added at {target}% ({spec.version} stable)"
        else:
            decision.ops.append(SpecOp(source, "set", ("spec", "canary", "traffic"), target))
            what = f"canary {canary.version} traffic {current}% -> {target}%"
        result.edits.append(Edit(source, what))
        more = more or 0 < target < 100
        version = canary.version if canary else spec.replacement
        moved[served.name] = TrafficMark(
            day=today, time=inputs.now, canary=CanaryMark(version=version, traffic=target)
        )
    first = "traffic_reduction" not in inputs.progress.phases
    if result.edits:
        result.status = "stepped"
        decision.traffic = moved
        if more:
            tomorrow = (inputs.now.astimezone(UTC).date() + timedelta(days=1)).isoformat()
            result.notes.append(f"next step of {step} points on {tomorrow} at the earliest")
    elif first:
        result.status = "started"
        if not found:
            result.notes.append(f"no deployment serves {spec.version}")
    decision.record = bool(result.edits) or first
    return decision


def migration(inputs: Inputs) -> Decision:
    spec = inputs.spec
    result = PhaseResult("final_migration")
    decision = Decision(result)
    found = serving(inputs.manifest, spec)
    if not found:
        result.notes.append(f"no deployment serves {spec.version}: nothing to migrate")
    for served in found:
        if served.source.endswith(".j2"):
            result.blocked_by.append(
                f"Deployment/{served.name} ({served.source}) serves {spec.version} and is a "
                f"template the tool cannot edit: set it to {spec.replacement} by hand"
            )
    needs_replacement = any(s.role == "stable" for s in found)
    if needs_replacement and not registered(inputs.recorded, spec.model, spec.replacement):
        result.blocked_by.append(_unregistered(spec, "the migration"))
    if result.blocked_by:
        return decision
    for served in found:
        canary, source = served.spec.canary, served.source
        if served.role == "stable":
            decision.ops.append(SpecOp(source, "set", ("spec", "version"), spec.replacement))
            what = f"version {spec.version} -> {spec.replacement}"
            if canary is not None and canary.version == spec.replacement:
                decision.ops.append(SpecOp(source, "delete_key", ("spec", "canary")))
                what += f", canary {spec.replacement} ({canary.traffic}%) removed: now stable"
            elif canary is not None:
                result.notes.append(f"Deployment/{served.name}: canary {canary.version} kept")
        else:
            assert canary is not None
            decision.ops.append(SpecOp(source, "delete_key", ("spec", "canary")))
            what = f"canary {spec.version} ({canary.traffic}%) removed"
        result.edits.append(Edit(source, what))
    return decision


def retirement(inputs: Inputs) -> Decision:
    spec, manifest = inputs.spec, inputs.manifest
    result = PhaseResult("retirement")
    decision = Decision(result)
    for served in serving(manifest, spec):
        result.blocked_by.append(
            f"the retirement date {spec.retirement_date} has passed but "
            f"Deployment/{served.name} ({served.source}) still serves {spec.version} as "
            f"{served.role} without migration: move it to {spec.replacement} (the "
            "final_migration phase does this), or postpone retirement_date"
        )
    result.blocked_by += _rules_rolling_back_to(manifest, spec)
    model_source = manifest.sources[f"Model/{spec.model}"]
    if model_source.endswith(".j2"):
        result.blocked_by.append(
            f"{model_source} is a template the tool cannot edit: remove version "
            f"{spec.version} by hand"
        )
    if result.blocked_by:
        return decision
    versions = [v.version for v in manifest.models[spec.model].spec.versions]
    index = versions.index(spec.version)
    plan_source = manifest.sources[f"RetirementPlan/{inputs.plan}"]
    decision.ops += [
        SpecOp(model_source, "delete_item", ("spec", "versions", index)),
        SpecOp(plan_source, "delete_file"),
    ]
    result.edits.append(
        Edit(model_source, f"version {spec.version} removed: retired, its artifact archived")
    )
    result.edits.append(
        Edit(plan_source, f"deleted: the plan is complete (record: {inputs.record})")
    )
    still = sorted(
        d.name
        for d in inputs.recorded.deployments.values()
        if d.status == "deployed"
        and d.model == spec.model
        and spec.version in {d.version, d.canary.version if d.canary else None}
    )
    if still:
        result.notes.append(
            f"recorded state still serves {spec.version} in {', '.join(still)}: the plan "
            "moves them before it retires the version"
        )
    return decision


def _rules_rolling_back_to(manifest: Manifest, spec: spec_models.RetirementPlanSpec) -> list[str]:
    out = []
    for rname, rule in sorted(manifest.rules.items()):
        target = manifest.deployments.get(rule.spec.deployment)
        if target is None or target.spec.model != spec.model:
            continue
        for action in rule.spec.actions:
            if isinstance(action, spec_models.RollbackAction) and action.to == spec.version:
                out.append(
                    f"Rule/{rname} ({manifest.sources[f'Rule/{rname}']}) rolls back to "
                    f"{spec.version}: point it at another version first"
                )
    return out


def _hold(
    spec: spec_models.RetirementPlanSpec,
    served: Serving,
    target: int,
    last: TrafficMark | None,
    today: str,
) -> str | None:
    """Why a deployment takes no traffic step now: a note, "" (nothing to say), or None."""
    where = f"Deployment/{served.name}"
    canary = served.spec.canary
    if served.source.endswith(".j2"):
        return (
            f"{where} ({served.source}) is a template the tool cannot edit: move its traffic "
            f"to {spec.replacement} by hand"
        )
    if served.role == "stable" and canary is not None and canary.version != spec.replacement:
        return (
            f"{where}: canary {canary.version} is in progress; traffic moves to "
            f"{spec.replacement} once it ends"
        )
    if target == (canary.traffic if canary else 0):
        return ""  # all the way already: final_migration finishes the move
    now_canary = _served(canary)
    then_canary = last.canary.model_dump(mode="json") if last and last.canary else None
    if last is not None and then_canary != now_canary:
        return (
            f"{where}: the canary changed since the tool set it to {_canary_text(then_canary)} "
            f"(now {_canary_text(now_canary)}); not overriding it: traffic reduction stops "
            "here, final_migration still runs"
        )
    if last is not None and last.day == today:
        return ""  # one step per UTC day
    return None


def applied(recorded: StateView, name: str, dspec: spec_models.DeploymentSpec) -> bool:
    """Whether the recorded state serves what the spec says (the last step was applied)."""
    record = recorded.deployments.get(name)
    if record is None or record.status != "deployed" or record.version != dspec.version:
        return False
    now_canary = _served(dspec.canary)
    return (record.canary.model_dump(mode="json") if record.canary else None) == now_canary


def _served(canary: spec_models.Canary | None) -> dict[str, Any] | None:
    """What serves of a canary: its steps and analysis only steer reconcile's edits."""
    return {"version": canary.version, "traffic": canary.traffic} if canary else None


def _config_text(dspec: spec_models.DeploymentSpec) -> str:
    canary = _served(dspec.canary)
    return dspec.version + (f" + canary {_canary_text(canary)}" if canary else "")


def _unregistered(spec: spec_models.RetirementPlanSpec, where: str) -> str:
    return (
        f"the replacement {spec.model} {spec.replacement} is not registered in the recorded "
        f"state, and {where} needs it: apply its registration first"
    )


def _canary_text(canary: dict[str, Any] | None) -> str:
    return f"{canary['version']} at {canary['traffic']}%" if canary else "none"
