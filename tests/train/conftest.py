"""The repository the training tests start from."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.example import example_in_git


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """example-repo in git (nothing applied: training needs only the specs and data)."""
    return example_in_git(tmp_path / "repo")
