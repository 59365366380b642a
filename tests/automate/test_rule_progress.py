"""A rule's progress record: it round-trips with its times, and an unreadable one stops the run
with the file and a hint instead of starting afresh (forgetting it would let the rule act again
on evidence it already acted on)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlops_gitops.state.progress import RuleProgress, read_progress
from tests.automate.helpers import (
    RULE_FILE,
    reconcile,
    report,
    rule_result,
    write_report,
    write_rule,
)
from tests.support.cli import run_cli
from tests.support.git import commit_all

pytestmark = pytest.mark.no_git_identity

PROGRESS = ".mlops/state/rules/drift.json"


def reconcile_text_error(repo: Path) -> str:
    """`reconcile` fails with exit 1; what it says on stderr."""
    return run_cli("--repo", repo, "reconcile", "--now", "2026-11-27T14:00:00Z", expect=1).err


def _acted_once(repo: Path) -> None:
    (repo / RULE_FILE).unlink()
    write_rule(
        repo,
        "drift",
        "  triggers:\n    - {type: data_drift, share_above: 0.2}\n"
        "  actions:\n    - {type: send_alert, channel: log}\n",
    )
    commit_all(repo, "rule drift")
    write_report(repo, report(share=0.3, end="2026-11-27T10:00:00+00:00"))
    assert rule_result(reconcile(repo, "2026-11-27T12:00:00Z"), "drift")["acted"]


def test_the_record_round_trips_with_its_times(repo: Path) -> None:
    _acted_once(repo)
    data = json.loads((repo / PROGRESS).read_text())
    assert data["schema_version"] == 1
    assert data["last_fired"] == "2026-11-27T12:00:00+00:00"
    assert [f["actions"] for f in data["fired"]] == [["send_alert"]]
    record = read_progress(repo / PROGRESS, PROGRESS, RuleProgress)
    assert record is not None and record.rule == "drift"
    # the same data is recognised from the record: no second action
    again = rule_result(reconcile(repo, "2026-11-27T13:00:00Z"), "drift")
    assert not again["acted"] and "already acted on this data" in again["explanation"]


RESTORE = f"restore it from git history: git log -- {PROGRESS}, then git checkout COMMIT"


@pytest.mark.parametrize(
    ("damage", "says", "hint"),
    [
        ("{not json", "not valid JSON", RESTORE),
        ('{"schema_version": 1, "rule": "drift", "last_data": 7}', "last_data", RESTORE),
        ('{"schema_version": 9, "rule": "drift"}', "written by a newer", "upgrade mlops-gitops"),
        ('{"schema_version": 1, "rule": "other"}', "records rule 'other'", RESTORE),
        ("[]", "(top level)", RESTORE),
    ],
)
def test_a_damaged_record_stops_the_run_with_a_hint(
    repo: Path, damage: str, says: str, hint: str
) -> None:
    _acted_once(repo)
    (repo / PROGRESS).write_text(damage)
    commit_all(repo, "damage")
    write_report(repo, report(share=0.5, records=1200, end="2026-11-27T11:00:00+00:00"))
    err = reconcile_text_error(repo)
    assert f"error: {PROGRESS}" in err and says in err
    assert f"hint: {hint}" in err
