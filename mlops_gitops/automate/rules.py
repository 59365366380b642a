"""Rules act on what monitoring saw: spec edits committed with their evidence, and alerts.

Actions that change desired state edit the deployment's file (comments kept) and commit it
with the rule's name, the evidence (`reports/<d>/latest.json@<commit>`) and the numbers;
plan and apply then carry the change out like a human's. State remembers what each rule
acted on, so the same evidence never acts twice, and a rule never undoes a change made
after the report it is judging.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlops_gitops import fsguard, git
from mlops_gitops.automate import alerts
from mlops_gitops.automate.triggers import Evaluation, evaluate_rule, watched_version
from mlops_gitops.errors import MlopsError
from mlops_gitops.report_model import MonitoringReport, ReportError, parse_report, read_report
from mlops_gitops.safeio import dumps, loads
from mlops_gitops.spec import models as spec_models
from mlops_gitops.spec.edit import SpecEditor
from mlops_gitops.state.progress import (
    Firing,
    RuleProgress,
    progress_bytes,
    read_progress,
    restore_hint,
)
from mlops_gitops.urls import redact_url
from mlops_gitops.workspace import Workspace

HISTORY_LIMIT = 20


@dataclass
class RuleOutcome:
    evaluation: Evaluation
    acted: bool = False
    actions: list[dict[str, Any]] = field(default_factory=list)
    commit: str | None = None
    log_lines: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            **self.evaluation.to_json(),
            "acted": self.acted,
            "actions": self.actions,
            "commit": self.commit,
        }


class RuleRunner:
    def __init__(
        self, workspace: Workspace, now: datetime, commit: bool = True, dry_run: bool = False
    ) -> None:
        self.dry_run = dry_run
        """Alerts are not sent and pipelines not trained, only described (`--dry-run`)."""
        self.ws = workspace
        self.now = now
        self.commit = commit and git.is_repo(workspace.root)
        self.root = workspace.root
        self.state_dir = workspace.project.state_dir

    def _state_path(self, name: str) -> Path:
        return self.root / self.state_dir / "rules" / f"{name}.json"

    def _state(self, name: str) -> RuleProgress:
        rel = f"{self.state_dir}/rules/{name}.json"
        found = read_progress(self._state_path(name), rel, RuleProgress)
        if found is None:
            return RuleProgress(rule=name)
        if found.rule != name:
            raise MlopsError(
                f"{rel}: records rule {found.rule!r}, not {name!r}",
                hint=restore_hint(rel),
            )
        return found

    def _report(self, deployment: str) -> tuple[MonitoringReport | None, str, str | None]:
        """The latest report and its commit. An unreadable one is an error: acting on half a
        report, or on none while one is there, would both be wrong."""
        rel = f"{self.ws.project.reports_dir}/{deployment}/latest.json"
        report = read_report(self.root / rel, rel)
        if report is None:
            return None, rel, None
        commits = git.log(self.root, [rel], max_count=1) if git.is_repo(self.root) else []
        sha = commits[0].sha if commits else None
        return report, rel, sha

    def run_all(self, deployment: str | None = None) -> list[RuleOutcome]:
        outcomes = []
        for name, rule in sorted(self.ws.manifest.rules.items()):
            if deployment is not None and rule.spec.deployment != deployment:
                continue
            outcomes.append(self.run(name, rule))
        return outcomes

    def run(self, name: str, rule: spec_models.Rule) -> RuleOutcome:
        outcome, report = self.judge(name, rule)
        if outcome.evaluation.fired:
            self._fire(name, rule, report, outcome)
        return outcome

    def judge(
        self, name: str, rule: spec_models.Rule, given: tuple[MonitoringReport, str] | None = None
    ) -> tuple[RuleOutcome, MonitoringReport | None]:
        """Whether the rule would act now, and why (or why not); changes nothing.

        `given`: a report and its name to judge instead of the deployment's latest one
        (`rule test --report`); the checks against the deployment's git history then do not
        apply, since the report is not a committed one.
        """
        spec = rule.spec
        deployment = self.ws.manifest.deployments[spec.deployment]
        if given is None:
            try:
                report, rel, sha = self._report(spec.deployment)
            except ReportError as exc:  # this rule cannot judge; the others still run
                return RuleOutcome(Evaluation(name, spec.deployment, False, str(exc))), None
            evidence = f"{rel}@{sha[:12] if sha else 'uncommitted'}" if report else None
        else:
            (report, rel), sha = given, None
            evidence = rel
        state = self._state(name)
        version = watched_version(report, deployment.spec) if report else None
        entry = self.ws.manifest.version(deployment.spec.model, version) if version else None
        evaluation = evaluate_rule(
            name,
            spec,
            deployment.spec,
            report,
            rel,
            dict(entry.metrics) if entry else {},
            self.now,
            state.last_schedule_run,
            state.last_fired,
            self._live(spec, deployment.spec, rel, sha),
        )
        evaluation = Evaluation(
            evaluation.rule,
            evaluation.deployment,
            evaluation.fired,
            evaluation.explanation,
            evaluation.triggers,
            evidence,
        )
        outcome = RuleOutcome(evaluation)
        if not evaluation.fired:
            return outcome, report
        schedule_only = all(t.type == "schedule" for t in evaluation.triggers if t.fired)
        seen = _fingerprint(report)
        if not schedule_only and seen is not None and seen == state.last_data:
            outcome.evaluation = _why(
                evaluation, f"already acted on this data ({state.last_evidence})"
            )
            return outcome, report
        newer = self._changed_since(deployment, sha)
        if newer and not schedule_only and _changes_desired_state(spec):
            outcome.evaluation = _why(
                evaluation,
                f"the deployment changed after the evidence (commit {newer[:12]}); "
                "waiting for a report on the new configuration",
            )
            return outcome, report
        stale = self._no_data_since_change(deployment, rel, report) if given is None else None
        if stale and not schedule_only and _changes_desired_state(spec):
            outcome.evaluation = _why(
                evaluation,
                f"the report has no records newer than the deployment's last change (commit "
                f"{stale[:12]}); waiting for data on the new configuration",
            )
            return outcome, report
        return outcome, report

    def _fire(
        self,
        name: str,
        rule: spec_models.Rule,
        report: MonitoringReport | None,
        outcome: RuleOutcome,
    ) -> None:
        evaluation = outcome.evaluation
        deployment = self.ws.manifest.deployments[rule.spec.deployment]
        state = self._state(name)
        evidence = evaluation.evidence
        schedule_only = all(t.type == "schedule" for t in evaluation.triggers if t.fired)
        seen = _fingerprint(report)
        self._act(name, rule, deployment, outcome)
        scheduled = any(t.type == "schedule" and t.fired for t in evaluation.triggers)
        firing = Firing(
            time=self.now, evidence=evidence, actions=[a["type"] for a in outcome.actions]
        )
        new_state = RuleProgress(
            rule=name,
            last_fired=self.now,
            last_evidence=state.last_evidence if schedule_only else evidence,
            last_data=state.last_data if schedule_only else seen,
            last_schedule_run=self.now if scheduled else state.last_schedule_run,
            fired=[*state.fired[-(HISTORY_LIMIT - 1) :], firing],
        )
        fsguard.write(self.root, self._state_path(name), progress_bytes(new_state))
        outcome.acted = True
        if self.commit:
            paths = [f"{self.state_dir}/rules/{name}.json"]
            paths += sorted({a["path"] for a in outcome.actions if a.get("path")})
            outcome.commit = git.commit(
                self.root, paths, self._message(name, rule, outcome), self.ws.project.git.author
            )

    def _live(
        self,
        spec: spec_models.RuleSpec,
        deployment: spec_models.DeploymentSpec,
        rel: str,
        sha: str | None,
    ) -> dict[str, Any]:
        """What some triggers need beyond the report: Prometheus answers, the previous report."""
        from mlops_gitops.providers import prometheus

        live: dict[str, Any] = {"prometheus": {}}
        canary = deployment.canary.version if deployment.canary else None
        for trigger in spec.triggers:
            if isinstance(trigger, spec_models.PrometheusTrigger):
                query = prometheus.fill(trigger.query, spec.deployment, deployment.version, canary)
                answer = prometheus.instant(self.ws.project, query)
                live["prometheus"][trigger.query] = (answer.value, answer.problem)
            elif getattr(trigger, "compare_to", None) == "previous_window" and sha:
                live["previous_report"] = self._previous_report(rel, sha)
        return live

    def _previous_report(self, rel: str, sha: str) -> MonitoringReport | None:
        commits = git.log(self.root, [rel], max_count=2)
        if len(commits) < 2 or not commits[0].sha.startswith(sha):
            return None
        try:
            return parse_report(loads(git.show(self.root, commits[1].sha, rel)), rel)
        except (MlopsError, ValueError):
            return None  # no readable previous report: nothing to compare with

    def _changed_since(
        self, deployment: spec_models.Deployment, evidence_sha: str | None
    ) -> str | None:
        """A commit after the evidence that touched the deployment's file, if any."""
        if not evidence_sha or not git.is_repo(self.root):
            return None
        source = self.ws.manifest.sources.get(f"Deployment/{deployment.metadata.name}")
        if not source:
            return None
        out = git.run(self.root, "log", "--format=%H", f"{evidence_sha}..HEAD", "--", source)
        commits = out.split()
        return commits[0] if commits else None

    def _no_data_since_change(
        self, deployment: spec_models.Deployment, rel: str, report: MonitoringReport | None
    ) -> str | None:
        """The deployment file's last commit, when the report's window ends no later than the
        report as it stood at that commit: a re-report of old data (e.g. after a new version
        was added) judges the configuration before the change, not the change."""
        source = self.ws.manifest.sources.get(f"Deployment/{deployment.metadata.name}")
        if not report or not source or not git.is_repo(self.root):
            return None
        changes = git.log(self.root, [source], max_count=1)
        if not changes:
            return None
        try:
            then = parse_report(loads(git.show(self.root, changes[0].sha, rel)), rel)
        except (MlopsError, ValueError):
            return None  # no (readable) report yet when the deployment last changed
        end_then = _window_end(then)
        end_now = _window_end(report)
        if end_then is None or end_now is None or end_now > end_then:
            return None
        return changes[0].sha

    def _act(
        self,
        name: str,
        rule: spec_models.Rule,
        deployment: spec_models.Deployment,
        outcome: RuleOutcome,
    ) -> None:
        dname = deployment.metadata.name
        source = self.ws.manifest.sources[f"Deployment/{dname}"]
        editor: SpecEditor | None = None
        spec = deployment.spec
        message = f"rule {name} on {dname}: {outcome.evaluation.explanation}"
        for action in rule.spec.actions:
            record: dict[str, Any] = {"type": action.type}
            try:
                if self.dry_run and isinstance(
                    action, spec_models.AlertAction | spec_models.RetrainAction
                ):
                    record |= _described(action)
                elif isinstance(action, spec_models.AlertAction):
                    result = alerts.send(
                        action,
                        message,
                        {
                            "rule": name,
                            "deployment": dname,
                            "evidence": outcome.evaluation.evidence,
                            "triggers": [
                                t.to_json() for t in outcome.evaluation.triggers if t.fired
                            ],
                        },
                        self.root,
                        self.now,
                        allow_private=self.ws.project.security.allow_private_webhooks,
                    )
                    record |= {
                        "channel": result.channel,
                        "delivered": result.delivered,
                        "detail": result.detail,
                    }
                    if result.path:
                        record["path"] = result.path
                    outcome.log_lines.extend(result.lines)
                elif isinstance(action, spec_models.RetrainAction):
                    from mlops_gitops.train.pipeline import run as train

                    trained = train(self.ws, action.pipeline, self.now, commit=self.commit)
                    record |= {"pipeline": action.pipeline, "version": trained.version}
                    if trained.ok:
                        record["detail"] = f"trained {trained.model} {trained.version}" + (
                            f" (commit {trained.commit[:12]})" if trained.commit else ""
                        )
                    else:
                        record["error"] = "training failed: " + "; ".join(trained.failures)
                else:
                    if source.endswith(".j2"):
                        raise MlopsError(f"{source} is a template; the rule cannot edit it")
                    if editor is None:
                        editor = SpecEditor(
                            (self.root / source).read_text(encoding="utf-8"), source
                        )
                    record |= _edit(editor, action, spec, self.ws, dname)
                    record["path"] = source
            except MlopsError as exc:
                record |= {"error": exc.message}
            outcome.actions.append(record)
        if editor is not None:
            fsguard.write(self.root, self.root / source, editor.text.encode())

    def _message(self, name: str, rule: spec_models.Rule, outcome: RuleOutcome) -> str:
        dname = rule.spec.deployment
        done = ", ".join(_describe(a) for a in outcome.actions)
        lines = [f"mlops-gitops: rule {name} on {dname}: {done}"[:200], ""]
        lines += [f"- {t.explanation}" for t in outcome.evaluation.triggers if t.fired]
        lines.append("")
        lines.append(f"Mlops-Rule: {name}")
        lines.append(f"Mlops-Deployment: {dname}")
        if outcome.evaluation.evidence:
            lines.append(f"Mlops-Evidence: {outcome.evaluation.evidence}")
        for trigger in outcome.evaluation.triggers:
            if trigger.fired:
                value = "" if trigger.value is None else f" {trigger.value:.6g}"
                limit = "" if trigger.threshold is None else f" threshold {trigger.threshold:g}"
                lines.append(f"Mlops-Trigger: {trigger.type}{value}{limit}")
        for action in outcome.actions:
            lines.append(f"Mlops-Action: {git.one_line(_describe(action))}")
        return "\n".join(lines) + "\n"


def _fingerprint(report: MonitoringReport | None) -> str | None:
    """The data a report judged: the same window re-reported (e.g. after a config change)
    is the same evidence, so a rule never acts twice on it."""
    if report is None:
        return None
    import hashlib

    window = report.window
    key = [window.start, window.end, window.records, window.labelled]
    return hashlib.sha256(dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def _window_end(report: MonitoringReport) -> datetime | None:
    try:
        end = datetime.fromisoformat(str(report.window.end))
    except ValueError:
        return None
    return end if end.tzinfo else end.replace(tzinfo=UTC)


def _describe(action: dict[str, Any]) -> str:
    text: str = action["type"]
    for key in ("to", "canary_traffic", "min_replicas", "max_replicas", "pipeline", "channel"):
        if key in action:
            text += f" {key}={action[key]}"
    if "error" in action:
        text += f" (failed: {action['error']})"
    return text


def _described(action: spec_models.AlertAction | spec_models.RetrainAction) -> dict[str, Any]:
    """What an action with effects outside the repository would do, without doing it."""
    if isinstance(action, spec_models.RetrainAction):
        return {"pipeline": action.pipeline, "detail": f"would train pipeline {action.pipeline}"}
    where = f" to {redact_url(str(action.url))}" if action.url else ""
    return {"channel": action.channel, "detail": f"would send a {action.channel} alert{where}"}


def _why(evaluation: Evaluation, reason: str) -> Evaluation:
    return Evaluation(
        evaluation.rule,
        evaluation.deployment,
        False,
        f"{evaluation.explanation}; not acting: {reason}",
        evaluation.triggers,
        evaluation.evidence,
    )


def _changes_desired_state(spec: spec_models.RuleSpec) -> bool:
    return any(
        isinstance(
            a, spec_models.RollbackAction | spec_models.TrafficAction | spec_models.ScaleAction
        )
        for a in spec.actions
    )


def _edit(
    editor: SpecEditor, action: Any, spec: spec_models.DeploymentSpec, ws: Workspace, name: str
) -> dict[str, Any]:
    if isinstance(action, spec_models.RollbackAction):
        if action.to is None and spec.canary is not None:
            editor.delete_key(("spec", "canary"))
            return {"to": spec.version, "detail": f"canary {spec.canary.version} removed"}
        if action.to is None:
            # Without a canary, "the previous version" may be one a person or a rule already
            # moved away from; flipping between versions on persistent input drift is worse
            # than doing nothing. Rolling the stable version back needs an explicit target.
            return {
                "skipped": True,
                "detail": "no canary to roll back; set `to:` on the action to roll the stable "
                "version back",
            }
        target = action.to
        editor.set_scalar(("spec", "version"), target)
        if spec.canary is not None:
            editor.delete_key(("spec", "canary"))
        return {"to": target, "detail": f"spec.version {spec.version} -> {target}"}
    if isinstance(action, spec_models.TrafficAction):
        if spec.canary is None:
            raise MlopsError("the deployment has no canary to shift traffic from")
        editor.set_scalar(("spec", "canary", "traffic"), action.canary_traffic)
        return {
            "canary_traffic": action.canary_traffic,
            "detail": f"canary traffic {spec.canary.traffic}% -> {action.canary_traffic}%",
        }
    if isinstance(action, spec_models.ScaleAction):
        text = editor.text
        try:
            editor.set_scalar(("spec", "scaling", "min_replicas"), action.min_replicas)
            editor.set_scalar(("spec", "scaling", "max_replicas"), action.max_replicas)
        except MlopsError:
            editor.text = text
            value = f"{{min_replicas: {action.min_replicas}, max_replicas: {action.max_replicas}}}"
            if editor.delete_key(("spec", "scaling")):
                pass
            editor.insert_key(("spec",), "scaling", value)
        was = f"{spec.scaling.min_replicas}-{spec.scaling.max_replicas}"
        return {
            "min_replicas": action.min_replicas,
            "max_replicas": action.max_replicas,
            "detail": f"replicas {was} -> {action.min_replicas}-{action.max_replicas}",
        }
    raise MlopsError(f"unknown action {getattr(action, 'type', action)!r}")


def run_rules(
    workspace: Workspace,
    now: datetime,
    deployment: str | None = None,
    commit: bool = True,
    dry_run: bool = False,
) -> list[RuleOutcome]:
    return RuleRunner(workspace, now, commit, dry_run).run_all(deployment)
