"""Canary analysis decisions: plain values in, a decision out. No I/O (the runner does it).

Per canary with `steps`, each reconcile either waits (with the reason: too few samples, the
interval not over, an inconclusive comparison, a freeze window) or counts one analysis per
interval: every check passed -> the next step, or promotion after the last one; any check
failed -> one more failure, and at `max_failures` the canary is aborted.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from mlops_gitops.spec import models as spec_models
from mlops_gitops.spec.types import format_duration
from mlops_gitops.state.progress import AnalysisMark, CanaryProgress, CheckMark

HISTORY_LIMIT = 30
Action = Literal["wait", "step", "promote", "fail", "abort"]
Status = Literal["pass", "fail", "wait"]


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: Status
    detail: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Decision:
    deployment: str
    version: str
    action: Action
    reason: str
    traffic: int
    """The canary's traffic after the decision (the new step, or as it was)."""
    progress: CanaryProgress
    checks: tuple[CheckResult, ...] = field(default_factory=tuple)

    def line(self) -> str:
        return f"canary {self.version} on {self.deployment}: {self.action}: {self.reason}"

    def to_json(self) -> dict[str, Any]:
        return {
            "deployment": self.deployment,
            "version": self.version,
            "action": self.action,
            "reason": self.reason,
            "traffic": self.traffic,
            "failures": self.progress.failures,
            "checks": [c.to_json() for c in self.checks],
        }


def start(
    name: str, canary: spec_models.Canary, progress: CanaryProgress | None, now: datetime
) -> CanaryProgress:
    """The record to continue from: a new one for a new canary version."""
    if progress is not None and progress.version == canary.version:
        return progress
    return CanaryProgress(deployment=name, version=canary.version, started=now, last_step=now)


def waiting(
    canary: spec_models.Canary, progress: CanaryProgress, samples: int, now: datetime
) -> str | None:
    """Why no analysis counts now, or None when one is due."""
    analysis = canary.analysis
    assert analysis is not None
    # The canary may have run for a while before reconcile first saw it: the first analysis
    # needs only the samples; later ones wait an interval after the last.
    due = progress.last_analysis + analysis.interval if progress.last_analysis else now
    if now < due:
        return (
            f"waiting: next analysis at {due.isoformat(timespec='minutes')} "
            f"(interval {format_duration(analysis.interval)})"
        )
    got = max(0, samples - progress.samples_at_step)
    if got < analysis.min_samples:
        return (
            f"waiting: {got} of {analysis.min_samples} samples per version "
            f"at {canary.traffic}% traffic"
        )
    return None


def judge_compare(
    name: str, entry: dict[str, Any] | None, mark: CheckMark
) -> tuple[CheckResult, CheckMark]:
    """A `compare:` check from its report entry; the running minima of its p-values."""
    if entry is None:
        return CheckResult(name, "wait", "not in the report yet"), mark
    if "unavailable" in entry:
        return CheckResult(name, "wait", f"unavailable: {entry['unavailable']}"), mark
    if "ratio" in entry:
        status: Status = "pass" if entry.get("passed") else "fail"
        detail = (
            f"canary {entry['canary']:.4g} / stable {entry['stable']:.4g} = {entry['ratio']:.3f}"
        )
        return CheckResult(name, status, detail), mark
    mark = CheckMark(
        p_pass=min(mark.p_pass, float(entry["p_pass"])),
        p_fail=min(mark.p_fail, float(entry["p_fail"])),
    )
    alpha = float(entry["alpha"])
    est = entry["estimate"]
    low, high = entry["confidence_sequence"]
    numbers = (
        f"delta {est['delta']:+.4f} ({(1 - alpha):.0%} CS {low:+.4f} .. {high:+.4f}), "
        f"p_pass {mark.p_pass:.3g}, p_fail {mark.p_fail:.3g}, "
        f"n {est['n_canary']}/{est['n_stable']}"
    )
    if mark.p_pass <= alpha:
        return CheckResult(name, "pass", numbers), mark
    if mark.p_fail <= alpha:
        return CheckResult(name, "fail", numbers), mark
    return CheckResult(name, "wait", f"inconclusive: {numbers}"), mark


def judge_bound(
    name: str, value: float | None, low: float | None, high: float | None, missing: str
) -> CheckResult:
    """A threshold check (`metric:` or `prometheus:`) on one number."""
    if value is None:
        return CheckResult(name, "wait", missing)
    if high is not None and value > high:
        return CheckResult(name, "fail", f"{value:.6g} above {high:g}")
    if low is not None and value < low:
        return CheckResult(name, "fail", f"{value:.6g} below {low:g}")
    return CheckResult(name, "pass", f"{value:.6g} within bounds")


def next_traffic(canary: spec_models.Canary, max_step: int | None) -> tuple[int | None, str]:
    """The traffic of the next step (None: promote) and what the policy did to it."""
    steps = canary.steps or []
    upcoming = [s for s in steps if s > canary.traffic]
    if not upcoming or canary.traffic >= 100:
        return None, ""
    target = upcoming[0]
    if max_step is not None and target - canary.traffic > max_step:
        capped = canary.traffic + max_step
        return capped, f" (policy max_canary_step {max_step}: {target}% capped to {capped}%)"
    return target, ""


def conclude(
    name: str,
    canary: spec_models.Canary,
    progress: CanaryProgress,
    results: list[CheckResult],
    samples: int,
    now: datetime,
    evidence: str | None,
    frozen: list[str],
    max_step: int | None,
) -> Decision:
    """The decision of an analysis that is due: step, promote, fail, abort, or wait."""
    analysis = canary.analysis
    assert analysis is not None
    base = Decision(name, canary.version, "wait", "", canary.traffic, progress, tuple(results))
    failed = [r.name for r in results if r.status == "fail"]
    if failed:
        failures = progress.failures + 1
        mark = AnalysisMark(time=now, traffic=canary.traffic, outcome="failed", evidence=evidence)
        counted = replace_progress(progress, failures=failures, last_analysis=now, mark=mark)
        action: Action = "abort" if failures >= analysis.max_failures else "fail"
        reason = (
            f"failed analysis {failures} of {analysis.max_failures} allowed: {', '.join(failed)}"
        )
        if action == "abort":
            reason += "; removing the canary"
        traffic = 0 if action == "abort" else canary.traffic
        return replace(base, action=action, reason=reason, progress=counted, traffic=traffic)
    pending = [r for r in results if r.status == "wait"]
    if pending:
        why = "; ".join(f"{r.name}: {r.detail}" for r in pending)
        return replace(base, reason=f"waiting: {why}")
    if frozen:
        return replace(base, reason=f"waiting: all checks passed, but {'; '.join(frozen)}")
    target, capped = next_traffic(canary, max_step)
    mark = AnalysisMark(time=now, traffic=canary.traffic, outcome="passed", evidence=evidence)
    counted = replace_progress(
        progress, last_analysis=now, last_step=now, samples_at_step=samples, mark=mark
    )
    if target is None:
        return replace(
            base,
            action="promote",
            reason=f"all {len(results)} checks passed at {canary.traffic}%; promoting",
            traffic=100,
            progress=counted,
        )
    return replace(
        base,
        action="step",
        reason=f"all {len(results)} checks passed: {canary.traffic}% -> {target}%{capped}",
        traffic=target,
        progress=counted,
    )


def replace_progress(
    progress: CanaryProgress, mark: AnalysisMark, **changes: Any
) -> CanaryProgress:
    analyses = [*progress.analyses[-(HISTORY_LIMIT - 1) :], mark]
    return progress.model_copy(update=changes | {"analyses": analyses})
