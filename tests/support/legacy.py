"""Call shapes of the older engine helpers (`git(repo, ..., env=)`, a `run(repo, ...)` CLI)
on top of the shared support modules, for the history, time-travel, registry and signing
tests written against them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from tests.support import git as support_git
from tests.support.cli import Result, run_cli

RunCli = Callable[..., Result]


def git(repo: Path, *args: str, env: Mapping[str, str] | None = None) -> str:
    return support_git.git(repo, *args)


def commit_all(repo: Path, message: str, env: Mapping[str, str] | None = None) -> str:
    return support_git.commit_all(repo, message)


def init_git(
    repo: Path, env: Mapping[str, str] | None = None, message: str = "Initial specs"
) -> str:
    return support_git.init_git(repo, message)


def run_in(repo: Path, *args: str) -> Result:
    """`mlops-gitops --repo repo args` in this process."""
    return run_cli("--repo", repo, *args)
