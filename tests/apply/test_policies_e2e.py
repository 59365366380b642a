"""Project policies through apply: example-repo's own policies hold its production
deployments on the first apply, and a saved plan is checked again against the clock."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.support.artifacts import safetensors_bytes
from tests.support.cli import run_cli
from tests.support.git import git, init_git
from tests.support.repos import API

FRIDAY_18 = datetime(2026, 3, 6, 18, 0, tzinfo=UTC)
WEEKEND_FREEZE = {"freeze_windows": [{"cron": "0 18 * * 5", "duration": "60h"}]}


def iso(value: datetime) -> str:
    return value.isoformat(timespec="seconds")


def test_example_repo_apply_blocks_production_until_staging_served_long_enough(
    example_git: Path,
) -> None:
    repo = example_git

    def run(*args: str) -> tuple[int, str]:
        done = run_cli("--repo", repo, *args)
        return done.code, done.out

    # example-repo: stage_order [staging, production], min_time_in_stage 1h, max_canary_step 50.
    code, out = run("apply", "--now", "2026-03-04T12:00:00Z")
    assert code == 3, out
    assert "done     deploy Deployment/cancer-staging 1.2.0" in out
    assert (
        "blocked  promote Deployment/cancer-prod 1.1.0: policy min_time_in_stage 1h, stage_order "
        "(staging -> production): cancer-detector 1.1.0 must serve staging for 1h before entering "
        "production; it has not served staging yet (entering staging in this plan does not count)"
    ) in out
    assert "blocked  deploy Deployment/cancer-prod 1.2.0: policy min_time_in_stage 1h" in out

    code, out = run("plan", "--format", "json", "--now", "2026-03-04T12:59:59Z")
    steps = {s["id"]: s for s in json.loads(out)["steps"]}
    prod = steps["promote:Deployment/cancer-prod@1.1.0:stable"]
    assert prod["status"] == "blocked"
    assert "long enough at 2026-03-04T13:00:00+00:00" in prod["blocked_by"][0]
    assert {g["policy"] for g in prod["gates"] if "policy" in g} == {"production_gates"}

    code, out = run("apply", "--now", "2026-03-04T13:00:00Z")
    assert "done     promote Deployment/cancer-prod 1.1.0" in out
    assert "done     deploy Deployment/cancer-prod 1.2.0" in out

    # A canary jump larger than max_canary_step 50 is blocked, and apply says so with exit 3.
    prod_file = repo / "deployments" / "cancer-prod.yaml"
    prod_file.write_text(prod_file.read_text().replace("traffic: 20 ", "traffic: 90 "))
    git(repo, "commit", "-q", "-am", "Canary to 90%")
    code, out = run("apply", "--now", "2026-03-04T14:00:00Z")
    assert code == 3, out
    assert (
        "blocked  update Deployment/cancer-prod 1.2.0: policy max_canary_step 50: canary 1.2.0 "
        "traffic 20% -> 90% rises 70 points"
    ) in out


def test_a_saved_plan_does_not_slip_into_a_freeze_window(tmp_path: Path) -> None:
    """Apply checks time-bound policies again: a plan made before the window is stale in it."""
    repo = tmp_path / "repo"
    files = {
        "mlops.yaml": {"kind": "Project", "spec": {"policies": WEEKEND_FREEZE}},
        "models/fraud.yaml": {
            "kind": "Model",
            "spec": {
                "task": "classification",
                "versions": [
                    {"version": "1.0.0", "artifact": "fraud.safetensors", "format": "safetensors"}
                ],
            },
        },
        "deployments/prod.yaml": {
            "kind": "Deployment",
            "spec": {"model": "fraud", "stage": "production", "version": "1.0.0"},
        },
    }
    for rel, data in files.items():
        name = "test" if rel == "mlops.yaml" else Path(rel).stem
        path = repo / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"apiVersion": API, "metadata": {"name": name}} | data))
    (repo / "fraud.safetensors").write_bytes(safetensors_bytes(bytes(range(256)) * 4))
    (repo / ".gitignore").write_text(".mlops/artifacts/\n.mlops/apply.lock\n.mlops/journal*\n")
    init_git(repo, "Specs")

    def run(*args: str) -> tuple[int, str]:
        done = run_cli("--repo", repo, *args)
        return done.code, done.seen

    saved = str(tmp_path / "plan.json")
    code, out = run("plan", "-o", saved, "--now", iso(FRIDAY_18 - timedelta(minutes=1)))
    assert code == 0, out
    code, out = run("apply", saved, "--now", iso(FRIDAY_18))
    assert code == 1, out
    assert (
        "plan is stale: step register:Model/fraud@1.0.0 is blocked now: policy freeze_windows"
        in out
    )
    assert "(and 1 more)" in out
    code, out = run("apply", "--now", iso(FRIDAY_18 + timedelta(hours=60)))
    assert code == 0, out
