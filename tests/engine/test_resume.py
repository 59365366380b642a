"""Resuming an interrupted apply, in process: interruptions are simulated by raising from the
executor's fault points or right after a state write (the SIGKILL versions are in
test_crash.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlops_gitops import api
from mlops_gitops.apply import executor
from mlops_gitops.state.store import StateStore
from tests.engine.helpers import NOW, engine_repo_v1, init_git, trailers


class Interrupted(BaseException):
    """Not an Exception: like a kill, nothing in the tool catches it."""


@pytest.fixture
def repo(tmp_path: Path, env: dict[str, str]) -> Path:
    root = tmp_path / "repo"
    engine_repo_v1(root)
    init_git(root, env)
    return root


def interrupt_at(monkeypatch: pytest.MonkeyPatch, point: str, n: int = 1) -> None:
    seen = {"count": 0}

    def fault(name: str) -> None:
        if name == point:
            seen["count"] += 1
            if seen["count"] == n:
                raise Interrupted(point)

    monkeypatch.setattr(executor, "fault_point", fault)
    monkeypatch.setattr("mlops_gitops.apply.run.fault_point", fault)


def test_serial_is_bumped_once_when_interrupted_right_after_the_bump(
    repo: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    original = StateStore.bump

    def bump_then_die(self: StateStore, *args: object, **kwargs: object) -> object:
        original(self, *args, **kwargs)  # type: ignore[arg-type]
        raise Interrupted("after the bump, before the journal noted it")

    with monkeypatch.context() as patch, pytest.raises(Interrupted):
        patch.setattr(StateStore, "bump", bump_then_die)
        api.apply(repo, now=NOW)
    result = api.apply(repo, now=NOW)
    assert result.resumed and result.serial == 1
    assert json.loads((repo / ".mlops/state/meta.json").read_text())["serial"] == 1
    assert len(trailers(repo, env)) == 10


def test_step_interrupted_after_its_record_is_committed_once(
    repo: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    with monkeypatch.context() as patch, pytest.raises(Interrupted):
        interrupt_at(patch, "step-written", 3)
        api.apply(repo, now=NOW)
    result = api.apply(repo, now=NOW)
    assert result.resumed
    assert result.outcomes[0].step.id == "register:Model/gamma@1.0.0"
    assert sorted(trailers(repo, env)) == sorted(set(trailers(repo, env)))
    assert len(trailers(repo, env)) == 10
    assert "register Model/beta 1.0.0" in trailers(repo, env)  # the interrupted step


def test_interrupted_step_is_reported_when_the_specs_changed_meanwhile(
    repo: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    with monkeypatch.context() as patch, pytest.raises(Interrupted):
        interrupt_at(patch, "step-written", 1)
        api.apply(repo, now=NOW)
    (repo / "models/gamma.yaml").unlink()
    (repo / "deployments/gamma-web.yaml").unlink()
    result = api.apply(repo, now=NOW, commit=False, allow_dirty=True)
    assert result.resumed
    assert result.warnings[0] == (
        "step register:Model/alpha@1.0.0 was interrupted and the specs changed since; "
        "check `mlops-gitops status`"
    )


def test_failed_step_is_retried_by_the_next_apply(
    repo: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    artifact = repo / "artifacts/gamma/1.0.0.safetensors"
    data = artifact.read_bytes()
    original = executor.HANDLERS["register"]

    def flaky(ctx: executor.Context, step: executor.Step) -> list[str]:
        if step.object.name == "gamma":
            raise OSError("store unavailable")
        return original(ctx, step)

    with monkeypatch.context() as patch:
        patch.setitem(executor.HANDLERS, "register", flaky)
        first = api.apply(repo, now=NOW)
    assert first.exit_code == 1
    assert {o.step.id: o.status for o in first.outcomes}[
        "deploy:Deployment/gamma-web@1.0.0:stable"
    ] == ("skipped")
    assert artifact.read_bytes() == data
    second = api.apply(repo, now=NOW)
    assert second.exit_code == 0 and not second.resumed
    assert [o.step.id for o in second.outcomes] == [
        "register:Model/gamma@1.0.0",
        "deploy:Deployment/gamma-web@1.0.0:stable",
    ]
    assert len(trailers(repo, env)) == 10
