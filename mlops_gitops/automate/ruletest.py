"""`rule test RULE [--report FILE]`: would the rule act now, and why; changes nothing.

The report may be any file the user points at, so it is read like attacker input: a regular
file within a size budget, JSON within a depth budget, then the report contract
(`report_model`), which refuses a wrong type anywhere and names the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from mlops_gitops import report_model
from mlops_gitops.automate.rules import RuleOutcome, RuleRunner
from mlops_gitops.errors import MlopsError
from mlops_gitops.report_model import MonitoringReport, parse_report
from mlops_gitops.safeio import read_json
from mlops_gitops.workspace import Workspace


@dataclass(frozen=True)
class RuleTest:
    outcome: RuleOutcome
    actions: list[str]
    """The rule's actions, as it would run them when it acts."""

    @property
    def would_act(self) -> bool:
        return self.outcome.evaluation.fired

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": "1",
            **self.outcome.evaluation.to_json(),
            "would_act": self.would_act,
            "actions": self.actions,
        }


def try_rule(workspace: Workspace, name: str, now: datetime, report: Path | None) -> RuleTest:
    rule = workspace.manifest.rules.get(name)
    if rule is None:
        known = ", ".join(sorted(workspace.manifest.rules)) or "none"
        raise MlopsError(f"rule {name!r} is not defined in the specs", hint=f"known rules: {known}")
    if report is None:  # the committed report, read as reconcile reads it: refused the same
        latest = Path(workspace.project.reports_dir) / rule.spec.deployment / "latest.json"
        report_model.read_report(workspace.root / latest, str(latest))
        given = None
    else:
        found = read_report(report, str(report))
        if found.deployment != rule.spec.deployment:
            raise MlopsError(
                f"report {report} is of deployment {found.deployment!r}; rule {name!r} watches "
                f"{rule.spec.deployment!r}"
            )
        given = (found, str(report))
    outcome, _ = RuleRunner(workspace, now, commit=False, dry_run=True).judge(name, rule, given)
    return RuleTest(outcome, [_action(a) for a in rule.spec.actions])


def _action(action: Any) -> str:
    shown = [f"{k}={v}" for k, v in action.model_dump(exclude_defaults=True).items() if k != "type"]
    return " ".join([action.type, *(s for s in shown if not s.startswith("url="))])


def read_report(path: Path, shown: str) -> MonitoringReport:
    """A monitoring report, checked before it is judged; `shown`: its name in messages."""
    try:
        data = read_json(path)  # the budgets reconcile reads committed reports with
    except OSError as exc:
        raise MlopsError(f"cannot read report {shown}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise MlopsError(f"report {shown}: {exc}") from None
    return parse_report(data, f"report {shown}")
