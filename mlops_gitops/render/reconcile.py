"""Reconcile runs as text and JSON: every phase's decisions, in the order they ran."""

from __future__ import annotations

from mlops_gitops.automate.dryrun import DryRun
from mlops_gitops.automate.reconcile import ReconcileResult
from mlops_gitops.automate.retirement import RetirementOutcome
from mlops_gitops.render.apply import counts_text
from mlops_gitops.render.base import Lines, Paint, document, plain
from mlops_gitops.render.plan import plan_text


def reconcile_text(
    result: ReconcileResult, paint: Paint = plain, pushed: bool = False, dry: bool = False
) -> str:
    """`pushed`: whether the run was asked to push (then the push outcome is shown); `dry`:
    a `--dry-run` preview, whose rules would act rather than acted."""
    out = Lines(paint)
    _monitor(out, result)
    _rules(out, result, dry)
    for retirement in result.retirements:
        style = "red" if retirement.blocked_by else "yellow" if retirement.acted else "dim"
        out.add(retirement_summary(retirement), style)
        for line in retirement_details(retirement):
            out.add(f"  {line}")
    _canaries(out, result)
    _apply(out, result)
    applied = result.apply
    quiet = not any(o.changed for o in result.monitor) and not any(r.acted for r in result.rules)
    quiet = quiet and not any(r.acted for r in result.retirements)
    quiet = quiet and not result.canaries
    if quiet and (applied is None or not applied.outcomes):
        out.add("Nothing to do: no new data, no rule fired, recorded state matches the specs.")
    for note in result.notes:
        out.add(f"note: {note}")
    if pushed:
        attempts = f"pushed after {result.push_attempts} attempt(s)"
        out.add(attempts if result.pushed else "not pushed")
    return out.text()


def _monitor(out: Lines, result: ReconcileResult) -> None:
    for outcome in result.monitor:
        if outcome.changed:
            share = outcome.report.drift.share_drifted if outcome.report else 0.0
            committed = f", committed {outcome.commit[:12]}" if outcome.commit else ""
            out.add(
                f"monitor {outcome.deployment}: {outcome.new_records} new records, "
                f"drift share {share:.2f}{committed}"
            )


def _rules(out: Lines, result: ReconcileResult, dry: bool) -> None:
    for rule in result.rules:
        for line in rule.log_lines:
            out.add(line)
        fired = "fired, not acting" if rule.evaluation.fired else "quiet"
        verdict = ("WOULD ACT" if dry else "ACTED") if rule.acted else fired
        out.add(
            f"rule {rule.evaluation.rule}: {verdict}: {rule.evaluation.explanation}",
            "yellow" if rule.acted else "dim",
        )
        for action in rule.actions:
            detail = action.get("detail") or action.get("error") or ""
            out.add(f"  {action['type']}: {detail}")


def _canaries(out: Lines, result: ReconcileResult) -> None:
    for canary in result.canaries:
        for line in canary.log_lines:
            out.add(line)
        style = "red" if canary.decision.action in ("fail", "abort") else "yellow"
        out.add(canary.decision.line(), style if canary.acted else "dim")
        for check in canary.decision.checks:
            out.add(f"  {check.name}: {check.status}: {check.detail}")
        if canary.commit:
            out.add(f"  committed {canary.commit[:12]}")


def _apply(out: Lines, result: ReconcileResult) -> None:
    applied = result.apply
    if applied is not None and applied.outcomes:
        committed = f", committed {applied.commit[:12]}" if applied.commit else ""
        out.add(f"apply: {counts_text(applied)}{committed}")
        for outcome in applied.outcomes:
            if outcome.status != "done":
                step = outcome.step
                out.add(f"  {outcome.status} {step.action} {step.object}: {outcome.message}")


def retirement_summary(outcome: RetirementOutcome) -> str:
    head = (
        f"retirement {outcome.plan}: {outcome.model} {outcome.version} -> "
        f"{outcome.replacement} on {outcome.retirement_date}"
    )
    if outcome.active_phase is None:
        upcoming = outcome.next_phase or {}
        return f"{head}: scheduled, {upcoming.get('name')} starts {upcoming.get('starts')}"
    done = ", ".join(f"{p.phase} {p.status}" for p in outcome.phases) or "nothing due"
    return f"{head}: phase {outcome.active_phase}: {outcome.status.upper()} ({done})"


def retirement_details(outcome: RetirementOutcome) -> list[str]:
    lines = []
    for result in outcome.phases:
        lines += [f"{result.phase}: edited {e.describe()}" for e in result.edits]
        lines += [f"{result.phase}: {note}" for note in result.notes]
        lines += [f"{result.phase}: BLOCKED: {why}" for why in result.blocked_by]
        if result.commit:
            lines.append(f"{result.phase}: committed {result.commit[:12]}")
    return lines


def reconcile_json(result: ReconcileResult) -> str:
    return document(result.to_json())


def dry_run_text(result: DryRun, paint: Paint = plain) -> str:
    """The phases' decisions as reconcile prints them, then the plan apply would carry out and
    the commits the run would make."""
    out = Lines(paint)
    out.add("Dry run of reconcile: nothing is changed, sent, applied or committed.", "bold")
    text = out.text() + reconcile_text(result.phases, paint, dry=True)
    out = Lines(paint)
    if result.plan is not None:
        out.add("")
        out.add("apply would carry out this plan:", "bold")
    body = plan_text(result.plan, paint) if result.plan is not None else ""
    tail = Lines(paint)
    tail.add("")
    if result.commits:
        tail.add(f"reconcile would make {len(result.commits)} commit(s) before apply's:", "bold")
        for commit in result.commits:
            tail.add(f"  {commit.subject}")
            tail.add(f"    files: {', '.join(commit.files)}")
    else:
        tail.add("reconcile would make no commit before apply's.")
    if result.plan is not None and result.plan.ready():
        tail.add("apply would then commit the recorded state of the ready steps.")
    return text + out.text() + body + tail.text()


def dry_run_json(result: DryRun) -> str:
    return document(result.to_json())
