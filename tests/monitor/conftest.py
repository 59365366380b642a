"""Fixtures for the monitoring tests: git isolated from the machine's configuration."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.monitor.helpers import git_env


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """An isolated git environment, set in this process for in-process runs."""
    isolated = git_env(tmp_path / "home")
    for key in list(os.environ):
        if key.startswith(("GIT_", "MLOPS_GITOPS_")):
            monkeypatch.delenv(key)
    for key, value in isolated.items():
        monkeypatch.setenv(key, value)
    return isolated
