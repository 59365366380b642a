"""Fixtures for the serving tests: an applied copy of example-repo, built once per session."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.serve.helpers import CliServer, instances
from tests.support.cli import run_cli
from tests.support.example import example_in_git
from tests.support.repos import copy_repo


@pytest.fixture(scope="session")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """example-repo in git, applied twice (the stage policy holds production for an hour):
    every version registered; cancer-staging (1.1.0 + 1.2.0 on 50%), cancer-prod (1.1.0 +
    1.2.0 on 20%) and the diabetes deployments (2.0.0, a regression model) deployed.

    The applies are dated before the real clock: `serve` and an `apply` without --now read it.
    """
    repo = example_in_git(tmp_path_factory.mktemp("deployed") / "repo")
    now = datetime.now(UTC).replace(microsecond=0)
    staging_at, production_at = now - timedelta(hours=3), now - timedelta(hours=1)
    run_cli("--repo", repo, "apply", "--now", staging_at.isoformat(), expect=3)  # prod held
    run_cli("--repo", repo, "apply", "--now", production_at.isoformat(), expect=0)
    states = {p.stem for p in (repo / ".mlops" / "state" / "deployments").glob("*.json")}
    assert {"cancer-prod", "cancer-staging", "diabetes-prod"} <= states, states
    return repo


@pytest.fixture
def repo(deployed: Path, tmp_path: Path) -> Path:
    """A private copy of the deployed repository."""
    return copy_repo(deployed, tmp_path / "repo")


@pytest.fixture(scope="module")
def live(deployed: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CliServer]:
    """`mlops-gitops serve` for the tests that only send requests, on its own copy."""
    repo = copy_repo(deployed, tmp_path_factory.mktemp("live") / "repo")
    with CliServer(repo) as server:
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
