"""`rollback`: the tool edits the deployment file (only the lines that change) and commits;
refusals name what is wrong."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from tests.support.cli import run_cli
from tests.support.example import PROD, STAGING, promote_canary
from tests.support.git import commit_all, commit_files, git
from tests.support.repos import edit_file
from tests.support.values import NOW


def test_rollback_edit_changes_only_the_changed_lines(loop_applied: Path) -> None:
    # Promote 1.2.0 keeping a canary-free file, apply, then roll back with a canary in place.
    edit_file(loop_applied / PROD, "traffic: 20 ", "traffic: 50 ")
    commit_all(loop_applied, "canary to 50%")
    assert run_cli("--repo", loop_applied, "apply", "--now", NOW).code == 0
    original = (loop_applied / PROD).read_text()
    done = run_cli("--repo", loop_applied, "rollback", "cancer-prod", "--to", "1.0.0")
    assert done.code == 0, done.seen
    edited = (loop_applied / PROD).read_text()
    diff = [
        line
        for line in difflib.unified_diff(original.splitlines(), edited.splitlines(), lineterm="")
        if line.startswith(("+", "-")) and not line.startswith(("+++", "---"))
    ]
    assert diff == [
        '-  version: "1.1.0"                # the stable version',
        "-  canary:",
        '-    version: "1.2.0"',
        "-    traffic: 50                   # percent of requests;"
        " the rest go to the stable version",
        '+  version: "1.0.0"                # the stable version',
    ]
    assert edited.count("#") == original.count("#") - 1
    assert commit_files(loop_applied) == [PROD]
    message = git(loop_applied, "log", "-1", "--format=%B")
    assert message.startswith("mlops-gitops: rollback cancer-prod to 1.0.0\n")
    assert "Mlops-Edit: rollback Deployment/cancer-prod 1.0.0" in message
    assert "Mlops-Reason: manual rollback from 1.1.0 + canary 1.2.0" in message
    assert not git(loop_applied, "status", "--porcelain", "--", PROD)
    plan = run_cli("--repo", loop_applied, "plan", "--now", NOW)
    assert "+ deploy Deployment/cancer-prod 1.0.0" in plan.out  # never served here before


def test_rollback_of_a_flow_style_canary(loop_applied: Path) -> None:
    original = (loop_applied / STAGING).read_text()
    assert run_cli("--repo", loop_applied, "rollback", "cancer-staging", "--to", "1.0.0").code == 0
    edited = (loop_applied / STAGING).read_text()
    expected = original.replace('  version: "1.1.0"', '  version: "1.0.0"').replace(
        '  canary: {version: "1.2.0", traffic: 50}\n', ""
    )
    assert edited == expected


def test_rollback_default_is_the_previous_stable_version(loop_applied: Path) -> None:
    no_history = run_cli("--repo", loop_applied, "rollback", "cancer-prod")
    assert no_history.code == 1
    assert "has served only 1.1.0" in no_history.err
    promote_canary(loop_applied / PROD)
    commit_all(loop_applied, "promote 1.2.0")
    assert run_cli("--repo", loop_applied, "apply", "--now", NOW).code == 0
    done = run_cli("--repo", loop_applied, "rollback", "cancer-prod")
    assert done.code == 0, done.seen
    assert "rollback cancer-prod to 1.1.0" in done.out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["rollback", "nope"], "deployment 'nope' is not defined in the specs"),
        (["rollback", "cancer-prod", "--to", "9.9.9"], "'9.9.9' is not a version of model"),
        (["rollback", "diabetes-prod", "--to", "1.0.0"], "is a template; edit it by hand"),
    ],
)
def test_rollback_refusals(loop_applied: Path, args: list[str], message: str) -> None:
    done = run_cli("--repo", loop_applied, *args)
    assert done.code == 1
    assert message in done.err


def test_rollback_refuses_a_file_with_uncommitted_changes(loop_applied: Path) -> None:
    edit_file(loop_applied / PROD, "traffic: 20 ", "traffic: 25 ")
    done = run_cli("--repo", loop_applied, "rollback", "cancer-prod", "--to", "1.0.0")
    assert done.code == 1
    assert "has uncommitted changes" in done.err
