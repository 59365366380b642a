"""Fixtures for the automation tests: example-repo's cancer models reconciled, once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.automate.helpers import T0, T0_PROMOTED
from tests.support.cli import run_cli
from tests.support.env import isolate
from tests.support.git import git, init_git
from tests.support.repos import EXAMPLE_REPO, copy_repo


@pytest.fixture(scope="session")
def reconciled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """example-repo's cancer models in git, reconciled: cancer-prod serves 1.1.0 with 1.2.0 on
    canary at 20%, everything recorded and committed, nothing left to do.

    diabetes-prod (and its rule) are left out: these tests watch cancer-prod, and their exit
    codes should not depend on the other deployment's policies. Two reconciles, T0 and T0 + 2h:
    the project's `min_time_in_stage: 1h` lets a version into production only after staging.
    Built once, without a git identity; tests take copies (`repo`), which keep the artifact
    store (git-ignored).
    """
    base = tmp_path_factory.mktemp("reconciled")
    repo = copy_repo(EXAMPLE_REPO, base / "repo")
    (repo / "deployments" / "diabetes-prod.yaml.j2").unlink()
    (repo / "rules" / "diabetes-latency.yaml").unlink()
    with pytest.MonkeyPatch.context() as monkeypatch:
        isolate(monkeypatch, base / "home", identity=False)
        init_git(repo)
        for now, code in ((T0, 3), (T0_PROMOTED, 0)):  # 3: production waits for staging time
            run_cli("--repo", repo, "reconcile", "--now", now, expect=code)
    state = json.loads((repo / ".mlops/state/deployments/cancer-prod.json").read_text())
    assert state["version"] == "1.1.0" and state["canary"]["version"] == "1.2.0", state
    assert git(repo, "status", "--porcelain") == ""
    return repo


@pytest.fixture
def repo(reconciled: Path, tmp_path: Path) -> Path:
    """A private copy of the reconciled example repository."""
    return copy_repo(reconciled, tmp_path / "repo")
