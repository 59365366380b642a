"""The repository is found like git finds its own: from any subfolder, `--repo` before or after
the command, and an error that names where the search started when there is none."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE_REPO, copy_repo, run_cli


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return copy_repo(EXAMPLE_REPO, tmp_path / "repo")


def _validate_in(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlops_gitops", *args, "validate", "--format", "json"],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_a_command_run_in_a_subfolder_uses_the_repository_above(repo: Path) -> None:
    deep = repo / "models" / "notes"
    deep.mkdir()
    done = _validate_in(deep)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["objects"]["Model"] == 2


def test_repo_after_the_command(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = run_cli(capsys, ["--repo", str(repo), "validate", "--format", "json"])
    after = run_cli(capsys, ["validate", "--format", "json", "--repo", str(repo)])
    assert after.code == before.code == 0
    assert after.out == before.out


def test_repo_given_as_a_subfolder(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = run_cli(capsys, ["validate", "--repo", str(repo / "deployments")])
    assert run.code == 0, run.err
    assert run.out.startswith("Valid: 11 objects")


def test_no_repository_anywhere_names_the_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty" / "sub"
    empty.mkdir(parents=True)
    run = run_cli(capsys, ["validate", "--repo", str(empty)])
    assert run.code == 1
    assert f"mlops.yaml not found in {empty}" in run.err
