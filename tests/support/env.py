"""An environment of the test's own: nothing from the machine's git, cloud or CI settings.

The root conftest makes it `os.environ` for every test (and for session fixtures), so the tool
in this process and every process a test starts see the same isolated environment.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

GIT_DATE = "2026-03-01T12:00:00+00:00"
IDENTITY = {
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.com",
    "GIT_AUTHOR_DATE": GIT_DATE,
    "GIT_COMMITTER_NAME": "Test Committer",
    "GIT_COMMITTER_EMAIL": "committer@example.com",
    "GIT_COMMITTER_DATE": GIT_DATE,
}
"""A fixed identity and date for every commit, so commit shas are reproducible. Left out for
tests marked `no_git_identity`: there, as on a CI runner, the tool must name its own committer."""

DROPPED_PREFIXES = (
    "GIT_",
    "MLOPS_GITOPS_",
    "GITHUB_",
    "GITLAB_",
    "CI_",
    "AWS_",
    "AZURE_",
    "GOOGLE_",
    "GCLOUD_",
    "CLOUDSDK_",
    "GCS_",
    "BOTO_",
    "MINIO_",
)
"""Settings of the machine's git and of this tool, CI runner context, cloud credentials."""
DROPPED = {"CI", "EMAIL", "KUBECONFIG", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"}
"""Compared in upper case: proxies would send loopback requests elsewhere."""


def isolated_environ(home: Path, *, identity: bool = True) -> dict[str, str]:
    """os.environ without the machine's settings, with `home` as HOME and git's only config."""
    home.mkdir(parents=True, exist_ok=True)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.upper().startswith(DROPPED_PREFIXES) and key.upper() not in DROPPED
    }
    env |= {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
        "GIT_CONFIG_GLOBAL": str(home / ".gitconfig"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "NO_COLOR": "1",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    if identity:
        env |= IDENTITY
    return env


def isolate(
    monkeypatch: pytest.MonkeyPatch, home: Path, *, identity: bool = True
) -> dict[str, str]:
    """Make os.environ `isolated_environ(home)` until `monkeypatch` undoes it."""
    wanted = isolated_environ(home, identity=identity)
    for key in list(os.environ):
        if key not in wanted:
            monkeypatch.delenv(key)
    for key, value in wanted.items():
        if os.environ.get(key) != value:
            monkeypatch.setenv(key, value)
    return wanted
