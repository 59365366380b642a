"""git as a person working in a repository the tool manages."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

HUMAN = ("-c", "user.name=Human", "-c", "user.email=human@example.com")
"""Who commits when the environment names nobody (tests marked `no_git_identity`)."""


def git(repo: Path, *args: str) -> str:
    """`git args` in `repo`; a failure fails the test with git's own message."""
    done = subprocess.run(
        ["git", "-C", str(repo), *HUMAN, *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {done.stderr}{done.stdout}")
    return done.stdout


def commit_all(repo: Path, message: str) -> str:
    """Commit everything in the working tree; the new commit's sha."""
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return head(repo)


def init_git(repo: Path, message: str = "Initial specs") -> str:
    """Make `repo` a git repository on `main` with everything in it committed."""
    git(repo, "init", "-q", "-b", "main")
    return commit_all(repo, message)


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").strip()


def subjects(repo: Path, ref: str = "HEAD") -> list[str]:
    """The subject line of every commit of `ref`, newest first."""
    return git(repo, "log", "--format=%s", ref).splitlines()


def trailers(repo: Path, key: str = "Mlops-Step", ref: str = "HEAD") -> list[str]:
    """Every value of the trailer `key` in the history of `ref`, oldest commit first."""
    out = git(repo, "log", "--reverse", "--format=%B%x1e", ref)
    prefix = f"{key}: "
    return [
        line.removeprefix(prefix)
        for body in out.split("\x1e")
        for line in body.splitlines()
        if line.startswith(prefix)
    ]


def commit_files(repo: Path, rev: str = "HEAD") -> list[str]:
    """The paths a commit changed, sorted."""
    out = git(repo, "show", "--name-only", "--format=", rev)
    return sorted(line for line in out.splitlines() if line)


def step_trailer(step: Mapping[str, Any]) -> str:
    """The `Mlops-Step` trailer of a step of `plan --format json` (or a `history` event)."""
    obj = step["object"]
    version = f" {obj['version']}" if obj["version"] else ""
    return f"{step['action']} {obj['kind']}/{obj['name']}{version}"
