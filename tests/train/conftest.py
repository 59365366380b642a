"""The repository the training tests start from."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def repo(example_git: Path) -> Path:
    """example-repo in git, nothing applied: training needs only the specs and the data."""
    return example_git
