"""`status` and `history` on example-repo: JSON contracts, tables, and exit 1 on invalid specs
for every command that reads them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.support.cli import run_cli
from tests.support.example import PROD, mixed_edits
from tests.support.git import commit_all, git, head, step_trailer, trailers
from tests.support.repos import edit_file
from tests.support.values import NOW


def test_invalid_specs_exit_1_everywhere(loop_example: Path) -> None:
    edit_file(loop_example / PROD, 'version: "1.1.0"', "version: 1.10")
    for command in (["plan"], ["apply"], ["status"], ["history"]):
        done = run_cli("--repo", loop_example, *command)
        assert done.code == 1, command
        assert "deployments/cancer-prod.yaml:15:3" in done.err


def test_history_json_has_one_event_per_applied_step(loop_applied: Path) -> None:
    first = trailers(loop_applied)
    edit_file(loop_applied / PROD, "traffic: 20 ", "traffic: 50 ")
    human = commit_all(loop_applied, "canary to 50%")
    git(loop_applied, "commit", "-q", "--allow-empty", "-m", "unrelated later commit")
    assert run_cli("--repo", loop_applied, "apply", "--now", NOW).code == 0
    data = json.loads(run_cli("--repo", loop_applied, "history", "--format", "json").out)
    assert data["format_version"] == "1"
    events = data["events"]
    assert len(events) == len(first) + 1
    newest = events[0]
    assert set(newest) == {
        "time",
        "commit",
        "author",
        "action",
        "object",
        "reason",
        "actor",
        "cause",
    }
    # The human who changed the deployment's file, not the tool nor the later commit.
    assert newest["actor"] == {"name": "Test Author", "email": "author@example.com"}
    assert newest["cause"] == {"commit": human, "kind": "spec"}
    assert newest["commit"] == head(loop_applied)
    assert newest["author"] == "mlops-gitops <mlops-gitops@localhost>"
    assert newest["time"] == "2026-03-01T12:00:00+00:00"
    assert newest["action"] == "update"
    assert newest["object"] == {"kind": "Deployment", "name": "cancer-prod", "version": "1.2.0"}
    assert newest["reason"] == "canary traffic 20% -> 50% (deployments/cancer-prod.yaml)"
    assert [step_trailer(e) for e in reversed(events[1:])] == first  # newest first
    prod = json.loads(
        run_cli(
            "--repo", loop_applied, "history", "--deployment", "cancer-prod", "--format", "json"
        ).out
    )
    assert [step_trailer(e) for e in prod["events"]] == [
        "update Deployment/cancer-prod 1.2.0",
        "deploy Deployment/cancer-prod 1.2.0",  # canary after stable, in the same commit
        "promote Deployment/cancer-prod 1.1.0",
    ]
    diabetes = json.loads(
        run_cli(
            "--repo", loop_applied, "history", "--model", "diabetes-progression", "--format", "json"
        ).out
    )
    # The model's versions, and the steps of every deployment serving it (all named diabetes-*).
    assert [step_trailer(e) for e in reversed(diabetes["events"])] == [
        t for t in first if " Model/diabetes-progression " in t or " Deployment/diabetes-" in t
    ]
    assert "register Model/diabetes-progression 1.0.0" in first
    table = run_cli("--repo", loop_applied, "history", "--deployment", "cancer-prod")
    assert table.out.splitlines()[0].split() == [
        "TIME",
        "COMMIT",
        "ACTION",
        "OBJECT",
        "ACTOR",
        "CAUSE",
        "REASON",
    ]
    assert "Test Author <author@example.com>" in table.out.splitlines()[1]


def test_history_is_empty_before_any_apply(loop_example: Path) -> None:
    assert json.loads(run_cli("--repo", loop_example, "history", "--format", "json").out) == {
        "format_version": "1",
        "events": [],
    }
    assert run_cli("--repo", loop_example, "history").out == "No applied steps recorded yet.\n"


def test_status_json(loop_applied: Path) -> None:
    edit_file(loop_applied / PROD, "traffic: 20 ", "traffic: 30 ")
    done = run_cli("--repo", loop_applied, "status", "--format", "json")
    assert done.code == 0
    data = json.loads(done.out)
    assert data["format_version"] == "1"
    deployments = {d["name"]: d for d in data["deployments"]}
    assert deployments["cancer-prod"] == {
        "name": "cancer-prod",
        "model": "cancer-detector",
        "desired": {
            "version": "1.1.0",
            "canary": {"version": "1.2.0", "traffic": 30},
            "stage": "production",
        },
        "actual": {
            "version": "1.1.0",
            "canary": {"version": "1.2.0", "traffic": 20},
            "stage": "production",
        },
        "sync": "OutOfSync",
        "health": "Loadable",
    }
    assert deployments["diabetes-prod"]["sync"] == "Synced"
    versions = {(v["model"], v["version"]): v for v in data["models"]}
    # (1.0.0 has a retirement plan: "deprecated" once its warning phase starts)
    assert versions[("cancer-detector", "1.0.0")]["status"] in ("registered", "deprecated")
    assert versions[("cancer-detector", "1.1.0")]["status"] == "production"
    assert versions[("cancer-detector", "1.2.0")]["status"] == "production"
    assert versions[("diabetes-progression", "1.0.0")]["scan"] == "clean"
    shutil.rmtree(loop_applied / ".mlops/artifacts")
    degraded = json.loads(run_cli("--repo", loop_applied, "status", "--format", "json").out)
    health = {d["name"]: d["health"] for d in degraded["deployments"]}
    assert health["diabetes-prod"] == "Degraded (artifact of 2.0.0 missing)"


def test_status_of_archived_and_pending_versions(loop_applied: Path) -> None:
    mixed_edits(loop_applied)
    commit_all(loop_applied, "Mixed changes")
    before = json.loads(run_cli("--repo", loop_applied, "status", "--format", "json").out)
    lifecycle = {(v["model"], v["version"]): v["status"] for v in before["models"]}
    assert lifecycle[("cancer-detector", "1.3.0")] == "pending"
    assert run_cli("--repo", loop_applied, "apply", "--now", NOW).code == 3
    after = json.loads(run_cli("--repo", loop_applied, "status", "--format", "json").out)
    lifecycle = {(v["model"], v["version"]): (v["status"], v["in_spec"]) for v in after["models"]}
    assert lifecycle[("cancer-detector", "1.0.0")] == ("archived", False)
    assert lifecycle[("cancer-detector", "1.3.0")] == ("staging", True)
    blob = json.loads((loop_applied / ".mlops/state/models/cancer-detector.json").read_text())
    archived = blob["versions"]["1.0.0"]
    assert archived["status"] == "archived" and archived["archived_at"]
    assert (loop_applied / ".mlops/artifacts" / archived["blob"]).exists()  # never deleted
