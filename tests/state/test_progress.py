"""Progress records read from disk: a symlink is refused, a missing record is a first run.

What a rule does with a damaged record is in tests/automate/test_rule_progress.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_gitops.errors import MlopsError
from mlops_gitops.state.progress import RetirementProgress, RuleProgress, read_progress


def test_a_symlinked_record_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.json"
    target.write_text('{"schema_version": 1, "rule": "r"}')
    link = tmp_path / "r.json"
    link.symlink_to(target)
    with pytest.raises(MlopsError, match="not a regular file"):
        read_progress(link, "rules/r.json", RuleProgress)


def test_a_missing_record_is_a_first_run(tmp_path: Path) -> None:
    assert read_progress(tmp_path / "none.json", "none.json", RetirementProgress) is None
