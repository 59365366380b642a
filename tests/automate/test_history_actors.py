"""`history` names a rule as the actor of its spec edit and of the steps that edit caused.

Drifted traffic lands as a human commit; reconcile reports it, the drift rule rolls the
canary back by a commit, and apply carries the rollback out. The audit log then says the rule
did it (not the person who ran CI), names the rule's commit as the cause, and lists the
monitor's report only when asked to.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.automate.helpers import DEPLOYMENT, reconcile, write_traffic
from tests.support.cli import run_cli
from tests.support.git import commit_all, git, head

T1 = "2026-11-27T12:00:00Z"
RULE = "cancer-prod-drift"


def events(repo: Path, *args: str) -> list[dict[str, object]]:
    out = run_cli("--repo", repo, "history", "--format", "json", *args, expect=0).out
    found: list[dict[str, object]] = json.loads(out)["events"]
    return found


def test_a_rules_edit_and_the_step_it_caused_name_the_rule(repo: Path, env: dict[str, str]) -> None:
    write_traffic(repo, {"1.1.0": 0.8, "1.2.0": 0.2}, 2000)
    commit_all(repo, "Prediction logs of cancer-prod")
    before = head(repo)
    reconcile(repo, T1)
    apply_sha, rule_sha, monitor_sha = git(repo, "log", "--format=%H", f"{before}..HEAD").split()

    listed = events(repo, "--deployment", DEPLOYMENT)
    robot = {"name": f"rule:{RULE}"}
    step = listed[0]
    assert (step["commit"], step["action"]) == (apply_sha, "update")
    assert step["actor"] == robot
    assert step["cause"] == {"commit": rule_sha, "kind": "rule"}
    actions = [e for e in listed if e["commit"] == rule_sha]
    assert [e["action"] for e in actions] == ["rule-action", "rule-action"]
    assert all(
        e["actor"] == robot and e["cause"] == {"commit": rule_sha, "kind": "rule"} for e in actions
    )
    assert actions[0]["object"] == {"kind": "Deployment", "name": DEPLOYMENT, "version": None}
    assert "rollback_deployment" in str(actions[0]["reason"])
    assert "data_drift" in str(actions[0]["reason"])
    assert not [e for e in listed if e["commit"] == monitor_sha]

    # The steps before the rule were caused by the human who committed the specs.
    older = [e for e in listed if e["commit"] not in (apply_sha, rule_sha)]
    assert older and all(
        e["actor"] == {"name": "Human", "email": "human@example.com"} for e in older
    )
    assert all(e["cause"]["kind"] == "spec" for e in older)  # type: ignore[index]

    reports = events(repo, "--include-reports", "--actor", "monitor")
    assert [e["commit"] for e in reports] == [monitor_sha]
    assert reports[0]["action"] == "monitor-report"
    assert events(repo, "--actor", "rule:") == [e for e in events(repo) if e["actor"] == robot]
