"""Resuming an interrupted apply, in process: interruptions are simulated by raising from the
executor's fault points or right after a state write (the SIGKILL versions are in
test_crash.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlops_gitops import api
from mlops_gitops.apply import executor
from mlops_gitops.plan.model import Step
from mlops_gitops.state.store import StateStore
from tests.support.git import trailers
from tests.support.values import NOW


class Interrupted(BaseException):
    """Not an Exception: like a kill, nothing in the tool catches it."""


def apply_interrupted_at(
    repo: Path, monkeypatch: pytest.MonkeyPatch, point: str, n: int = 1
) -> None:
    """Apply, interrupted the n-th time the executor reaches the fault point `point`."""
    seen = {"count": 0}

    def fault(name: str) -> None:
        if name == point:
            seen["count"] += 1
            if seen["count"] == n:
                raise Interrupted(point)

    with monkeypatch.context() as patch, pytest.raises(Interrupted):
        patch.setattr(executor, "fault_point", fault)
        patch.setattr("mlops_gitops.apply.run.fault_point", fault)
        api.apply(repo, now=NOW)


def test_serial_is_bumped_once_when_interrupted_right_after_the_bump(
    engine_git: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = StateStore.bump

    def bump_then_die(self: StateStore, *args: object, **kwargs: object) -> object:
        original(self, *args, **kwargs)  # type: ignore[arg-type]
        raise Interrupted("after the bump, before the journal noted it")

    with monkeypatch.context() as patch, pytest.raises(Interrupted):
        patch.setattr(StateStore, "bump", bump_then_die)
        api.apply(engine_git, now=NOW)
    result = api.apply(engine_git, now=NOW)
    assert result.resumed and result.serial == 1
    assert json.loads((engine_git / ".mlops/state/meta.json").read_text())["serial"] == 1
    assert len(trailers(engine_git)) == 10


def test_step_interrupted_after_its_record_is_committed_once(
    engine_git: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply_interrupted_at(engine_git, monkeypatch, "step-written", 3)
    result = api.apply(engine_git, now=NOW)
    assert result.resumed
    assert result.outcomes[0].step.id == "register:Model/gamma@1.0.0"
    assert sorted(trailers(engine_git)) == sorted(set(trailers(engine_git)))
    assert len(trailers(engine_git)) == 10
    assert "register Model/beta 1.0.0" in trailers(engine_git)  # the interrupted step


def test_interrupted_step_is_reported_when_the_specs_changed_meanwhile(
    engine_git: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply_interrupted_at(engine_git, monkeypatch, "step-written", 1)
    (engine_git / "models/gamma.yaml").unlink()
    (engine_git / "deployments/gamma-web.yaml").unlink()
    result = api.apply(engine_git, now=NOW, commit=False, allow_dirty=True)
    assert result.resumed
    assert result.warnings[0] == (
        "step register:Model/alpha@1.0.0 was interrupted and the specs changed since; "
        "check `mlops-gitops status`"
    )


def test_failed_step_is_retried_by_the_next_apply(
    engine_git: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    artifact = engine_git / "artifacts/gamma/1.0.0.safetensors"
    data = artifact.read_bytes()
    original = executor.HANDLERS["register"]

    def flaky(ctx: executor.Context, step: Step) -> list[str]:
        if step.object.name == "gamma":
            raise OSError("store unavailable")
        return original(ctx, step)

    with monkeypatch.context() as patch:
        patch.setitem(executor.HANDLERS, "register", flaky)
        first = api.apply(engine_git, now=NOW)
    assert first.exit_code == 1
    assert {o.step.id: o.status for o in first.outcomes}[
        "deploy:Deployment/gamma-web@1.0.0:stable"
    ] == ("skipped")
    assert artifact.read_bytes() == data
    second = api.apply(engine_git, now=NOW)
    assert second.exit_code == 0 and not second.resumed
    assert [o.step.id for o in second.outcomes] == [
        "register:Model/gamma@1.0.0",
        "deploy:Deployment/gamma-web@1.0.0:stable",
    ]
    assert len(trailers(engine_git)) == 10
