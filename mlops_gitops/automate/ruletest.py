"""`rule test RULE [--report FILE]`: would the rule act now, and why; changes nothing.

The report may be any file the user points at, so it is read like attacker input: a regular
file within a size budget, JSON within a depth budget, and the fields the triggers read
checked for their types before any trigger sees them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from mlops_gitops.automate.rules import RuleOutcome, RuleRunner
from mlops_gitops.errors import MlopsError
from mlops_gitops.report_model import MonitoringReport, parse_report
from mlops_gitops.safeio import read_json
from mlops_gitops.spec.metricnames import PERFORMANCE
from mlops_gitops.workspace import Workspace

MAX_REPORT_BYTES = 8 * 1024 * 1024
MAX_REPORT_DEPTH = 16
QUANTILES = frozenset({"p50", "p95", "p99"})


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
    if report is None:  # the committed report is repository content: checked the same way
        latest = Path(workspace.project.reports_dir) / rule.spec.deployment / "latest.json"
        if (workspace.root / latest).is_file():
            read_report(workspace.root / latest, str(latest))
        given = None
    else:
        given = (read_report(report, str(report)), str(report))
    outcome, _ = RuleRunner(workspace, now, commit=False, dry_run=True).judge(name, rule, given)
    return RuleTest(outcome, [_action(a) for a in rule.spec.actions])


def _action(action: Any) -> str:
    shown = [f"{k}={v}" for k, v in action.model_dump(exclude_defaults=True).items() if k != "type"]
    return " ".join([action.type, *(s for s in shown if not s.startswith("url="))])


def read_report(path: Path, shown: str) -> MonitoringReport:
    """A monitoring report, checked before it is judged; `shown`: its name in messages."""
    try:
        data = read_json(path, MAX_REPORT_BYTES, MAX_REPORT_DEPTH)
    except OSError as exc:
        raise MlopsError(f"cannot read report {shown}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise MlopsError(f"report {shown}: {exc}") from None
    problem = report_problem(data)
    if problem:
        raise MlopsError(
            f"report {shown}: {problem}",
            hint="pass a latest.json written by `mlops-gitops monitor`",
        )
    return parse_report(data, f"report {shown}")


def _number(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def _numbers(value: Any, where: str, keys: frozenset[str]) -> str | None:
    """`value` is an object whose `keys` that are present hold numbers (or null)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        return f"{where} is not an object"
    for key in sorted(keys & value.keys()):
        if not _number(value[key]):
            return f"{where}.{key} is not a number"
    return None


def report_problem(data: Any) -> str | None:
    """The first field the triggers read that has the wrong type, if any."""
    if not isinstance(data, dict):
        return "is not a JSON object"
    for check, key in ((_window_problem, "window"), (_drift_problem, "drift")):
        problem = check(data.get(key))
        if problem:
            return problem
    return _versions_problem(data.get("versions"))


def _window_problem(window: Any) -> str | None:
    if window is None:
        return None
    if not isinstance(window, dict):
        return "window is not an object"
    records = window.get("records")
    if records is not None and (type(records) is not int or records < 0):
        return "window.records is not a count"
    return None


def _drift_problem(drift: Any) -> str | None:
    if drift is None:
        return None
    if not isinstance(drift, dict):
        return "drift is not an object"
    if not _number(drift.get("share_drifted")):
        return "drift.share_drifted is not a number"
    features = drift.get("features")
    if features is not None and not isinstance(features, dict):
        return "drift.features is not an object"
    for feature, entry in (features or {}).items():
        if not isinstance(entry, dict):
            return f"drift.features.{feature} is not an object"
        for key in ("statistic", "threshold"):
            if not _number(entry.get(key)):
                return f"drift.features.{feature}.{key} is not a number"
    return None


def _versions_problem(versions: Any) -> str | None:
    if versions is not None and not isinstance(versions, dict):
        return "versions is not an object"
    for version, entry in (versions or {}).items():
        if not isinstance(entry, dict):
            return f"versions.{version} is not an object"
        if not _number(entry.get("error_rate")):
            return f"versions.{version}.error_rate is not a number"
        for key, names in (("latency_ms", QUANTILES), ("performance", PERFORMANCE)):
            problem = _numbers(entry.get(key), f"versions.{version}.{key}", names)
            if problem:
                return problem
    return None
