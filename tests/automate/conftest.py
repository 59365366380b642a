"""Fixtures for the automation tests: a reconciled copy of example-repo, isolated git."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from mlops_gitops import cli
from tests.automation.helpers import (
    EXAMPLE_REPO,
    T0,
    T0_PROMOTED,
    ci_env,
    commit_all,
    git,
)
from tests.automation.helpers import cli as run_cli


@pytest.fixture(scope="session")
def reconciled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """example-repo's cancer models in git, reconciled: cancer-prod serves 1.1.0 with 1.2.0 on
    canary at 20%, everything recorded and committed, nothing left to do.

    diabetes-prod (and its rule) are left out: these tests watch cancer-prod, and their exit
    codes should not depend on the other deployment's policies. Two reconciles, T0 and T0 + 2h:
    the project's `min_time_in_stage: 1h` lets a version into production only after staging.
    Built once; tests take copies (`repo`), which keep the artifact store (git-ignored).
    """
    base = tmp_path_factory.mktemp("reconciled")
    repo = base / "repo"
    shutil.copytree(EXAMPLE_REPO, repo, ignore=shutil.ignore_patterns("__pycache__"))
    (repo / "deployments" / "diabetes-prod.yaml.j2").unlink()
    (repo / "rules" / "diabetes-latency.yaml").unlink()
    env = ci_env(base / "home")
    git(repo, "init", "-q", "-b", "main", env=env)
    commit_all(repo, "Initial specs", env=env)
    for now, code in ((T0, 3), (T0_PROMOTED, 0)):  # 3: production waits for staging time
        done = run_cli(["--repo", str(repo), "reconcile", "--now", now], env)
        assert done.returncode == code, done.stdout + done.stderr
    state = json.loads((repo / ".mlops/state/deployments/cancer-prod.json").read_text())
    assert state["version"] == "1.1.0" and state["canary"]["version"] == "1.2.0", state
    assert git(repo, "status", "--porcelain", env=env) == ""
    return repo


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The CI-like environment, also set in this process for in-process runs."""
    isolated = ci_env(tmp_path / "home")
    for key in list(os.environ):
        if key not in isolated:
            monkeypatch.delenv(key)
    for key, value in isolated.items():
        monkeypatch.setenv(key, value)
    return isolated


@pytest.fixture
def repo(reconciled: Path, tmp_path: Path, env: dict[str, str]) -> Path:
    """A private copy of the reconciled example repository."""
    return Path(shutil.copytree(reconciled, tmp_path / "repo", symlinks=True))


class Reconcile:
    """`reconcile --format json` in-process, returning the parsed result."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys

    def __call__(self, repo: Path, now: str, *extra: str, code: int = 0) -> dict[str, Any]:
        out = self.text(repo, now, "--format", "json", *extra, code=code)
        result: dict[str, Any] = json.loads(out)
        return result

    def text(self, repo: Path, now: str, *extra: str, code: int = 0) -> str:
        return self.run(["--repo", str(repo), "reconcile", "--now", now, *extra], code)

    def run(self, argv: Sequence[str], code: int = 0) -> str:
        self.capsys.readouterr()
        got = cli.main(["--no-color", *argv])
        captured = self.capsys.readouterr()
        assert got == code, captured.out + captured.err
        return captured.out


@pytest.fixture
def reconcile(capsys: pytest.CaptureFixture[str]) -> Iterator[Reconcile]:
    yield Reconcile(capsys)
