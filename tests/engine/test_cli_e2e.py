"""End to end through the CLI, in temporary git repositories built from example-repo/.

The CLI runs in this process (fast); git runs with an isolated HOME, no system configuration
and fixed author, committer and dates, so commit shas are reproducible.
"""

from __future__ import annotations

import difflib
import json
import os
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from mlops_gitops.plan.model import ACTIONS
from mlops_gitops.providers.targets import kserve_schema
from tests.engine.conftest import RunCli
from tests.engine.helpers import (
    GOLDEN,
    NOW,
    SpecRepo,
    commit_all,
    copy_example,
    edit_file,
    engine_repo_v1,
    git,
    init_git,
    normalize,
    trailers,
)

UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
PROD = "deployments/cancer-prod.yaml"
STAGING = "deployments/cancer-staging.yaml"


@pytest.fixture
def example(tmp_path: Path, env: dict[str, str]) -> Path:
    return copy_example(tmp_path / "repo", env)


@pytest.fixture
def applied(example: Path, run: RunCli) -> Path:
    """The example after its first apply."""
    done = run(example, "apply", "--now", NOW)
    assert done.code == 0, done.seen
    return example


def planned_steps(repo: Path, run: RunCli) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = json.loads(
        run(repo, "plan", "--format", "json", "--now", NOW).out
    )["steps"]
    return steps


def trailer(step: dict[str, Any]) -> str:
    obj = step["object"]
    return f"{step['action']} {obj['kind']}/{obj['name']}" + (
        f" {obj['version']}" if obj["version"] else ""
    )


def event_trailer(event: dict[str, Any]) -> str:
    return trailer(event)


def head(repo: Path, env: dict[str, str]) -> str:
    return git(repo, "rev-parse", "HEAD", env=env).strip()


def commit_files(repo: Path, env: dict[str, str], rev: str = "HEAD") -> list[str]:
    out = git(repo, "show", "--name-only", "--format=", rev, env=env)
    return sorted(line for line in out.splitlines() if line)


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"{path} is missing; run with UPDATE_GOLDEN=1 and review it"
    assert text == path.read_text(), f"{name} differs from the golden file"


def normalized_json(text: str) -> str:
    data = json.loads(text)
    data["base_commit"] = "<commit>" if data["base_commit"] else None
    data["inputs_sha256"] = "<inputs>"
    if data["state"]["lineage"]:
        data["state"]["lineage"] = "<lineage>"
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def promote_canary(path: Path) -> None:
    """cancer-prod: 1.2.0 becomes the stable version, the canary block goes."""
    text = path.read_text().replace('version: "1.1.0"', 'version: "1.2.0"', 1)
    lines = text.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith("  canary:"))
    del lines[start : start + 3]
    path.write_text("".join(lines))


def mixed_edits(repo: Path) -> None:
    """After the first apply: a gated traffic raise, a new canary version, a settings change,
    a version through staging whose production gate fails, and a removed version."""
    edit_file(repo / PROD, "traffic: 20 ", "traffic: 50 ")
    edit_file(
        repo / STAGING,
        '  canary: {version: "1.2.0", traffic: 50}',
        '  canary: {version: "1.3.0", traffic: 50}\n  resources: {cpu: "2"}',
    )
    edit_file(
        repo / "deployments/diabetes-prod.yaml.j2",
        'version: "2.0.0"',
        'version: "1.0.0"\n  promotion:\n    gates: {r2: ">= 0.6"}',
    )
    edit_file(repo / "deployments/diabetes-staging.yaml", 'version: "2.0.0"', 'version: "1.0.0"')
    (repo / "retirements/retire-cancer-1-0.yaml").unlink()
    model = repo / "models/cancer-detector.yaml"
    text = model.read_text()
    text = text[: text.index("    # Baseline")] + text[text.index("    # Same pipeline") :]
    text += (
        '\n    - version: "1.3.0"\n'
        "      artifact: artifacts/cancer-detector/1.3.0/model.skops\n"
        "      format: skops\n"
        "      trusted_types: [sklearn.tree._tree.Tree]\n"
        "      metrics: {roc_auc: 0.9902}\n"
    )
    model.write_text(text)
    (repo / "artifacts/cancer-detector/1.3.0").mkdir()
    shutil.copy(
        repo / "artifacts/cancer-detector/1.2.0/model.skops",
        repo / "artifacts/cancer-detector/1.3.0/model.skops",
    )


# ---------------------------------------------------------------- golden plans


@pytest.mark.parametrize("fmt", ["text", "markdown", "json"])
def test_initial_plan_golden(example: Path, run: RunCli, fmt: str) -> None:
    done = run(example, "plan", "--format", fmt, "--now", NOW)
    assert done.code == 0, done.seen
    text = normalized_json(done.out) if fmt == "json" else normalize(done.out, example)
    check_golden(f"plan-initial.{'md' if fmt == 'markdown' else fmt}", text)


@pytest.mark.parametrize("fmt", ["text", "markdown", "json"])
def test_mixed_plan_golden(applied: Path, run: RunCli, env: dict[str, str], fmt: str) -> None:
    mixed_edits(applied)
    commit_all(applied, "Mixed changes", env)
    done = run(applied, "plan", "--format", fmt, "--now", NOW)
    assert done.code == 0, done.seen
    text = normalized_json(done.out) if fmt == "json" else normalize(done.out, applied)
    check_golden(f"plan-mixed.{'md' if fmt == 'markdown' else fmt}", text)


def test_plan_json_contract(example: Path, run: RunCli, env: dict[str, str]) -> None:
    data = json.loads(run(example, "plan", "--format", "json", "--now", NOW).out)
    assert data["format_version"] == "1"
    assert data["base_commit"] == head(example, env)
    assert data["state"] == {"lineage": None, "serial": 0}
    counts = Counter(s["action"] for s in data["steps"])
    assert data["summary"] == {a: counts.get(a, 0) for a in ACTIONS} | {
        "blocked": sum(s["status"] == "blocked" for s in data["steps"])
    }
    assert data["summary"]["register"] == 5
    for step in data["steps"]:
        assert {"id", "action", "object", "status", "reason", "before", "after"} <= set(step)
        assert {"gates", "depends_on"} <= set(step)
        assert set(step["object"]) == {"kind", "name", "version"}
        for gate in step["gates"]:
            assert {"metric", "op", "threshold", "value", "source", "passed"} <= set(gate)
    ids = [s["id"] for s in data["steps"]]
    for index, step in enumerate(data["steps"]):
        assert all(ids.index(d) < index for d in step["depends_on"])


def test_plan_text_and_markdown_on_no_changes(applied: Path, run: RunCli) -> None:
    text = run(applied, "plan", "--now", NOW)
    assert text.out == "No changes. Recorded state matches the specs.\n"
    markdown = run(applied, "plan", "--format", "markdown", "--now", NOW)
    assert markdown.out == (
        "### mlops-gitops plan\n\nNo changes. Recorded state matches the specs.\n\n"
    )


# ---------------------------------------------------------------- the reconcile loop


def test_plan_apply_canary_promote_rollback(
    example: Path, run: RunCli, env: dict[str, str]
) -> None:
    spec_commit = head(example, env)
    first = run(example, "plan", "--detailed-exitcode", "--now", NOW)
    assert first.code == 2
    assert first.out.splitlines()[-1].startswith("Plan: 5 to register, ")
    planned = planned_steps(example, run)
    assert all(s["status"] == "ready" for s in planned)

    applied = run(example, "apply", "--now", NOW)
    assert applied.code == 0, applied.seen
    assert f"Apply: {len(planned)} done." in applied.out
    assert "Committed " in applied.out and "(state serial 1)" in applied.out
    assert trailers(example, env) == [trailer(s) for s in planned]
    message = git(example, "log", "-1", "--format=%B", env=env)
    counts = Counter(s["action"] for s in planned)
    past = {"deploy": "deployed", "promote": "promoted", "register": "registered"}
    summary = ", ".join(f"{n} {past[a]}" for a, n in sorted(counts.items()))
    assert message.splitlines()[0] == f"mlops-gitops: apply ({summary})"
    assert f"Mlops-Spec-Commit: {spec_commit}" in message
    assert "Mlops-Serial: 1" in message
    assert message.count("Mlops-Reason: ") == len(planned)
    assert git(example, "log", "-1", "--format=%an <%ae>", env=env).strip() == (
        "mlops-gitops <mlops-gitops@localhost>"
    )
    assert all(f.startswith(".mlops/state/") for f in commit_files(example, env))

    again = run(example, "plan", "--detailed-exitcode", "--now", NOW)
    assert (again.code, again.out) == (0, "No changes. Recorded state matches the specs.\n")
    before = head(example, env)
    nothing = run(example, "apply", "--now", NOW)
    assert (nothing.code, nothing.out) == (0, "No changes. Recorded state matches the specs.\n")
    assert head(example, env) == before

    # Move the canary: 20% -> 50%.
    edit_file(example / PROD, "traffic: 20 ", "traffic: 50 ")
    commit_all(example, "canary to 50%", env)
    moved = run(example, "plan", "--now", NOW)
    assert "~ update Deployment/cancer-prod 1.2.0" in moved.out
    assert "1.1.0 + canary 1.2.0 20% -> 1.1.0 + canary 1.2.0 50%" in moved.out
    assert run(example, "apply", "--now", NOW).code == 0
    record = json.loads((example / ".mlops/state/deployments/cancer-prod.json").read_text())
    assert record["canary"] == {"traffic": 50, "version": "1.2.0"}
    assert record["serving"]["traffic"] == {"canary": 50, "stable": 50}

    # Promote the canary.
    promote_canary(example / PROD)
    commit_all(example, "promote 1.2.0", env)
    promoted = run(example, "plan", "--now", NOW)
    assert "~ promote Deployment/cancer-prod 1.2.0" in promoted.out
    assert "canary 1.2.0 becomes stable, replacing 1.1.0" in promoted.out
    assert "gate roc_auc >= 0.9: 0.9902" in promoted.out
    assert run(example, "apply", "--now", NOW).code == 0

    # Roll back: the tool edits the spec and commits; apply carries it out.
    rolled = run(example, "rollback", "cancer-prod")
    assert rolled.code == 0, rolled.seen
    assert "Edited deployments/cancer-prod.yaml: rollback cancer-prod to 1.1.0" in rolled.out
    assert git(example, "log", "-1", "--format=%s", env=env).strip() == (
        "mlops-gitops: rollback cancer-prod to 1.1.0"
    )
    plan = run(example, "plan", "--now", NOW)
    assert "~ rollback Deployment/cancer-prod 1.1.0" in plan.out
    assert "gate" not in plan.out  # rollbacks are never gated
    assert run(example, "apply", "--now", NOW).code == 0
    assert run(example, "plan", "--detailed-exitcode", "--now", NOW).code == 0

    record = json.loads((example / ".mlops/state/deployments/cancer-prod.json").read_text())
    assert [(r["action"], r["version"], r["canary"]) for r in record["history"]] == [
        ("promote", "1.1.0", None),
        ("deploy", "1.1.0", {"traffic": 20, "version": "1.2.0"}),
        ("update", "1.1.0", {"traffic": 50, "version": "1.2.0"}),
        ("promote", "1.2.0", None),
        ("rollback", "1.1.0", None),
    ]
    assert all(r["commit"] and len(r["commit"]) == 40 for r in record["history"])
    meta = json.loads((example / ".mlops/state/meta.json").read_text())
    assert meta["serial"] == 4
    assert meta["spec_commit"] == git(example, "rev-parse", "HEAD~1", env=env).strip()


def test_state_files_are_deterministic_json(applied: Path) -> None:
    for path in sorted((applied / ".mlops/state").rglob("*.json")):
        text = path.read_text()
        data = json.loads(text)
        assert text == json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        assert data["schema_version"] == 2
    meta = json.loads((applied / ".mlops/state/meta.json").read_text())
    assert len(meta["lineage"]) == 36 and meta["serial"] == 1


def test_the_same_specs_give_byte_identical_state(
    example: Path, run: RunCli, tmp_path: Path, env: dict[str, str]
) -> None:
    other = shutil.copytree(example, tmp_path / "other")
    assert run(example, "apply", "--now", NOW).code == 0
    assert run(other, "apply", "--now", NOW).code == 0
    for path in sorted((example / ".mlops/state").rglob("*.json")):
        twin = other / path.relative_to(example)
        if path.name == "meta.json":
            continue  # the lineage is a fresh UUID per state
        assert path.read_bytes() == twin.read_bytes(), path


# ---------------------------------------------------------------- exit codes


def test_apply_exits_3_when_blocked_steps_remain(
    applied: Path, run: RunCli, env: dict[str, str]
) -> None:
    mixed_edits(applied)
    commit_all(applied, "Mixed changes", env)
    before = len(trailers(applied, env))
    done = run(applied, "apply", "--now", NOW)
    assert done.code == 3, done.seen
    assert "blocked  promote Deployment/diabetes-prod 1.0.0: gate r2 >= 0.6" in done.out
    assert "Apply: 6 done, 1 blocked." in done.out
    assert len(trailers(applied, env)) == before + 6
    again = run(applied, "plan", "--format", "json", "--now", NOW)
    steps = json.loads(again.out)["steps"]
    assert [(s["id"], s["status"]) for s in steps] == [
        ("promote:Deployment/diabetes-prod@1.0.0:stable", "blocked")
    ]
    assert run(applied, "apply", "--now", NOW).code == 3


def test_apply_exits_1_on_a_failed_step_and_still_runs_independent_steps(
    tmp_path: Path, run: RunCli, env: dict[str, str]
) -> None:
    root = tmp_path / "repo"
    engine_repo_v1(root)
    init_git(root, env)
    planfile = tmp_path / "plan.json"
    assert run(root, "plan", "-o", str(planfile), "--now", NOW).code == 0
    (root / "artifacts/beta/1.0.0.safetensors").unlink()  # gone after planning
    done = run(root, "apply", str(planfile), "--now", NOW, "--allow-dirty")
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
    committed = trailers(root, env)
    assert "register Model/alpha 1.0.0" in committed and "deploy Deployment/gamma-web 1.0.0" in (
        committed
    )
    assert not any("beta" in t for t in committed)
    assert not (root / ".mlops/journal.json").exists()
    after = json.loads(run(root, "plan", "--format", "json", "--now", NOW).out)
    assert [(s["id"], s["status"]) for s in after["steps"]] == [
        ("register:Model/beta@1.0.0", "blocked"),
        ("deploy:Deployment/beta-prod@1.0.0:stable", "blocked"),
    ]


def test_invalid_specs_exit_1_everywhere(example: Path, run: RunCli) -> None:
    edit_file(example / PROD, 'version: "1.1.0"', "version: 1.10")
    for command in (["plan"], ["apply"], ["status"], ["history"]):
        done = run(example, *command)
        assert done.code == 1, command
        assert "deployments/cancer-prod.yaml:15:3" in done.err


# ---------------------------------------------------------------- saved plans


def test_saved_plan_applies_when_fresh(example: Path, run: RunCli, tmp_path: Path) -> None:
    planfile = tmp_path / "plan.json"
    saved = run(example, "plan", "-o", str(planfile), "--now", NOW)
    assert f"apply it with: mlops-gitops apply {planfile}" in saved.out
    assert json.loads(planfile.read_text())["format_version"] == "1"
    done = run(example, "apply", str(planfile), "--now", NOW)
    assert done.code == 0, done.seen


def test_saved_plan_on_empty_state_is_stale_once_state_exists(
    example: Path, run: RunCli, tmp_path: Path
) -> None:
    planfile = tmp_path / "plan.json"
    assert run(example, "plan", "-o", str(planfile), "--now", NOW).code == 0
    assert run(example, "apply", "--no-commit", "--now", NOW).code == 0
    done = run(example, "apply", str(planfile), "--now", NOW)
    assert done.code == 1
    assert "plan is stale" in done.err
    assert "the plan expected None" in done.err
    assert "the state serial is 1, the plan expected 0" in done.err
    assert "hint: run plan again" in done.err


def test_saved_plan_is_stale_after_a_new_commit(
    applied: Path, run: RunCli, tmp_path: Path, env: dict[str, str]
) -> None:
    planfile = tmp_path / "plan.json"
    edit_file(applied / PROD, "traffic: 20 ", "traffic: 30 ")
    commit_all(applied, "canary 30%", env)
    old_head = head(applied, env)
    assert run(applied, "plan", "-o", str(planfile), "--now", NOW).code == 0
    edit_file(applied / PROD, "traffic: 30 ", "traffic: 40 ")
    commit_all(applied, "canary 40%", env)
    done = run(applied, "apply", str(planfile), "--now", NOW)
    assert done.code == 1
    assert f"HEAD is {head(applied, env)}, the plan was made on {old_head}" in done.err
    assert "the spec files changed since the plan was made" in done.err
    record = json.loads((applied / ".mlops/state/deployments/cancer-prod.json").read_text())
    assert record["canary"]["traffic"] == 20


def test_saved_plan_is_stale_after_an_uncommitted_spec_edit(
    applied: Path, run: RunCli, tmp_path: Path
) -> None:
    planfile = tmp_path / "plan.json"
    assert run(applied, "plan", "-o", str(planfile), "--now", NOW).code == 0
    edit_file(applied / PROD, "traffic: 20 ", "traffic: 40 ")
    done = run(applied, "apply", str(planfile), "--now", NOW, "--allow-dirty")
    assert done.code == 1
    assert "plan is stale: the spec files changed since the plan was made" in done.err


@pytest.mark.parametrize(
    "content", ["not json", '{"format_version": "9", "steps": []}', '{"format_version": "1"}']
)
def test_unreadable_plan_file_is_refused(
    applied: Path, run: RunCli, tmp_path: Path, content: str
) -> None:
    planfile = tmp_path / "plan.json"
    planfile.write_text(content)
    done = run(applied, "apply", str(planfile), "--now", NOW)
    assert done.code == 1
    assert f"cannot read plan file {planfile}" in done.err


# ---------------------------------------------------------------- commits


def test_apply_commits_only_the_paths_it_changed(
    example: Path, run: RunCli, env: dict[str, str]
) -> None:
    (example / "NOTES.md").write_text("untracked notes\n")
    edit_file(example / "models/diabetes-progression.yaml", "# Linear baseline.", "# Linear.")
    (example / "staged.txt").write_text("staged\n")
    git(example, "add", "staged.txt", env=env)
    assert run(example, "apply", "--now", NOW, "--allow-dirty").code == 0
    files = commit_files(example, env)
    state = example / ".mlops/state"
    assert files == sorted(p.relative_to(example).as_posix() for p in state.rglob("*.json"))
    assert ".mlops/state/models/diabetes-progression.json" in files
    status = git(example, "status", "--porcelain", env=env)
    assert "?? NOTES.md" in status
    assert " M models/diabetes-progression.yaml" in status
    assert "A  staged.txt" in status


def test_no_commit_records_state_without_committing(
    example: Path, run: RunCli, env: dict[str, str]
) -> None:
    before = head(example, env)
    done = run(example, "apply", "--no-commit", "--now", NOW)
    assert done.code == 0
    assert "State serial 1; not committed (--no-commit)." in done.out
    assert head(example, env) == before
    assert (example / ".mlops/state/meta.json").exists()
    assert run(example, "plan", "--detailed-exitcode", "--now", NOW).code == 0


def test_author_falls_back_to_the_environment(
    tmp_path: Path, run: RunCli, env: dict[str, str]
) -> None:
    root = tmp_path / "repo"
    engine_repo_v1(root)  # its Project names no git.author
    init_git(root, env)
    assert run(root, "apply", "--now", NOW).code == 0
    assert git(root, "log", "-1", "--format=%an <%ae>|%cn", env=env).strip() == (
        "Test Author <author@example.com>|Test Committer"
    )


def test_apply_outside_git_needs_no_commit(tmp_path: Path, run: RunCli) -> None:
    root = tmp_path / "plain"
    engine_repo_v1(root)
    done = run(root, "apply", "--now", NOW)
    assert done.code == 1
    assert "is not a git repository" in done.err
    assert "apply with --no-commit" in done.err
    assert run(root, "apply", "--no-commit", "--now", NOW).code == 0


def test_commit_skips_repository_hooks(example: Path, run: RunCli, env: dict[str, str]) -> None:
    hook = example / ".git/hooks/pre-commit"
    hook.write_text(f"#!/bin/sh\ntouch {example}/hook-ran\nexit 1\n")
    hook.chmod(0o755)
    git(example, "config", "core.hooksPath", ".git/hooks", env=env)
    assert run(example, "apply", "--now", NOW).code == 0
    assert not (example / "hook-ran").exists()


# ---------------------------------------------------------------- status and history


def test_history_json_has_one_event_per_applied_step(
    applied: Path, run: RunCli, env: dict[str, str]
) -> None:
    first = trailers(applied, env)
    edit_file(applied / PROD, "traffic: 20 ", "traffic: 50 ")
    commit_all(applied, "canary to 50%", env)
    assert run(applied, "apply", "--now", NOW).code == 0
    data = json.loads(run(applied, "history", "--format", "json").out)
    assert data["format_version"] == "1"
    events = data["events"]
    assert len(events) == len(first) + 1
    newest = events[0]
    assert set(newest) == {"time", "commit", "author", "action", "object", "reason"}
    assert newest["commit"] == head(applied, env)
    assert newest["author"] == "mlops-gitops <mlops-gitops@localhost>"
    assert newest["time"] == "2026-03-01T12:00:00+00:00"
    assert newest["action"] == "update"
    assert newest["object"] == {"kind": "Deployment", "name": "cancer-prod", "version": "1.2.0"}
    assert newest["reason"] == "canary traffic 20% -> 50% (deployments/cancer-prod.yaml)"
    assert [event_trailer(e) for e in reversed(events[1:])] == first  # newest first
    prod = json.loads(
        run(applied, "history", "--deployment", "cancer-prod", "--format", "json").out
    )
    assert [event_trailer(e) for e in prod["events"]] == [
        "update Deployment/cancer-prod 1.2.0",
        "deploy Deployment/cancer-prod 1.2.0",  # canary after stable, in the same commit
        "promote Deployment/cancer-prod 1.1.0",
    ]
    diabetes = json.loads(
        run(applied, "history", "--model", "diabetes-progression", "--format", "json").out
    )
    # The model's versions, and the steps of every deployment serving it (all named diabetes-*).
    assert [event_trailer(e) for e in reversed(diabetes["events"])] == [
        t for t in first if " Model/diabetes-progression " in t or " Deployment/diabetes-" in t
    ]
    assert "register Model/diabetes-progression 1.0.0" in first
    table = run(applied, "history", "--deployment", "cancer-prod")
    assert table.out.splitlines()[0].split() == ["TIME", "COMMIT", "ACTION", "OBJECT", "REASON"]


def test_history_is_empty_before_any_apply(example: Path, run: RunCli) -> None:
    assert json.loads(run(example, "history", "--format", "json").out) == {
        "format_version": "1",
        "events": [],
    }
    assert run(example, "history").out == "No applied steps recorded yet.\n"


def test_status_json(applied: Path, run: RunCli, env: dict[str, str]) -> None:
    edit_file(applied / PROD, "traffic: 20 ", "traffic: 30 ")
    done = run(applied, "status", "--format", "json")
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
        "health": "Healthy",
    }
    assert deployments["diabetes-prod"]["sync"] == "Synced"
    versions = {(v["model"], v["version"]): v for v in data["models"]}
    # (1.0.0 has a retirement plan: "deprecated" once its warning phase starts)
    assert versions[("cancer-detector", "1.0.0")]["status"] in ("registered", "deprecated")
    assert versions[("cancer-detector", "1.1.0")]["status"] == "production"
    assert versions[("cancer-detector", "1.2.0")]["status"] == "production"
    assert versions[("diabetes-progression", "1.0.0")]["scan"] == "clean"
    shutil.rmtree(applied / ".mlops/artifacts")
    degraded = json.loads(run(applied, "status", "--format", "json").out)
    health = {d["name"]: d["health"] for d in degraded["deployments"]}
    assert health["diabetes-prod"] == "Degraded (artifact of 2.0.0 missing)"


def test_status_of_archived_and_pending_versions(
    applied: Path, run: RunCli, env: dict[str, str]
) -> None:
    mixed_edits(applied)
    commit_all(applied, "Mixed changes", env)
    before = json.loads(run(applied, "status", "--format", "json").out)
    lifecycle = {(v["model"], v["version"]): v["status"] for v in before["models"]}
    assert lifecycle[("cancer-detector", "1.3.0")] == "pending"
    assert run(applied, "apply", "--now", NOW).code == 3
    after = json.loads(run(applied, "status", "--format", "json").out)
    lifecycle = {(v["model"], v["version"]): (v["status"], v["in_spec"]) for v in after["models"]}
    assert lifecycle[("cancer-detector", "1.0.0")] == ("archived", False)
    assert lifecycle[("cancer-detector", "1.3.0")] == ("staging", True)
    blob = json.loads((applied / ".mlops/state/models/cancer-detector.json").read_text())
    archived = blob["versions"]["1.0.0"]
    assert archived["status"] == "archived" and archived["archived_at"]
    assert (applied / ".mlops/artifacts" / archived["blob"]).exists()  # never deleted


# ---------------------------------------------------------------- rollback edits


def test_rollback_edit_changes_only_the_changed_lines(
    applied: Path, run: RunCli, env: dict[str, str]
) -> None:
    # Promote 1.2.0 keeping a canary-free file, apply, then roll back with a canary in place.
    edit_file(applied / PROD, "traffic: 20 ", "traffic: 50 ")
    commit_all(applied, "canary to 50%", env)
    assert run(applied, "apply", "--now", NOW).code == 0
    original = (applied / PROD).read_text()
    done = run(applied, "rollback", "cancer-prod", "--to", "1.0.0")
    assert done.code == 0, done.seen
    edited = (applied / PROD).read_text()
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
    assert commit_files(applied, env) == [PROD]
    message = git(applied, "log", "-1", "--format=%B", env=env)
    assert message.startswith("mlops-gitops: rollback cancer-prod to 1.0.0\n")
    assert "Mlops-Edit: rollback Deployment/cancer-prod 1.0.0" in message
    assert "Mlops-Reason: manual rollback from 1.1.0 + canary 1.2.0" in message
    assert not git(applied, "status", "--porcelain", "--", PROD, env=env)
    plan = run(applied, "plan", "--now", NOW)
    assert "+ deploy Deployment/cancer-prod 1.0.0" in plan.out  # never served here before


def test_rollback_of_a_flow_style_canary(applied: Path, run: RunCli) -> None:
    original = (applied / STAGING).read_text()
    assert run(applied, "rollback", "cancer-staging", "--to", "1.0.0").code == 0
    edited = (applied / STAGING).read_text()
    expected = original.replace('  version: "1.1.0"', '  version: "1.0.0"').replace(
        '  canary: {version: "1.2.0", traffic: 50}\n', ""
    )
    assert edited == expected


def test_rollback_default_is_the_previous_stable_version(
    applied: Path, run: RunCli, env: dict[str, str]
) -> None:
    no_history = run(applied, "rollback", "cancer-prod")
    assert no_history.code == 1
    assert "has served only 1.1.0" in no_history.err
    promote_canary(applied / PROD)
    commit_all(applied, "promote 1.2.0", env)
    assert run(applied, "apply", "--now", NOW).code == 0
    done = run(applied, "rollback", "cancer-prod")
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
def test_rollback_refusals(applied: Path, run: RunCli, args: list[str], message: str) -> None:
    done = run(applied, *args)
    assert done.code == 1
    assert message in done.err


def test_rollback_refuses_a_file_with_uncommitted_changes(applied: Path, run: RunCli) -> None:
    edit_file(applied / PROD, "traffic: 20 ", "traffic: 25 ")
    done = run(applied, "rollback", "cancer-prod", "--to", "1.0.0")
    assert done.code == 1
    assert "has uncommitted changes" in done.err


# ---------------------------------------------------------------- kserve


def test_kserve_target_renders_a_valid_inference_service(
    applied: Path, run: RunCli, env: dict[str, str]
) -> None:
    edit_file(applied / STAGING, "  target: local", "  target: kserve")
    commit_all(applied, "staging on kserve", env)
    done = run(applied, "apply", "--now", NOW)
    assert done.code == 0, done.seen
    rendered = applied / "rendered/kserve/cancer-staging.yaml"
    text = rendered.read_text()
    assert text.startswith("# Rendered by mlops-gitops from the specs; do not edit by hand.\n")
    manifest = yaml.safe_load(text)
    jsonschema.validate(manifest, kserve_schema())
    assert manifest["kind"] == "InferenceService"
    assert manifest["metadata"]["name"] == "cancer-staging"
    predictor = manifest["spec"]["predictor"]
    assert predictor["canaryTrafficPercent"] == 50
    assert predictor["model"]["modelFormat"] == {"name": "sklearn"}
    state = json.loads((applied / ".mlops/state/deployments/cancer-staging.json").read_text())
    assert predictor["model"]["storageUri"] == state["serving"]["canary"]["uri"]
    assert state["serving"]["manifest"] == "rendered/kserve/cancer-staging.yaml"
    annotations = manifest["metadata"]["annotations"]
    assert annotations["mlops-gitops/stable-version"] == "1.1.0"
    assert annotations["mlops-gitops/canary-version"] == "1.2.0"
    assert "rendered/kserve/cancer-staging.yaml" in commit_files(applied, env)
    assert "artifact store is a local folder" in done.out

    # Deterministic: rendering the same desired state again gives the same bytes.
    edit_file(applied / STAGING, "  target: kserve", "  target: local")
    commit_all(applied, "back to local", env)
    assert run(applied, "apply", "--now", NOW).code == 0
    assert not rendered.exists()  # the old target stops serving
    assert "rendered/kserve/cancer-staging.yaml" in commit_files(applied, env)
    edit_file(applied / STAGING, "  target: local", "  target: kserve")
    commit_all(applied, "kserve again", env)
    assert run(applied, "apply", "--now", NOW).code == 0
    assert rendered.read_text() == text


def test_kserve_manifest_follows_promotion_and_undeploy(
    tmp_path: Path, run: RunCli, env: dict[str, str]
) -> None:
    root = tmp_path / "repo"
    repo = engine_repo_v1(root)
    init_git(root, env)
    assert run(root, "apply", "--now", NOW).code == 0
    path = root / "rendered/kserve/alpha-prod.yaml"
    first = yaml.safe_load(path.read_text())
    jsonschema.validate(first, kserve_schema())
    assert first["spec"]["predictor"]["canaryTrafficPercent"] == 10
    assert first["spec"]["predictor"]["model"]["resources"]["requests"] == {
        "cpu": "1",
        "memory": "1Gi",
    }
    from tests.engine.helpers import engine_repo_v2

    engine_repo_v2(repo)
    commit_all(root, "v2", env)
    assert run(root, "apply", "--now", NOW).code == 0
    second = yaml.safe_load(path.read_text())
    jsonschema.validate(second, kserve_schema())
    predictor = second["spec"]["predictor"]
    assert "canaryTrafficPercent" not in predictor
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (2, 4)
    assert second["metadata"]["annotations"]["mlops-gitops/stable-version"] == "1.1.0"

    # A tombstone undeploys it: the manifest is removed and the removal committed.
    SpecRepo(root).remove("deployments/alpha-prod.yaml")
    (root / "deployments/alpha-prod.yaml").write_text(
        "apiVersion: mlops-gitops/v1\nkind: Tombstone\nmetadata: {name: alpha-prod}\n"
        "spec: {kind: Deployment, reason: moved to another cluster}\n"
    )
    commit_all(root, "remove alpha-prod", env)
    plan = run(root, "plan", "--now", NOW)
    assert "- undeploy Deployment/alpha-prod 1.1.0" in plan.out
    assert "replaced by a tombstone" in plan.out
    assert run(root, "apply", "--now", NOW).code == 0
    assert not path.exists()
    assert "rendered/kserve/alpha-prod.yaml" in commit_files(root, env)
    record = json.loads((root / ".mlops/state/deployments/alpha-prod.json").read_text())
    assert record["status"] == "undeployed"
    assert run(root, "plan", "--detailed-exitcode", "--now", NOW).code == 0


def test_malformed_commit_author_is_refused_before_any_step(
    tmp_path: Path, run: RunCli, env: dict[str, str]
) -> None:
    root = tmp_path / "repo"
    repo = engine_repo_v1(root)
    repo.write_project(git={"author": "just-a-name"})
    init_git(root, env)
    done = run(root, "apply", "--now", NOW)
    assert done.code == 1
    assert "git author 'just-a-name' is not of the form 'Name <email>'" in done.err
    assert not (root / ".mlops/state").exists()
    assert run(root, "apply", "--no-commit", "--now", NOW).code == 0


def test_apply_json_output(example: Path, run: RunCli, env: dict[str, str]) -> None:
    done = run(example, "apply", "--format", "json", "--now", NOW)
    assert done.code == 0
    data = json.loads(done.out)
    assert data["format_version"] == "1"
    assert data["commit"] == head(example, env)
    assert (data["serial"], data["resumed"]) == (1, False)
    assert data["summary"] == {"done": len(data["steps"])}
    assert [f"{s['action']} {s['object']['kind']}/{s['object']['name']}" for s in data["steps"]][
        :2
    ] == ["register Model/cancer-detector", "register Model/cancer-detector"]


def test_deployment_moved_to_another_model_starts_a_new_history(
    tmp_path: Path, run: RunCli, env: dict[str, str]
) -> None:
    root = tmp_path / "repo"
    repo = engine_repo_v1(root)
    init_git(root, env)
    assert run(root, "apply", "--now", NOW).code == 0
    repo.write_deployment(
        "beta-prod", {"model": "gamma", "stage": "production", "version": "1.0.0"}
    )
    commit_all(root, "beta-prod serves gamma", env)
    plan = run(root, "plan", "--now", NOW)
    assert "now serves model gamma 1.0.0 (was beta 1.0.0)" in plan.out
    assert run(root, "apply", "--now", NOW).code == 0
    record = json.loads((root / ".mlops/state/deployments/beta-prod.json").read_text())
    assert record["model"] == "gamma"
    assert [(r["revision"], r["version"]) for r in record["history"]] == [(1, "1.0.0")]
    assert (
        record["serving"]["stable"]["sha256"]
        == json.loads((root / ".mlops/state/models/gamma.json").read_text())["versions"]["1.0.0"][
            "sha256"
        ]
    )
    assert run(root, "plan", "--detailed-exitcode", "--now", NOW).code == 0
