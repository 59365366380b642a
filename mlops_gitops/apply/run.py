"""One apply: lock, journal, steps, serial, commit. Re-running after a crash finishes the job."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from mlops_gitops import fsguard, git
from mlops_gitops.apply.executor import Context, Outcome, fault_point, run_steps
from mlops_gitops.apply.journal import Journal
from mlops_gitops.errors import MlopsError
from mlops_gitops.plan.model import Plan
from mlops_gitops.plan.policies import POLICY
from mlops_gitops.safeio import read_json
from mlops_gitops.state import lock
from mlops_gitops.workspace import JOURNAL_FILE, LOCK_FILE, Workspace

PAST = {
    "register": "registered",
    "deploy": "deployed",
    "promote": "promoted",
    "rollback": "rolled back",
    "retire": "retired",
    "update": "updated",
    "undeploy": "undeployed",
}


class StalePlan(MlopsError):
    pass


class DirtyTree(MlopsError):
    pass


MAX_LISTED = 20


def check_clean(workspace: Workspace, allow_dirty: bool) -> list[str]:
    """The files planning reads that are not as committed; refused unless `allow_dirty`.
    Git is the truth: what is applied must be what the recorded spec commit holds."""
    dirty = workspace.dirty()
    if dirty and not allow_dirty:
        listed = ", ".join(dirty[:MAX_LISTED])
        more = f" (and {len(dirty) - MAX_LISTED} more)" if len(dirty) > MAX_LISTED else ""
        raise DirtyTree(
            f"uncommitted changes in files the specs are read from: {listed}{more}",
            hint="commit them (apply acts on committed specs only), or run with --allow-dirty, "
            "which records Mlops-Spec-Dirty: true",
        )
    return dirty


@dataclass
class ApplyResult:
    plan: Plan
    outcomes: list[Outcome]
    commit: str | None = None
    serial: int | None = None
    resumed: bool = False
    warnings: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if any(o.status == "failed" for o in self.outcomes):
            return 1
        if any(o.status in ("blocked", "skipped") for o in self.outcomes):
            return 3
        return 0

    def counts(self) -> Counter[str]:
        return Counter(o.status for o in self.outcomes)

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": "1",
            "commit": self.commit,
            "serial": self.serial,
            "resumed": self.resumed,
            "steps": [
                {
                    "id": o.step.id,
                    "action": o.step.action,
                    "object": o.step.object.to_json(),
                    "status": o.status,
                    "message": o.message,
                    "warnings": o.warnings,
                }
                for o in self.outcomes
            ],
            "summary": dict(sorted(self.counts().items())),
            "warnings": self.warnings,
        }


MAX_PLAN_BYTES = 256 << 20
"""A saved plan of 30,000 steps is about 15 MB."""


def load_plan_file(path: Path) -> Plan:
    try:
        data = read_json(path, MAX_PLAN_BYTES)  # a regular file, within the JSON budgets
        if not isinstance(data, dict):
            raise ValueError(f"holds a JSON {type(data).__name__}, not a plan")
        if not isinstance(data.get("targets", []), list):
            raise ValueError("targets is not a list")
        if data.get("format_version") != "1":
            raise ValueError(f"unsupported plan format_version {data.get('format_version')!r}")
        return Plan.from_json(data)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise MlopsError(f"cannot read plan file {path}: {exc}") from None


def check_fresh(saved: Plan, current: Plan) -> None:
    """A saved plan applies only to the commit, specs and state it was made from."""
    problems = []
    if saved.base_commit != current.base_commit:
        problems.append(f"HEAD is {current.base_commit}, the plan was made on {saved.base_commit}")
    if saved.inputs_sha256 != current.inputs_sha256:
        problems.append("the spec files changed since the plan was made")
    if saved.lineage != current.lineage:
        problems.append(
            f"the state lineage is {current.lineage}, the plan expected {saved.lineage}"
        )
    if saved.serial != current.serial:
        problems.append(f"the state serial is {current.serial}, the plan expected {saved.serial}")
    # Policies bound to the clock (freeze windows, min_time_in_stage) are checked at apply time.
    held = {s.id: [w for w in s.blocked_by if w.startswith(POLICY)] for s in current.blocked()}
    late = [step.id for step in saved.ready() if held.get(step.id)]
    if late and not problems:
        more = f" (and {len(late) - 1} more)" if len(late) > 1 else ""
        problems.append(f"step {late[0]} is blocked now: {'; '.join(held[late[0]])}{more}")
    if problems:
        raise StalePlan("plan is stale: " + "; ".join(problems), hint="run plan again")


LISTED_STEPS = 100
"""Steps listed for people in an apply's commit message; the trailers name every step (the
audit record `history` reads). Listing all 30,000 steps of a large first apply doubled a
message of megabytes that git reads whenever it opens the commit."""


def commit_message(
    steps: list[dict[str, Any]],
    spec_commit: str | None,
    serial: int | None,
    spec_dirty: bool = False,
) -> str:
    counts = Counter(entry["trailer"].split(" ", 1)[0] for entry in steps)
    summary = ", ".join(f"{n} {PAST.get(action, action)}" for action, n in sorted(counts.items()))
    lines = [f"mlops-gitops: apply ({summary})", ""]
    listed = steps[:LISTED_STEPS]
    lines += [f"- {entry['trailer']}: {git.one_line(entry['reason'])}" for entry in listed]
    if len(steps) > len(listed):
        lines.append(f"- and {len(steps) - len(listed)} more (every step is a trailer below)")
    lines.append("")
    for entry in steps:
        lines.append(f"Mlops-Step: {git.one_line(entry['trailer'])}")
        lines.append(f"Mlops-Reason: {git.one_line(entry['reason'])}")
    if spec_commit:
        lines.append(f"Mlops-Spec-Commit: {spec_commit}")
    if spec_dirty:
        lines.append("Mlops-Spec-Dirty: true")
    if serial is not None:
        lines.append(f"Mlops-Serial: {serial}")
    return "\n".join(lines) + "\n"


def apply(
    workspace: Workspace,
    now: datetime,
    plan_file: Path | None = None,
    commit: bool = True,
    lock_timeout: float = 0.0,
    targets: Sequence[str] = (),
    allow_dirty: bool = False,
) -> ApplyResult:
    """`targets` (`Kind/NAME`): run only their steps and what they depend on."""
    root = workspace.root
    spec_dirty = _preflight(workspace, plan_file, commit, targets, allow_dirty)
    with lock.hold(root / LOCK_FILE, "apply", lock_timeout, root) as held:
        _sweep(workspace)
        journal, resumed = Journal.open(root, root / JOURNAL_FILE, now.isoformat())
        current = workspace.plan(now)
        plan, warnings = _chosen_plan(workspace, current, journal, resumed, plan_file, targets)
        ctx = Context(
            repo_root=root,
            manifest=workspace.manifest,
            state=workspace.state_store,
            store=workspace.artifact_store,
            now=now,
            spec_commit=current.base_commit,
            rendered_dir=workspace.project.rendered_dir,
        )
        outcomes = run_steps(ctx, plan, journal)
        if spec_dirty:
            warnings.append("applied uncommitted spec changes (--allow-dirty); recorded as such")
        result = ApplyResult(plan=plan, outcomes=outcomes, resumed=resumed, warnings=warnings)
        if journal.completed():
            lock.check_held(root / LOCK_FILE, held)
            _record(workspace, journal, result, current.base_commit, now, commit, spec_dirty)
        journal.close()
        return result


def _preflight(
    workspace: Workspace,
    plan_file: Path | None,
    commit: bool,
    targets: Sequence[str],
    allow_dirty: bool,
) -> bool:
    """Everything that can refuse the run before the lock is taken; whether the specs
    applied are dirty (allowed)."""
    root = workspace.root
    if targets and plan_file is not None:
        raise MlopsError(
            "--target cannot be combined with a plan file",
            hint="a plan saved with plan --target -o already holds only its targets' steps",
        )
    spec_dirty = bool(check_clean(workspace, allow_dirty))
    if commit and not git.is_repo(root):
        raise MlopsError(
            f"{root} is not a git repository", hint="run git init, or apply with --no-commit"
        )
    if commit and workspace.project.git.author:
        # Checked before any step runs: failing at commit time would leave state uncommitted.
        git.parse_author(workspace.project.git.author)
    return spec_dirty


def _chosen_plan(
    workspace: Workspace,
    current: Plan,
    journal: Journal,
    resumed: bool,
    plan_file: Path | None,
    targets: Sequence[str],
) -> tuple[Plan, list[str]]:
    """The plan to run: the current one (limited to `targets`), a saved one still fresh, or
    on resuming the current one; with warnings about interrupted steps."""
    warnings = []
    if resumed:
        unknown = journal.settle({s.id for s in current.steps}, current.inputs_sha256)
        warnings += [
            f"step {step_id} was interrupted and the specs changed since; "
            "check `mlops-gitops status`"
            for step_id in unknown
        ]
    else:
        journal.inputs_sha256 = current.inputs_sha256
        journal.base_serial = current.serial
    plan = workspace.limit(current, targets)
    if plan_file is not None:
        plan = load_plan_file(plan_file)
        if not resumed:
            check_fresh(plan, current)
        else:
            plan = current
    return plan, warnings


def _record(
    workspace: Workspace,
    journal: Journal,
    result: ApplyResult,
    spec_commit: str | None,
    now: datetime,
    commit: bool,
    spec_dirty: bool,
) -> None:
    """Advance the state's serial once for the completed steps, then commit state and
    rendered manifests; each point is journaled so a crash between them resumes."""
    root = workspace.root
    store = workspace.state_store
    done = journal.completed()
    if journal.meta_serial is None:
        fault_point("before-serial")
        serial = None if journal.base_serial is None else journal.base_serial + 1
        meta = store.bump(
            store.load(), spec_commit, now.isoformat(timespec="seconds"), serial, spec_dirty
        )
        journal.record_serial(meta.serial)
    result.serial = journal.meta_serial
    if commit:
        fault_point("before-commit")
        paths = [workspace.project.state_dir, f"{workspace.project.rendered_dir}/kserve"]
        existing = [p for p in paths if (root / p).exists() or git.tracked(root, [p])]
        result.commit = git.commit(
            root,
            existing,
            commit_message(done, spec_commit, journal.meta_serial, spec_dirty),
            workspace.project.git.author,
        )
        fault_point("after-commit")


def _sweep(workspace: Workspace) -> None:
    """A killed apply may have left temp files of atomic writes: never commit them."""
    root = workspace.root
    state_root = workspace.state_store.root
    for folder in (state_root, state_root / "models", state_root / "deployments"):
        fsguard.sweep_temp_files(root, folder)
    fsguard.sweep_temp_files(root, root / workspace.project.rendered_dir / "kserve")
    workspace.artifact_store.sweep()
