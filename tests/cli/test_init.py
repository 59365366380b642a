"""`init` scaffolds a repository that validates, plans and applies at once, and never
overwrites what a folder already holds."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.cli import run_cli
from tests.support.repos import PROJECT

SCAFFOLD = PROJECT / "mlops_gitops" / "scaffold" / "files"


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout


def test_a_new_repository_validates_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "Risk Models"
    run = run_cli("init", str(repo))
    assert run.code == 0, run.err
    assert "Initialised mlops-gitops repository risk-models" in run.out
    for folder in ("models", "deployments", "rules", "retirements", "pipelines"):
        assert (repo / folder).is_dir()
    assert (repo / ".github/workflows/mlops-gitops.yml").read_bytes() == (
        SCAFFOLD / "github-workflow.yml"
    ).read_bytes()
    header = (repo / "mlops.yaml").read_text().splitlines()[0]
    schema = header.removeprefix("# yaml-language-server: $schema=")
    assert (repo / schema).is_file(), header
    ignored = (repo / ".gitignore").read_text().splitlines()
    assert {".mlops/artifacts/", ".mlops/apply.lock", ".mlops/journal.jsonl"} <= set(ignored)
    assert _git(repo, "symbolic-ref", "--short", "HEAD").strip() == "main"
    assert _git(repo, "rev-parse", "--is-inside-work-tree").strip() == "true"
    check = run_cli("validate", "--repo", repo)
    assert check.code == 0, check.err
    assert check.out == "Valid: 1 object (1 Project).\n"


@pytest.mark.parametrize(("ci", "path"), [("gitlab", ".gitlab-ci.yml"), ("none", None)])
def test_the_ci_pipeline_is_chosen(
    ci: str, path: str | None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "repo"
    assert run_cli("init", str(repo), "--ci", ci).code == 0
    assert not (repo / ".github").exists()
    if path is not None:
        assert (repo / path).read_bytes() == (SCAFFOLD / "gitlab-ci.yml").read_bytes()
    else:
        assert not (repo / ".gitlab-ci.yml").exists()


def test_an_existing_repository_is_refused_and_left_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "mlops.yaml").write_text("mine\n")
    run = run_cli("init", str(repo))
    assert run.code == 1
    assert "mlops.yaml exists already" in run.err
    assert sorted(p.name for p in repo.iterdir()) == ["mlops.yaml"]
    assert (repo / "mlops.yaml").read_text() == "mine\n"


def test_existing_files_are_kept_and_gitignore_is_completed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / ".gitignore").write_text("*.pyc\n.mlops/apply.lock")
    workflow = repo / ".github/workflows/mlops-gitops.yml"
    workflow.parent.mkdir(parents=True)
    workflow.write_text("name: mine\n")
    run = run_cli("init", str(repo), "--name", "team-a")
    assert run.code == 0, run.err
    assert "kept .github/workflows/mlops-gitops.yml (it existed)" in run.out
    assert "ran git init" not in run.out
    assert workflow.read_text() == "name: mine\n"
    lines = (repo / ".gitignore").read_text().splitlines()
    assert lines[:2] == ["*.pyc", ".mlops/apply.lock"]
    assert lines.count(".mlops/apply.lock") == 1 and ".mlops/artifacts/" in lines
    assert "name: team-a" in (repo / "mlops.yaml").read_text()


def test_a_bad_name_or_a_file_in_the_way_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = run_cli("init", str(tmp_path / "a"), "--name", "Team_A")
    assert bad.code == 1 and "--name 'Team_A' is not a valid object name" in bad.err
    assert not (tmp_path / "a" / "mlops.yaml").exists()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    run = run_cli("init", str(blocker))
    assert run.code == 1 and "is not a folder" in run.err


def test_the_scaffold_plans_and_applies_a_first_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "repo"
    assert run_cli("init", str(repo), "--ci", "none").code == 0
    (repo / "artifacts").mkdir()
    (repo / "artifacts/clf.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    (repo / "models/clf.yaml").write_text(
        "# yaml-language-server: $schema=../.mlops/schemas/model.schema.json\n"
        "apiVersion: mlops-gitops/v1\nkind: Model\nmetadata: {name: clf}\n"
        'spec:\n  task: classification\n  versions:\n    - version: "1.0.0"\n'
        "      artifact: artifacts/clf.safetensors\n      format: safetensors\n"
    )
    (repo / "deployments/clf-dev.yaml").write_text(
        "apiVersion: mlops-gitops/v1\nkind: Deployment\nmetadata: {name: clf-dev}\n"
        'spec: {model: clf, stage: development, version: "1.0.0"}\n'
    )
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "first model")
    applied = run_cli("apply", "--repo", repo)
    assert applied.code == 0, applied.out + applied.err
    assert "done     deploy Deployment/clf-dev 1.0.0" in applied.out
    assert _git(repo, "status", "--porcelain") == ""
