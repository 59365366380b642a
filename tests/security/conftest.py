"""Fixtures for attacker-built regression tests: an isolated git environment, an in-process CLI."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from mlops_gitops import cli
from tests.engine.helpers import Done, git_env

RunCli = Callable[..., Done]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The isolated git environment, also set in this process for in-process CLI runs."""
    isolated = git_env(tmp_path / "home")
    for key in list(os.environ):
        if key.startswith(("GIT_", "MLOPS_GITOPS_")):
            monkeypatch.delenv(key)
    for key, value in isolated.items():
        monkeypatch.setenv(key, value)
    return isolated


@pytest.fixture
def run(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> RunCli:
    """`run(repo, *args)`: the CLI in this process, with its exit code and output."""

    def invoke(repo: Path, *args: str) -> Done:
        capsys.readouterr()
        code = cli.main(["--no-color", "--repo", str(repo), *args])
        captured = capsys.readouterr()
        return Done(code, captured.out, captured.err)

    return invoke
