"""Project policies (`spec.policies` of mlops.yaml), enforced on the steps the planner built.

A pure pass: steps in, steps out, no I/O. The planner calls `enforce` once the steps of a plan
exist and before it orders them, so a step a policy blocks blocks its dependents the same way a
failed gate does. Every violation appends one message to the step's `blocked_by` naming the policy
and the values, e.g. `policy max_canary_step 25: canary 1.3.0 traffic 10% -> 50% rises 40 points`.

What each policy governs:

- **Rollbacks are exempt from every policy.** A rollback returns a deployment to a version it
  served before; blocking it would keep a bad version serving.
- `stage_order` + `min_time_in_stage`: a version may enter a deployment of stage S (as stable or
  canary, by deploy or promote, or by raising the deployment's stage; also when its canary
  traffic rises) only after it served the stage before S in `stage_order` for at least
  `min_time_in_stage`, measured from the first time the recorded state saw it serve that stage
  to `now`. With no `min_time_in_stage` (or 0), serving the lower stage earlier in the same plan
  is enough (the step then runs after that one); with a positive one it is not: the time starts
  when that step has been applied. `min_time_in_stage` also applies to the deployment's
  `promotion.requires_stage`. The first stage of `stage_order`, and stages not listed in it, have
  no prerequisite. The check reads the version's history, so it holds wherever the version
  enters a stage again (another deployment of the stage, a canary becoming stable).
- `production_gates`: extra gates for every step that puts a version into a deployment of stage
  `production` or raises its canary traffic there, evaluated like promotion gates (the observed
  number from monitoring wins over the offline one in the model spec, a missing number fails) and
  recorded in the step's `gates` with `policy="production_gates"`. A gate on a metric that does
  not apply to the model's task (a classification metric such as roc_auc for a regression model,
  or mae/rmse/r2 for a classifier) is skipped with a warning on the step instead of blocking it:
  one project-wide list of gates then serves models of both tasks. Metrics of neither family
  (error_rate, latency...) apply to every model.
- `max_canary_step` N: a canary's traffic may rise by at most N percentage points per apply, and
  a new canary (a version that was not the canary before) may start at most at N%. Promoting the
  canary to stable is exempt: as in Flagger, promotion is its own phase, guarded by gates and
  the stage policies, not a traffic step. Lowering or removing a canary is never limited, and a
  stable version replaced directly (no canary) is not a canary step.
- `allowed_formats`: a register step for a version whose format is not listed is blocked.
- `freeze_windows`: a window starts at each match of its cron expression (evaluated in UTC) and
  lasts its duration; while one is open only rollbacks run. A rollback of a canary (the canary
  removed, or its traffic lowered, with nothing else changed) counts as a rollback, so a bad
  canary can still be backed out during a freeze (it is an `update` step, not a `rollback`, in
  the plan). Every other step (registers, deploys, promotes, updates, undeploys, retirements)
  is blocked with the window and the time it ends.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from mlops_gitops.compile.manifest import Manifest
from mlops_gitops.plan.gates import Observations, evaluate
from mlops_gitops.plan.model import GateResult, Step
from mlops_gitops.spec import models as spec_models
from mlops_gitops.spec.signed import Signature, deployment_key, version_key
from mlops_gitops.spec.types import format_duration
from mlops_gitops.state.view import StateView

POLICY = "policy "
"""How every reason this module adds to a step's `blocked_by` starts."""
PRODUCTION = "production"
TASK_METRICS: Mapping[str, frozenset[str]] = {
    "classification": frozenset({"accuracy", "precision", "recall", "f1", "roc_auc"}),
    "regression": frozenset({"mae", "rmse", "r2"}),
}
"""Metrics that only make sense for one task; any other metric applies to every model."""


@dataclass(frozen=True, slots=True)
class OpenWindow:
    """A freeze window that is open at `now`."""

    cron: str
    duration: timedelta
    start: datetime
    end: datetime

    def describe(self) -> str:
        return (
            f'policy freeze_windows {{cron: "{self.cron}", duration: '
            f"{format_duration(self.duration)}}}: frozen since {self.start.isoformat()} until "
            f"{self.end.isoformat()}; only rollbacks run"
        )


def open_windows(windows: Iterable[spec_models.FreezeWindow], now: datetime) -> list[OpenWindow]:
    """The windows open at `now`: the latest cron match at or before now, plus the duration."""
    windows = list(windows)
    if not windows:
        return []
    from croniter import croniter  # lazy: only repositories with freeze windows pay for it

    now = _utc(now)
    # croniter's get_prev is strictly before its base: start one second after now (truncated
    # to the second) so a match exactly at now counts.
    base = now.replace(microsecond=0) + timedelta(seconds=1)
    out = []
    for window in windows:
        start: datetime = croniter(window.cron, base).get_prev(datetime)
        end = start + window.duration
        if start <= now < end:
            out.append(OpenWindow(window.cron, window.duration, start, end))
    return out


@dataclass(frozen=True, slots=True)
class Entry:
    """A version that a step puts into a deployment, or whose canary traffic it raises."""

    model: str
    version: str
    role: str
    """stable or canary."""
    stage: str | None
    deployment: str


def entries(step: Step, manifest: Manifest) -> list[Entry]:
    """What the step changes, read from its before/after (rollbacks and removals: nothing)."""
    if step.object.kind != "Deployment" or step.after is None or step.action == "rollback":
        return []
    before: Mapping[str, Any] = step.before or {}
    after = step.after
    name = step.object.name
    desired = manifest.deployments.get(name)
    model = after.get("model") or (desired.spec.model if desired else "")
    stage = (after.get("settings") or {}).get("stage")
    fresh = (
        not before
        or (before.get("settings") or {}).get("stage") != stage
        or before.get("model", model) != model
    )
    out = []
    if fresh or before.get("version") != after["version"]:
        out.append(Entry(model, after["version"], "stable", stage, name))
    new, old = after.get("canary"), before.get("canary")
    if new is not None and (
        fresh or old is None or old["version"] != new["version"] or new["traffic"] > old["traffic"]
    ):
        out.append(Entry(model, new["version"], "canary", stage, name))
    return out


def is_canary_rollback(step: Step) -> bool:
    """An update that only removes a canary or lowers its traffic."""
    if step.action != "update" or step.object.kind != "Deployment":
        return False
    if not step.before or not step.after:
        return False
    old, new = step.before.get("canary"), step.after.get("canary")
    rest_before = {k: v for k, v in step.before.items() if k != "canary"}
    rest_after = {k: v for k, v in step.after.items() if k != "canary"}
    if old is None or rest_before != rest_after:
        return False
    return new is None or (new["version"] == old["version"] and new["traffic"] < old["traffic"])


class Inputs(Protocol):
    """What `enforce` reads of the planner's inputs (`PlanInputs` has it)."""

    @property
    def manifest(self) -> Manifest: ...
    @property
    def state(self) -> StateView: ...
    @property
    def now(self) -> datetime: ...
    @property
    def observations(self) -> Observations: ...
    @property
    def signatures(self) -> Mapping[str, Signature]: ...


def enforce(steps: Mapping[str, Step], inputs: Inputs) -> dict[str, Step]:
    """The steps with every policy violation recorded; the same steps when no policy is set."""
    policies = inputs.manifest.project.spec.policies
    if policies == spec_models.Policies():
        return dict(steps)
    checker = _Checker(policies, inputs, steps)
    return {sid: checker.check(step) for sid, step in steps.items()}


@dataclass
class _Found:
    blocked: list[str]
    warnings: list[str]
    gates: list[GateResult]
    depends: list[str]


class _Checker:
    def __init__(
        self, policies: spec_models.Policies, inputs: Inputs, steps: Mapping[str, Step]
    ) -> None:
        self.policies = policies
        self.manifest = manifest = inputs.manifest
        self.state = inputs.state
        self.now = now = _utc(inputs.now)
        self.observations = inputs.observations
        self.signatures = inputs.signatures
        self.frozen = [window.describe() for window in open_windows(policies.freeze_windows, now)]
        self.min_time = policies.min_time_in_stage or timedelta(0)
        self.position = {sid: index for index, sid in enumerate(steps)}
        self.entries = {sid: entries(step, manifest) for sid, step in steps.items()}
        self.in_plan: dict[tuple[str, str, str], str] = {}
        """(model, version, stage) -> the first step of this plan serving it in that stage."""
        for sid, found in self.entries.items():
            for entry in found:
                if entry.stage is not None:
                    self.in_plan.setdefault((entry.model, entry.version, entry.stage), sid)

    def check(self, step: Step) -> Step:
        found = _Found([], [], [], [])
        self._signed(step, found)
        if step.action == "rollback":
            return _with(step, found)
        if self.frozen and not is_canary_rollback(step):
            found.blocked += self.frozen
        if step.action == "register":
            self._format(step, found)
        for entry in self.entries[step.id]:
            self._stages(step, entry, found)
            if entry.stage == PRODUCTION and self.policies.production_gates:
                self._production_gates(entry, found)
        self._canary_step(step, found)
        return _with(step, found)

    # ------------------------------------------------------------ require_signed_commits

    def _signed(self, step: Step, found: _Found) -> None:
        rule = self.policies.require_signed_commits
        kinds = ("deploy", "promote", "update", "rollback")
        if rule is None or step.object.kind != "Deployment" or step.action not in kinds:
            return
        stage = ((step.after or {}).get("settings") or {}).get("stage")
        if stage not in rule.stages:
            return
        head = f"policy require_signed_commits ({stage})"
        if step.action == "rollback" or is_canary_rollback(step):
            what = "a rollback" if step.action == "rollback" else "a canary traffic reduction"
            found.warnings.append(f"{head}: not required for {what}")
            return
        name = step.object.name
        keys = [(deployment_key(name), f"the last change to Deployment/{name}'s spec file")]
        keys += [
            (version_key(e.model, e.version), f"the commit adding {e.model} {e.version}")
            for e in self.entries[step.id]
        ]
        for key, what in keys:
            signature = self.signatures.get(key)
            if signature is None:
                found.blocked.append(f"{head}: {what} was not verified")
            elif not signature.verified:
                commit = f" ({signature.commit[:12]})" if signature.commit else ""
                found.blocked.append(
                    f"{head}: {what}{commit} is not signed by an allowed key: {signature.detail}"
                )

    # ------------------------------------------------------------ allowed_formats

    def _format(self, step: Step, found: _Found) -> None:
        allowed = self.policies.allowed_formats
        if allowed is None or step.object.version is None:
            return
        fmt = (step.after or {}).get("format")
        if fmt is None:
            spec = self.manifest.version(step.object.name, step.object.version)
            fmt = spec.format if spec else None
        if fmt not in allowed:
            found.blocked.append(
                f"policy allowed_formats [{', '.join(allowed)}]: version "
                f"{step.object.version} of {step.object.name} is {fmt}"
            )

    # ------------------------------------------------------------ stage_order, min_time_in_stage

    def _stages(self, step: Step, entry: Entry, found: _Found) -> None:
        order = self.policies.stage_order
        stage = entry.stage
        if stage is None:
            return
        required: list[tuple[str, str]] = []
        if stage in order and order.index(stage) > 0:
            required.append((order[order.index(stage) - 1], f"stage_order ({' -> '.join(order)})"))
        if self.min_time:
            desired = self.manifest.deployments.get(entry.deployment)
            needed = desired.spec.promotion.requires_stage if desired else None
            if needed is not None and needed != stage and needed not in (r for r, _ in required):
                required.append((needed, f"requires_stage of Deployment/{entry.deployment}"))
        for lower, why in required:
            problem = self._served(step, entry, lower, why, found)
            if problem:
                found.blocked.append(problem)

    def _served(self, step: Step, entry: Entry, lower: str, why: str, found: _Found) -> str | None:
        """Why `entry` may not enter its stage yet for want of `lower`, or None."""
        who = f"{entry.model} {entry.version}"
        recorded, since = self._since(entry.model, entry.version, lower)
        in_plan = self.in_plan.get((entry.model, entry.version, lower))
        before_me = in_plan is not None and self.position[in_plan] < self.position[step.id]
        if not self.min_time:
            if since is not None:
                return None
            if in_plan is not None and before_me:
                found.depends.append(in_plan)
                return None
            return (
                f"policy {why}: {who} must serve a {lower} deployment before entering "
                f"{entry.stage}; it has not"
            )
        head = (
            f"policy min_time_in_stage {format_duration(self.min_time)}, {why}: {who} must "
            f"serve {lower} for {format_duration(self.min_time)} before entering {entry.stage}"
        )
        if since is None:
            if recorded is not None:
                return f"{head}; its recorded {lower} time {recorded!r} is not a valid time"
            note = f" (entering {lower} in this plan does not count)" if in_plan else ""
            return f"{head}; it has not served {lower} yet{note}"
        served = self.now - since
        if served >= self.min_time:
            return None
        shown = format_duration(max(served, timedelta(0)))
        return (
            f"{head}; it has served {lower} since {since.isoformat()} ({shown}), "
            f"long enough at {(since + self.min_time).isoformat()}"
        )

    def _since(self, model: str, version: str, stage: str) -> tuple[str | None, datetime | None]:
        record = self.state.models.get(model)
        entry = record.versions.get(version) if record else None
        recorded = entry.stages.get(stage) if entry else None
        if recorded is None:
            return None, None
        try:
            return recorded, _utc(datetime.fromisoformat(recorded.replace("Z", "+00:00")))
        except ValueError:
            return recorded, None

    # ------------------------------------------------------------ production_gates

    def _production_gates(self, entry: Entry, found: _Found) -> None:
        model = self.manifest.models.get(entry.model)
        task = model.spec.task if model else None
        foreign: set[str] = set()
        for other, metrics in TASK_METRICS.items():
            if task is not None and other != task:
                foreign |= metrics
        gates = {}
        for metric, threshold in self.policies.production_gates.items():
            if metric in foreign:
                found.warnings.append(
                    f"policy production_gates: {metric} {threshold} skipped for {entry.model} "
                    f"{entry.version}: {metric} does not apply to a {task} model"
                )
            else:
                gates[metric] = threshold
        spec = self.manifest.version(entry.model, entry.version)
        source = self.manifest.sources.get(f"Model/{entry.model}", "spec")
        results = evaluate(
            gates,
            version=entry.version,
            offline=dict(spec.metrics) if spec else {},
            observed=self.observations.get((entry.model, entry.version), {}),
            offline_source=f"offline metrics in {source}",
            policy="production_gates",
        )
        found.gates += results
        for gate in results:
            if not gate.passed:
                shown = "no value" if gate.value is None else f"{gate.value:g}"
                found.blocked.append(
                    f"policy production_gates: {gate.metric} {gate.op} {gate.threshold:g} for "
                    f"{entry.model} {entry.version}: {shown} ({gate.source})"
                )

    # ------------------------------------------------------------ max_canary_step

    def _canary_step(self, step: Step, found: _Found) -> None:
        limit = self.policies.max_canary_step
        if limit is None or step.object.kind != "Deployment" or step.after is None:
            return
        new = step.after.get("canary")
        if new is None:
            return
        old = (step.before or {}).get("canary")
        fresh = old is None or old["version"] != new["version"]
        start = 0 if old is None or fresh else int(old["traffic"])
        rise = new["traffic"] - start
        if rise > limit:
            what = f" (a new canary starts at most at {limit}%)" if fresh else ""
            found.blocked.append(
                f"policy max_canary_step {limit}: canary {new['version']} traffic "
                f"{start}% -> {new['traffic']}% rises {rise} points{what}"
            )


def _with(step: Step, found: _Found) -> Step:
    if not (found.blocked or found.warnings or found.gates or found.depends):
        return step
    return replace(
        step,
        status="blocked" if found.blocked else step.status,
        blocked_by=(*step.blocked_by, *found.blocked),
        gates=(*step.gates, *found.gates),
        depends_on=tuple(dict.fromkeys((*step.depends_on, *found.depends))),
        warnings=(*step.warnings, *found.warnings),
    )


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
