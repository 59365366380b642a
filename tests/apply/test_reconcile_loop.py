"""The reconcile loop through the CLI on example-repo: plan, apply, canary, promote, roll
back; exit codes, saved plans and what apply commits.

The CLI runs in this process (fast); git runs isolated, with a fixed author, committer and
date, so commit shas are reproducible.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from mlops_gitops.apply.run import LISTED_STEPS
from mlops_gitops.git import process as git_process
from tests.support.cli import run_cli
from tests.support.example import PROD, mixed_edits, promote_canary
from tests.support.git import commit_all, commit_files, git, head, init_git, step_trailer, trailers
from tests.support.repos import SpecRepo, edit_file, engine_repo_v1
from tests.support.values import NOW


def planned_steps(repo: Path) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = json.loads(
        run_cli("--repo", repo, "plan", "--format", "json", "--now", NOW).out
    )["steps"]
    return steps


# ---------------------------------------------------------------- the reconcile loop


def test_plan_apply_canary_promote_rollback(loop_example: Path) -> None:
    spec_commit = head(loop_example)
    first = run_cli("--repo", loop_example, "plan", "--detailed-exitcode", "--now", NOW)
    assert first.code == 2
    assert first.out.splitlines()[-1].startswith("Plan: 5 to register, ")
    planned = planned_steps(loop_example)
    assert all(s["status"] == "ready" for s in planned)

    applied = run_cli("--repo", loop_example, "apply", "--now", NOW)
    assert applied.code == 0, applied.seen
    assert f"Apply: {len(planned)} done." in applied.out
    assert "Committed " in applied.out and "(state serial 1)" in applied.out
    assert trailers(loop_example) == [step_trailer(s) for s in planned]
    message = git(loop_example, "log", "-1", "--format=%B")
    counts = Counter(s["action"] for s in planned)
    past = {"deploy": "deployed", "promote": "promoted", "register": "registered"}
    summary = ", ".join(f"{n} {past[a]}" for a, n in sorted(counts.items()))
    assert message.splitlines()[0] == f"mlops-gitops: apply ({summary})"
    assert f"Mlops-Spec-Commit: {spec_commit}" in message
    assert "Mlops-Serial: 1" in message
    assert message.count("Mlops-Reason: ") == len(planned)
    assert git(loop_example, "log", "-1", "--format=%an <%ae>").strip() == (
        "mlops-gitops <mlops-gitops@localhost>"
    )
    assert all(f.startswith(".mlops/state/") for f in commit_files(loop_example))

    again = run_cli("--repo", loop_example, "plan", "--detailed-exitcode", "--now", NOW)
    assert (again.code, again.out) == (0, "No changes. Recorded state matches the specs.\n")
    before = head(loop_example)
    nothing = run_cli("--repo", loop_example, "apply", "--now", NOW)
    assert (nothing.code, nothing.out) == (0, "No changes. Recorded state matches the specs.\n")
    assert head(loop_example) == before

    # Move the canary: 20% -> 50%.
    edit_file(loop_example / PROD, "traffic: 20 ", "traffic: 50 ")
    commit_all(loop_example, "canary to 50%")
    moved = run_cli("--repo", loop_example, "plan", "--now", NOW)
    assert "~ update Deployment/cancer-prod 1.2.0" in moved.out
    assert "1.1.0 + canary 1.2.0 20% -> 1.1.0 + canary 1.2.0 50%" in moved.out
    assert run_cli("--repo", loop_example, "apply", "--now", NOW).code == 0
    record = json.loads((loop_example / ".mlops/state/deployments/cancer-prod.json").read_text())
    assert record["canary"] == {"traffic": 50, "version": "1.2.0"}
    assert record["serving"]["traffic"] == {"canary": 50, "stable": 50}

    # Promote the canary.
    promote_canary(loop_example / PROD)
    commit_all(loop_example, "promote 1.2.0")
    promoted = run_cli("--repo", loop_example, "plan", "--now", NOW)
    assert "~ promote Deployment/cancer-prod 1.2.0" in promoted.out
    assert "canary 1.2.0 becomes stable, replacing 1.1.0" in promoted.out
    assert "gate roc_auc >= 0.9: 0.9902" in promoted.out
    assert run_cli("--repo", loop_example, "apply", "--now", NOW).code == 0

    # Roll back: the tool edits the spec and commits; apply carries it out.
    rolled = run_cli("--repo", loop_example, "rollback", "cancer-prod")
    assert rolled.code == 0, rolled.seen
    assert "Edited deployments/cancer-prod.yaml: rollback cancer-prod to 1.1.0" in rolled.out
    assert git(loop_example, "log", "-1", "--format=%s").strip() == (
        "mlops-gitops: rollback cancer-prod to 1.1.0"
    )
    plan = run_cli("--repo", loop_example, "plan", "--now", NOW)
    assert "~ rollback Deployment/cancer-prod 1.1.0" in plan.out
    assert "gate" not in plan.out  # rollbacks are never gated
    assert run_cli("--repo", loop_example, "apply", "--now", NOW).code == 0
    assert run_cli("--repo", loop_example, "plan", "--detailed-exitcode", "--now", NOW).code == 0

    record = json.loads((loop_example / ".mlops/state/deployments/cancer-prod.json").read_text())
    assert [(r["action"], r["version"], r["canary"]) for r in record["history"]] == [
        ("promote", "1.1.0", None),
        ("deploy", "1.1.0", {"traffic": 20, "version": "1.2.0"}),
        ("update", "1.1.0", {"traffic": 50, "version": "1.2.0"}),
        ("promote", "1.2.0", None),
        ("rollback", "1.1.0", None),
    ]
    assert all(r["commit"] and len(r["commit"]) == 40 for r in record["history"])
    meta = json.loads((loop_example / ".mlops/state/meta.json").read_text())
    assert meta["serial"] == 4
    assert meta["spec_commit"] == git(loop_example, "rev-parse", "HEAD~1").strip()

    # history: the rollback edit is the committer's (who ran it), and so is the step it caused.
    history = run_cli("--repo", loop_example, "history", "--format", "json", expect=0).json()
    step, edit = history["events"][0], history["events"][1]
    assert (step["action"], edit["action"]) == ("rollback", "rollback-edit")
    ran_it = {"name": "Test Committer", "email": "committer@example.com"}
    assert step["actor"] == edit["actor"] == ran_it
    assert step["cause"] == edit["cause"] == {"commit": edit["commit"], "kind": "rollback"}
    assert edit["object"] == {"kind": "Deployment", "name": "cancer-prod", "version": "1.1.0"}


def test_state_files_are_deterministic_json(loop_applied: Path) -> None:
    for path in sorted((loop_applied / ".mlops/state").rglob("*.json")):
        text = path.read_text()
        data = json.loads(text)
        assert text == json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        assert data["schema_version"] == 2
    meta = json.loads((loop_applied / ".mlops/state/meta.json").read_text())
    assert len(meta["lineage"]) == 36 and meta["serial"] == 1


def test_the_same_specs_give_byte_identical_state(loop_example: Path, tmp_path: Path) -> None:
    other = shutil.copytree(loop_example, tmp_path / "other")
    assert run_cli("--repo", loop_example, "apply", "--now", NOW).code == 0
    assert run_cli("--repo", other, "apply", "--now", NOW).code == 0
    for path in sorted((loop_example / ".mlops/state").rglob("*.json")):
        twin = other / path.relative_to(loop_example)
        if path.name == "meta.json":
            continue  # the lineage is a fresh UUID per state
        assert path.read_bytes() == twin.read_bytes(), path


# ---------------------------------------------------------------- exit codes


def test_apply_exits_3_when_blocked_steps_remain(loop_applied: Path) -> None:
    mixed_edits(loop_applied)
    commit_all(loop_applied, "Mixed changes")
    before = len(trailers(loop_applied))
    done = run_cli("--repo", loop_applied, "apply", "--now", NOW)
    assert done.code == 3, done.seen
    assert "blocked  promote Deployment/diabetes-prod 1.0.0: gate r2 >= 0.6" in done.out
    assert "Apply: 6 done, 1 blocked." in done.out
    assert len(trailers(loop_applied)) == before + 6
    again = run_cli("--repo", loop_applied, "plan", "--format", "json", "--now", NOW)
    steps = json.loads(again.out)["steps"]
    assert [(s["id"], s["status"]) for s in steps] == [
        ("promote:Deployment/diabetes-prod@1.0.0:stable", "blocked")
    ]
    assert run_cli("--repo", loop_applied, "apply", "--now", NOW).code == 3


def test_apply_exits_1_on_a_failed_step_and_still_runs_independent_steps(
    engine_git: Path, tmp_path: Path
) -> None:
    root = engine_git
    planfile = tmp_path / "plan.json"
    assert run_cli("--repo", root, "plan", "-o", str(planfile), "--now", NOW).code == 0
    (root / "artifacts/beta/1.0.0.safetensors").unlink()  # gone after planning
    done = run_cli("--repo", root, "apply", str(planfile), "--now", NOW, "--allow-dirty")
    assert done.code == 1, done.seen
    lines = done.out.splitlines()
    assert any(
        line.startswith("failed   register Model/beta 1.0.0: ") and "No such file" in line
        for line in lines
    ), done.out
    assert (
        "skipped  deploy Deployment/beta-prod 1.0.0: depends on register:Model/beta@1.0.0" in lines
    )
    assert "Apply: 8 done, 1 failed, 1 skipped." in done.out
    committed = trailers(root)
    assert "register Model/alpha 1.0.0" in committed and "deploy Deployment/gamma-web 1.0.0" in (
        committed
    )
    assert not any("beta" in t for t in committed)
    assert not (root / ".mlops/journal.json").exists()
    after = json.loads(run_cli("--repo", root, "plan", "--format", "json", "--now", NOW).out)
    assert [(s["id"], s["status"]) for s in after["steps"]] == [
        ("register:Model/beta@1.0.0", "blocked"),
        ("deploy:Deployment/beta-prod@1.0.0:stable", "blocked"),
    ]


# ---------------------------------------------------------------- saved plans


def test_saved_plan_applies_when_fresh(loop_example: Path, tmp_path: Path) -> None:
    planfile = tmp_path / "plan.json"
    saved = run_cli("--repo", loop_example, "plan", "-o", str(planfile), "--now", NOW)
    assert f"apply it with: mlops-gitops apply {planfile}" in saved.out
    assert json.loads(planfile.read_text())["format_version"] == "1"
    done = run_cli("--repo", loop_example, "apply", str(planfile), "--now", NOW)
    assert done.code == 0, done.seen


def test_saved_plan_on_empty_state_is_stale_once_state_exists(
    loop_example: Path, tmp_path: Path
) -> None:
    planfile = tmp_path / "plan.json"
    assert run_cli("--repo", loop_example, "plan", "-o", str(planfile), "--now", NOW).code == 0
    assert run_cli("--repo", loop_example, "apply", "--no-commit", "--now", NOW).code == 0
    done = run_cli("--repo", loop_example, "apply", str(planfile), "--now", NOW)
    assert done.code == 1
    assert "plan is stale" in done.err
    assert "the plan expected None" in done.err
    assert "the state serial is 1, the plan expected 0" in done.err
    assert "hint: run plan again" in done.err


def test_saved_plan_is_stale_after_a_new_commit(loop_applied: Path, tmp_path: Path) -> None:
    planfile = tmp_path / "plan.json"
    edit_file(loop_applied / PROD, "traffic: 20 ", "traffic: 30 ")
    commit_all(loop_applied, "canary 30%")
    old_head = head(loop_applied)
    assert run_cli("--repo", loop_applied, "plan", "-o", str(planfile), "--now", NOW).code == 0
    edit_file(loop_applied / PROD, "traffic: 30 ", "traffic: 40 ")
    commit_all(loop_applied, "canary 40%")
    done = run_cli("--repo", loop_applied, "apply", str(planfile), "--now", NOW)
    assert done.code == 1
    assert f"HEAD is {head(loop_applied)}, the plan was made on {old_head}" in done.err
    assert "the spec files changed since the plan was made" in done.err
    record = json.loads((loop_applied / ".mlops/state/deployments/cancer-prod.json").read_text())
    assert record["canary"]["traffic"] == 20


def test_saved_plan_is_stale_after_an_uncommitted_spec_edit(
    loop_applied: Path, tmp_path: Path
) -> None:
    planfile = tmp_path / "plan.json"
    assert run_cli("--repo", loop_applied, "plan", "-o", str(planfile), "--now", NOW).code == 0
    edit_file(loop_applied / PROD, "traffic: 20 ", "traffic: 40 ")
    done = run_cli("--repo", loop_applied, "apply", str(planfile), "--now", NOW, "--allow-dirty")
    assert done.code == 1
    assert "plan is stale: the spec files changed since the plan was made" in done.err


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        '{"format_version": "9", "steps": []}',
        '{"format_version": "1"}',
        "[1]",
        '{"format_version": "1", "steps": [], "targets": "Deployment/x"}',
    ],
)
def test_unreadable_plan_file_is_refused(loop_applied: Path, tmp_path: Path, content: str) -> None:
    planfile = tmp_path / "plan.json"
    planfile.write_text(content)
    done = run_cli("--repo", loop_applied, "apply", str(planfile), "--now", NOW)
    assert done.code == 1
    assert f"cannot read plan file {planfile}" in done.err
    assert "internal error" not in done.err


# ---------------------------------------------------------------- commits


def test_apply_commits_only_the_paths_it_changed(loop_example: Path) -> None:
    (loop_example / "NOTES.md").write_text("untracked notes\n")
    edit_file(loop_example / "models/diabetes-progression.yaml", "# Linear baseline.", "# Linear.")
    (loop_example / "staged.txt").write_text("staged\n")
    git(loop_example, "add", "staged.txt")
    assert run_cli("--repo", loop_example, "apply", "--now", NOW, "--allow-dirty").code == 0
    files = commit_files(loop_example)
    state = loop_example / ".mlops/state"
    assert files == sorted(p.relative_to(loop_example).as_posix() for p in state.rglob("*.json"))
    assert ".mlops/state/models/diabetes-progression.json" in files
    status = git(loop_example, "status", "--porcelain")
    assert "?? NOTES.md" in status
    assert " M models/diabetes-progression.yaml" in status
    assert "A  staged.txt" in status


def test_no_commit_records_state_without_committing(loop_example: Path) -> None:
    before = head(loop_example)
    done = run_cli("--repo", loop_example, "apply", "--no-commit", "--now", NOW)
    assert done.code == 0
    assert "State serial 1; not committed (--no-commit)." in done.out
    assert head(loop_example) == before
    assert (loop_example / ".mlops/state/meta.json").exists()
    assert run_cli("--repo", loop_example, "plan", "--detailed-exitcode", "--now", NOW).code == 0


def test_author_falls_back_to_the_environment(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    engine_repo_v1(root)  # its Project names no git.author
    init_git(root)
    assert run_cli("--repo", root, "apply", "--now", NOW).code == 0
    assert git(root, "log", "-1", "--format=%an <%ae>|%cn").strip() == (
        "Test Author <author@example.com>|Test Committer"
    )


def test_apply_outside_git_needs_no_commit(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    engine_repo_v1(root)
    done = run_cli("--repo", root, "apply", "--now", NOW)
    assert done.code == 1
    assert "is not a git repository" in done.err
    assert "apply with --no-commit" in done.err
    assert run_cli("--repo", root, "apply", "--no-commit", "--now", NOW).code == 0


def test_commit_skips_repository_hooks(loop_example: Path) -> None:
    hook = loop_example / ".git/hooks/pre-commit"
    hook.write_text(f"#!/bin/sh\ntouch {loop_example}/hook-ran\nexit 1\n")
    hook.chmod(0o755)
    git(loop_example, "config", "core.hooksPath", ".git/hooks")
    assert run_cli("--repo", loop_example, "apply", "--now", NOW).code == 0
    assert not (loop_example / "hook-ran").exists()


def test_malformed_commit_author_is_refused_before_any_step(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    repo = engine_repo_v1(root)
    repo.write_project(git={"author": "just-a-name"})
    init_git(root)
    done = run_cli("--repo", root, "apply", "--now", NOW)
    assert done.code == 1
    assert "git author 'just-a-name' is not of the form 'Name <email>'" in done.err
    assert not (root / ".mlops/state").exists()
    assert run_cli("--repo", root, "apply", "--no-commit", "--now", NOW).code == 0


# ---------------------------------------------------------------- results


def test_apply_json_output(loop_example: Path) -> None:
    done = run_cli("--repo", loop_example, "apply", "--format", "json", "--now", NOW)
    assert done.code == 0
    data = json.loads(done.out)
    assert data["format_version"] == "1"
    assert data["commit"] == head(loop_example)
    assert (data["serial"], data["resumed"]) == (1, False)
    assert data["summary"] == {"done": len(data["steps"])}
    assert [f"{s['action']} {s['object']['kind']}/{s['object']['name']}" for s in data["steps"]][
        :2
    ] == ["register Model/cancer-detector", "register Model/cancer-detector"]


def test_deployment_moved_to_another_model_starts_a_new_history(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    repo = engine_repo_v1(root)
    init_git(root)
    assert run_cli("--repo", root, "apply", "--now", NOW).code == 0
    repo.write_deployment(
        "beta-prod", {"model": "gamma", "stage": "production", "version": "1.0.0"}
    )
    commit_all(root, "beta-prod serves gamma")
    plan = run_cli("--repo", root, "plan", "--now", NOW)
    assert "now serves model gamma 1.0.0 (was beta 1.0.0)" in plan.out
    assert run_cli("--repo", root, "apply", "--now", NOW).code == 0
    record = json.loads((root / ".mlops/state/deployments/beta-prod.json").read_text())
    assert record["model"] == "gamma"
    assert [(r["revision"], r["version"]) for r in record["history"]] == [(1, "1.0.0")]
    assert (
        record["serving"]["stable"]["sha256"]
        == json.loads((root / ".mlops/state/models/gamma.json").read_text())["versions"]["1.0.0"][
            "sha256"
        ]
    )
    assert run_cli("--repo", root, "plan", "--detailed-exitcode", "--now", NOW).code == 0


def test_a_large_apply_lists_some_steps_for_people_and_every_step_as_a_trailer(
    tmp_path: Path,
) -> None:
    repo = SpecRepo(tmp_path / "repo")
    repo.write_project()
    entry = repo.tensor("wide", "shared")
    versions = [entry | {"version": f"1.{i}.0"} for i in range(LISTED_STEPS + 20)]
    repo.write_model("wide", versions)
    init_git(repo.root)
    assert run_cli("--repo", repo.root, "apply", "--now", NOW).code == 0
    body = git(repo.root, "log", "-1", "--format=%B")
    listed = [line for line in body.splitlines() if line.startswith("- register")]
    assert len(listed) == LISTED_STEPS
    assert "- and 20 more (every step is a trailer below)" in body
    assert len(trailers(repo.root)) == LISTED_STEPS + 20
    done = run_cli("--repo", repo.root, "history", "--model", "wide", "--format", "json")
    registered = [e for e in json.loads(done.out)["events"] if e["action"] == "register"]
    assert len(registered) == LISTED_STEPS + 20


def test_git_output_past_its_budget_is_an_error_not_a_read_without_end(
    loop_applied: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A repository can hold a commit message of any size; the tool reads a bounded amount."""
    (loop_applied / "NOTES.md").write_text("notes\n")
    git(loop_applied, "add", "NOTES.md")
    git(loop_applied, "commit", "-q", "-m", "notes\n\n" + "x" * 5_000)
    monkeypatch.setattr(git_process, "MAX_OUTPUT", 4_000)
    done = run_cli("--repo", loop_applied, "history")
    assert done.code == 1
    assert "git log printed more than 4,000 characters" in done.err
    assert "Traceback" not in done.err
