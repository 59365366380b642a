"""Fixtures for the serving tests: an applied copy of example-repo, built once per session."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serve.helpers import CliServer, build_applied, copy_repo, instances, isolate


@pytest.fixture(scope="session")
def applied(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """example-repo applied: cancer-prod, cancer-staging and diabetes-prod deployed."""
    base = tmp_path_factory.mktemp("applied")
    with pytest.MonkeyPatch.context() as monkeypatch:
        isolate(monkeypatch, base / "home")
        return build_applied(base / "repo")


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Git isolated from the machine's configuration, also in this process."""
    return isolate(monkeypatch, tmp_path / "home")


@pytest.fixture
def repo(applied: Path, tmp_path: Path, env: dict[str, str]) -> Path:
    """A private copy of the applied repository."""
    return copy_repo(applied, tmp_path / "repo")


@pytest.fixture(scope="module")
def live(applied: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CliServer]:
    """`mlops-gitops serve` for the tests that only send requests, on its own copy."""
    base = tmp_path_factory.mktemp("live")
    with pytest.MonkeyPatch.context() as monkeypatch:
        env = isolate(monkeypatch, base / "home")
    repo = copy_repo(applied, base / "repo")
    with CliServer(repo, env) as server:
        yield server
        # SIGTERM right after a request: the record still buffered is flushed at shutdown.
        with server.client() as client:
            sent = client.post(
                "/v1/models/cancer-prod:predict",
                json={"instances": instances(1)},
                headers={"X-Request-Id": "last-before-sigterm"},
            )
            assert sent.status_code == 200
        assert server.stop() in (0, -signal.SIGTERM)
    log = (repo / "logs/cancer-prod/predictions.jsonl").read_text(encoding="utf-8")
    assert '"request_id":"last-before-sigterm"' in log
