"""git.run: how the tool's git commands fail."""

from __future__ import annotations

import subprocess
from pathlib import Path

from mlops_gitops import git


def test_a_git_command_that_exits_before_reading_its_input_fails_as_a_git_error(
    tmp_path: Path,
) -> None:
    """A commit refused by a held index lock must be a GitError every time (reconcile's
    recovery catches only that), not a crash of the thread feeding git its message."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".git" / "index.lock").touch()
    for _ in range(100):
        try:
            git.run(tmp_path, "commit", "--allow-empty", "-F", "-", stdin="message " * 4)
        except git.GitError as exc:
            assert "index.lock" in exc.message
        else:
            raise AssertionError("the commit went through a held index lock")
