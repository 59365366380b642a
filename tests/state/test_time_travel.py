"""`--at REV`: status, plan, validate and compile of a past commit, read from git objects.

The repository goes through four commits (specs v1, apply, specs v2, apply); each past one
is inspected while the work tree holds something else (an uncommitted edit), and the work
tree is left exactly as it was.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlops_gitops import snapshot
from tests.security.helpers import snapshot as files_of
from tests.support.legacy import RunCli, commit_all, git, init_git, run_in
from tests.support.repos import engine_repo_v1, engine_repo_v2
from tests.support.values import NOW


@pytest.fixture
def run() -> RunCli:
    return run_in


@pytest.fixture
def history(tmp_path: Path, env: dict[str, str], run: RunCli) -> tuple[Path, list[str]]:
    """The repository and its commits, oldest first: specs v1, apply, specs v2, apply."""
    repo = tmp_path / "repo"
    spec = engine_repo_v1(repo)
    init_git(repo, env)
    shas = [git(repo, "rev-parse", "HEAD", env=env).strip()]
    assert run(repo, "apply", "--now", NOW).code in (0, 3)
    shas.append(git(repo, "rev-parse", "HEAD", env=env).strip())
    engine_repo_v2(spec)
    shas.append(commit_all(repo, "Specs v2", env))
    assert run(repo, "apply", "--now", NOW).code in (0, 3)
    shas.append(git(repo, "rev-parse", "HEAD", env=env).strip())
    assert len(set(shas)) == 4
    return repo, shas


def work_tree(repo: Path) -> dict[str, tuple[bytes, int, bool]]:
    """Every entry outside .git (git's own index is refreshed by any `git status`)."""
    return {k: v for k, v in files_of(repo).items() if k.split("/")[0] != ".git"}


def deployments(
    run: RunCli, repo: Path, rev: str, sha: str | None = None
) -> dict[str, dict[str, object]]:
    done = run(repo, "status", "--at", rev, "--format", "json")
    assert done.code == 0, done.seen
    report = json.loads(done.out)
    assert report["at"] == (sha or git(repo, "rev-parse", rev).strip())
    return {d["name"]: d for d in report["deployments"]}


def test_status_at_three_past_commits_leaves_the_work_tree_alone(
    history: tuple[Path, list[str]], run: RunCli, env: dict[str, str]
) -> None:
    repo, (specs_v1, applied_v1, specs_v2, _) = history
    # The work tree says something else again: --at must not read it.
    prod = repo / "deployments" / "beta-prod.yaml"
    prod.write_text(prod.read_text().replace('version: "1.1.0"', 'version: "1.0.0"'))
    before = work_tree(repo)
    status_before = git(repo, "status", "--porcelain", env=env)

    first = deployments(run, repo, specs_v1)
    assert first["beta-prod"]["actual"] is None
    assert first["beta-prod"]["desired"] == {
        "version": "1.0.0",
        "canary": None,
        "stage": "production",
    }
    assert first["beta-prod"]["health"] == "Missing"
    assert "gamma-web" in first

    second = deployments(run, repo, applied_v1)
    assert second["beta-prod"]["actual"] == second["beta-prod"]["desired"]
    assert second["beta-prod"]["sync"] == "Synced"
    assert second["beta-prod"]["health"] == "Present"  # the store is the repository's

    third = deployments(run, repo, specs_v2)
    assert third["beta-prod"]["desired"]["version"] == "1.1.0"  # type: ignore[index]
    assert third["beta-prod"]["actual"]["version"] == "1.0.0"  # type: ignore[index]
    assert third["beta-prod"]["sync"] == "OutOfSync"
    assert third["gamma-web"]["desired"] is None  # removed from the specs, still recorded

    text = run(repo, "status", "--at", "HEAD~1")
    assert text.code == 0
    assert text.out.startswith(f"As committed at {specs_v2}:")

    assert work_tree(repo) == before
    assert git(repo, "status", "--porcelain", env=env) == status_before


def test_plan_validate_and_compile_at_a_past_commit(
    history: tuple[Path, list[str]], run: RunCli, tmp_path: Path
) -> None:
    repo, (specs_v1, _, specs_v2, applied_v2) = history
    planned = run(repo, "plan", "--at", specs_v2, "--now", NOW, "--format", "json")
    assert planned.code == 0, planned.seen
    plan = json.loads(planned.out)
    assert plan["base_commit"] == specs_v2
    steps = {(s["action"], s["object"]["name"], s["object"].get("version")) for s in plan["steps"]}
    assert ("register", "alpha", "1.2.0") in steps
    # The same commit's plan at HEAD's state would be empty of it: already applied.
    now_steps = json.loads(run(repo, "plan", "--now", NOW, "--format", "json").out)["steps"]
    assert not [
        s for s in now_steps if s["object"].get("version") == "1.2.0" and s["action"] == "register"
    ]

    valid = run(repo, "validate", "--at", specs_v1, "--format", "json")
    assert valid.code == 0, valid.seen

    assert run(repo, "compile", "--at", specs_v1, "-o", str(tmp_path / "v1")).code == 0
    assert run(repo, "compile", "--at", applied_v2, "-o", str(tmp_path / "v2")).code == 0
    v1 = json.loads((tmp_path / "v1" / "manifest.json").read_text())
    v2 = json.loads((tmp_path / "v2" / "manifest.json").read_text())
    assert "gamma" in v1["models"] and "gamma" not in v2["models"]

    refused = run(repo, "plan", "--at", specs_v1, "-o", str(tmp_path / "plan.json"))
    assert refused.code == 1 and "-o cannot save it" in refused.err


def test_a_date_names_the_last_commit_by_then_and_unknown_revisions_are_errors(
    history: tuple[Path, list[str]], run: RunCli
) -> None:
    repo, shas = history
    # Every commit of the fixture is dated 2026-03-01 (GIT_*_DATE): the newest counts.
    assert deployments(run, repo, "2026-03-01", shas[-1])["beta-prod"]["sync"] == "Synced"
    for rev in ("2020-01-01", "no-such-branch", "--output=/tmp/x", "HEAD~99"):
        done = run(repo, "status", f"--at={rev}")
        assert done.code == 1
        assert "names no commit" in done.err
        assert "Traceback" not in done.seen


def test_a_committed_symlink_is_not_followed(
    tmp_path: Path, env: dict[str, str], run: RunCli
) -> None:
    repo = tmp_path / "repo"
    engine_repo_v1(repo)
    outside = tmp_path / "outside.yaml"
    outside.write_text(
        (repo / "deployments" / "beta-prod.yaml").read_text().replace("beta-prod", "stolen")
    )
    (repo / "deployments" / "stolen.yaml").symlink_to(outside)
    init_git(repo, env)
    done = run(repo, "compile", "--at", "HEAD", "-o", str(tmp_path / "out"))
    assert done.code == 0, done.seen
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert "stolen" not in manifest["deployments"]
    assert "beta-prod" in manifest["deployments"]


def test_files_beyond_the_budget_are_refused_with_their_name(
    tmp_path: Path, env: dict[str, str], run: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "repo"
    engine_repo_v1(repo)
    (repo / "notes.txt").write_bytes(b"x" * 5000)
    init_git(repo, env)
    monkeypatch.setattr(snapshot, "MAX_FILE_BYTES", 4096)
    done = run(repo, "status", "--at", "HEAD")
    assert done.code == 1
    assert "notes.txt" in done.err and "4096" in done.err


def test_a_crafted_tree_with_a_dot_dot_entry_is_refused(
    tmp_path: Path, env: dict[str, str], run: RunCli
) -> None:
    repo = tmp_path / "repo"
    engine_repo_v1(repo)
    init_git(repo, env)
    evil = git(repo, "rev-parse", "HEAD:mlops.yaml", env=env).strip()
    tree = git(repo, "rev-parse", "HEAD^{tree}", env=env).strip()
    listing = git(repo, "ls-tree", tree, env=env)
    crafted = listing + f"100644 blob {evil}\t..\n"
    done_tree = _mktree(repo, crafted, env)
    if done_tree is None:
        pytest.skip("this git refuses to write a tree holding '..'")
    commit = git(repo, "commit-tree", done_tree, "-m", "crafted", env=env).strip()
    done = run(repo, "status", "--at", commit)
    assert done.code == 1
    assert "unsafe path" in done.err


def _mktree(repo: Path, listing: str, env: dict[str, str]) -> str | None:
    import subprocess

    done = subprocess.run(
        ["git", "-C", str(repo), "mktree"],
        input=listing,
        text=True,
        capture_output=True,
        env=env,
        check=False,
    )
    return done.stdout.strip() if done.returncode == 0 else None
