"""The repository is found like git finds its own: from any subfolder, `--repo` before or after
the command, and an error that names where the search started when there is none."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import run_cli, run_process
from tests.support.repos import EXAMPLE_REPO, copy_repo


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return copy_repo(EXAMPLE_REPO, tmp_path / "repo")


@pytest.mark.slow
def test_a_command_run_in_a_subfolder_uses_the_repository_above(repo: Path) -> None:
    deep = repo / "models" / "notes"
    deep.mkdir()
    done = run_process("validate", "--format", "json", cwd=deep, expect=0)
    assert done.json()["objects"]["Model"] == 2


def test_repo_after_the_command(repo: Path) -> None:
    before = run_cli("--repo", str(repo), "validate", "--format", "json")
    after = run_cli("validate", "--format", "json", "--repo", str(repo))
    assert after.code == before.code == 0
    assert after.out == before.out


def test_repo_given_as_a_subfolder(repo: Path) -> None:
    run = run_cli("validate", "--repo", str(repo / "deployments"))
    assert run.code == 0, run.err
    assert run.out.startswith("Valid: 11 objects")


def test_no_repository_anywhere_names_the_start(tmp_path: Path) -> None:
    empty = tmp_path / "empty" / "sub"
    empty.mkdir(parents=True)
    run = run_cli("validate", "--repo", str(empty))
    assert run.code == 1
    assert f"mlops.yaml not found in {empty}" in run.err
