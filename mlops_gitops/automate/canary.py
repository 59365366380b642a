"""The canary analysis phase of `reconcile`: judge, then step, promote or abort by commit.

Decisions come from `automate/analysis.py`; this module reads the report, asks Prometheus,
edits the deployment's spec (comments kept) and commits it with the progress record, the
trailers `Mlops-Analysis` and `Mlops-Evidence`. Plan and apply then carry the change out,
under the same policies as a human's edit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mlops_gitops import fsguard, git
from mlops_gitops.automate import alerts, analysis
from mlops_gitops.errors import MlopsError
from mlops_gitops.monitor.canary import check_name
from mlops_gitops.plan.policies import open_windows
from mlops_gitops.providers import prometheus
from mlops_gitops.safeio import read_json
from mlops_gitops.spec import models as spec_models
from mlops_gitops.spec.edit import SpecEditor
from mlops_gitops.state.progress import (
    CanaryProgress,
    CheckMark,
    progress_bytes,
    read_progress,
    restore_hint,
)
from mlops_gitops.workspace import Workspace


@dataclass
class CanaryOutcome:
    decision: analysis.Decision
    evidence: str | None = None
    commit: str | None = None
    log_lines: list[str] = field(default_factory=list)

    @property
    def acted(self) -> bool:
        return self.decision.action in ("step", "promote", "abort")

    def to_json(self) -> dict[str, Any]:
        return self.decision.to_json() | {"evidence": self.evidence, "commit": self.commit}


class CanaryRunner:
    def __init__(self, workspace: Workspace, now: datetime, commit: bool = True) -> None:
        self.ws = workspace
        self.now = now
        self.root = workspace.root
        self.commit = commit and git.is_repo(workspace.root)
        self.state_dir = workspace.project.state_dir

    def run_all(self) -> list[CanaryOutcome]:
        out = []
        for name, deployment in sorted(self.ws.manifest.deployments.items()):
            canary = deployment.spec.canary
            if canary is None or not canary.steps or deployment.spec.suspend:
                continue
            out.append(self.run(name, deployment.spec, canary))
        return out

    def _rel(self, name: str) -> str:
        return f"{self.state_dir}/canaries/{name}.json"

    def _progress(self, name: str) -> CanaryProgress | None:
        rel = self._rel(name)
        found = read_progress(self.root / rel, rel, CanaryProgress)
        if found is not None and found.deployment != name:
            raise MlopsError(
                f"{rel}: records deployment {found.deployment!r}", hint=restore_hint(rel)
            )
        return found

    def run(
        self, name: str, spec: spec_models.DeploymentSpec, canary: spec_models.Canary
    ) -> CanaryOutcome:
        stored = self._progress(name)
        progress = analysis.start(name, canary, stored, self.now)
        report, evidence = self._report(name)
        samples = _samples(report, spec, canary)
        why = analysis.waiting(canary, progress, samples, self.now)
        if why is not None:
            decision = analysis.Decision(
                name, canary.version, "wait", why, canary.traffic, progress
            )
        else:
            results, marks = self._judge(name, spec, canary, report, progress)
            progress = progress.model_copy(update={"checks": marks})
            policies = self.ws.project.policies
            frozen = [w.describe() for w in open_windows(policies.freeze_windows, self.now)]
            decision = analysis.conclude(
                name,
                canary,
                progress,
                results,
                samples,
                self.now,
                evidence,
                frozen,
                policies.max_canary_step,
            )
        outcome = CanaryOutcome(decision, evidence)
        if decision.progress != stored:
            self._carry_out(name, spec, canary, outcome)
        return outcome

    def _report(self, name: str) -> tuple[dict[str, Any] | None, str | None]:
        rel = f"{self.ws.project.reports_dir}/{name}/latest.json"
        path = self.root / rel
        if not path.is_file() or path.is_symlink():
            return None, None
        try:
            report = read_json(path)
        except (OSError, ValueError):
            return None, None
        commits = git.log(self.root, [rel], max_count=1) if git.is_repo(self.root) else []
        sha = commits[0].sha[:12] if commits else "uncommitted"
        return (report if isinstance(report, dict) else None), f"{rel}@{sha}"

    def _judge(
        self,
        name: str,
        spec: spec_models.DeploymentSpec,
        canary: spec_models.Canary,
        report: dict[str, Any] | None,
        progress: CanaryProgress,
    ) -> tuple[list[analysis.CheckResult], dict[str, CheckMark]]:
        assert canary.analysis is not None
        entries = {e.get("name"): e for e in _report_checks(report)}
        own = ((report or {}).get("versions") or {}).get(canary.version) or {}
        marks = dict(progress.checks)
        results = []
        for check in canary.analysis.checks:
            if isinstance(check, spec_models.CompareCheck):
                label = check_name(check)
                result, marks[label] = analysis.judge_compare(
                    label, entries.get(label), marks.get(label, CheckMark())
                )
            elif isinstance(check, spec_models.MetricCheck):
                label = f"{check.metric} of the canary"
                value = metric_value(own, check.metric)
                result = analysis.judge_bound(
                    label, value, check.min, check.max, f"no {check.metric} in the report yet"
                )
            else:
                query = prometheus.fill(check.prometheus, name, spec.version, canary.version)
                answer = prometheus.instant(self.ws.project, query)
                label = f"prometheus {check.prometheus[:80]}"
                result = analysis.judge_bound(
                    label, answer.value, check.min, check.max, answer.problem or "no data"
                )
            results.append(result)
        return results, marks

    def _carry_out(
        self,
        name: str,
        spec: spec_models.DeploymentSpec,
        canary: spec_models.Canary,
        outcome: CanaryOutcome,
    ) -> None:
        decision = outcome.decision
        rel = self._rel(name)
        paths = [rel]
        if decision.action in ("promote", "abort"):
            fsguard.remove(self.root, self.root / rel)  # a later canary starts afresh
        else:
            fsguard.write(self.root, self.root / rel, progress_bytes(decision.progress))
        if decision.action in ("step", "promote", "abort"):
            paths.append(self._edit(name, spec, canary, decision))
        if decision.action == "abort":
            paths += self._alert(name, outcome)
        if self.commit:
            outcome.commit = git.commit(
                self.root, paths, _message(outcome), self.ws.project.git.author
            )

    def _edit(
        self,
        name: str,
        spec: spec_models.DeploymentSpec,
        canary: spec_models.Canary,
        decision: analysis.Decision,
    ) -> str:
        source = self.ws.manifest.sources[f"Deployment/{name}"]
        if source.endswith(".j2"):
            raise MlopsError(f"{source} is a template; the canary analysis cannot edit it")
        editor = SpecEditor((self.root / source).read_text(encoding="utf-8"), source)
        if decision.action == "step":
            editor.set_scalar(("spec", "canary", "traffic"), decision.traffic)
        elif decision.action == "promote":
            editor.set_scalar(("spec", "version"), canary.version)
            editor.delete_key(("spec", "canary"))
        else:
            editor.delete_key(("spec", "canary"))
        fsguard.write(self.root, self.root / source, editor.text.encode())
        return source

    def _alert(self, name: str, outcome: CanaryOutcome) -> list[str]:
        text = f"{outcome.decision.line()} (evidence {outcome.evidence or 'none'})"
        paths = []
        for channel in ("log", "file"):
            action = spec_models.AlertAction(type="send_alert", channel=channel)
            sent = alerts.send(action, text, {"deployment": name}, self.root, self.now)
            outcome.log_lines.extend(sent.lines)
            if sent.path:
                paths.append(sent.path)
        return paths


def _report_checks(report: dict[str, Any] | None) -> list[dict[str, Any]]:
    found = ((report or {}).get("comparison") or {}).get("checks")
    return [e for e in found if isinstance(e, dict)] if isinstance(found, list) else []


def metric_value(entry: dict[str, Any], metric: str) -> float | None:
    """A per-version number of the report: error_rate, records, accuracy, latency_p99_ms."""
    value: Any = entry.get(metric)
    if value is None:
        value = (entry.get("performance") or {}).get(metric)
    if value is None and metric.startswith("latency_") and metric.endswith("_ms"):
        value = (entry.get("latency_ms") or {}).get(metric[8:-3])
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _samples(
    report: dict[str, Any] | None, spec: spec_models.DeploymentSpec, canary: spec_models.Canary
) -> int:
    """Records of the scarcer of the two versions in the report's window."""
    versions = (report or {}).get("versions") or {}
    counts = []
    for version in (spec.version, canary.version):
        records = (versions.get(version) or {}).get("records")
        counts.append(records if isinstance(records, int) else 0)
    return min(counts)


def _message(outcome: CanaryOutcome) -> str:
    d = outcome.decision
    head = {
        "step": f"canary {d.version} on {d.deployment}: traffic -> {d.traffic}%",
        "promote": f"canary {d.version} on {d.deployment}: promoted to stable",
        "abort": f"canary {d.version} on {d.deployment}: aborted",
        "fail": f"canary {d.version} on {d.deployment}: analysis failed",
        "wait": f"canary {d.version} on {d.deployment}: analysis progress",
    }[d.action]
    lines = [f"mlops-gitops: {head}", ""]
    lines += [f"- {c.name}: {c.status}: {c.detail}" for c in d.checks]
    lines += ["", f"Mlops-Analysis: {git.one_line(d.action + ': ' + d.reason)[:400]}"]
    if outcome.evidence:
        lines.append(f"Mlops-Evidence: {outcome.evidence}")
    return "\n".join(lines) + "\n"


def run_canaries(workspace: Workspace, now: datetime, commit: bool = True) -> list[CanaryOutcome]:
    return CanaryRunner(workspace, now, commit).run_all()
