"""`state restore` reads state from git objects: a committed state folder is attacker input,
held to the same budgets and record types as the work tree's, and nothing is written through
a link or outside the state folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.security.helpers import commit, outside_victims, snapshot
from tests.support.cli import run_in
from tests.support.git import git
from tests.support.values import NOW

STATE = ".mlops/state"
MODEL_FILE = f"{STATE}/models/cancer-detector.json"


@pytest.fixture
def applied(loop_applied: Path) -> Path:
    """example-repo (without policies) in git, applied at NOW and committed."""
    return loop_applied


def forge(repo: Path, change: str) -> str:
    """Commit a damaged state folder (keeping the meta, so only the files are at fault)."""
    path = repo / MODEL_FILE
    if change == "symlink":
        path.unlink()
        path.symlink_to("/etc/passwd")
    elif change == "bad-record":
        data = json.loads(path.read_text())
        data["versions"]["1.1.0"]["blob"] = "sha256/../../../../outside"
        path.write_text(json.dumps(data))
    elif change == "renamed":
        data = json.loads(path.read_text())
        data["name"] = "diabetes-progression"
        path.write_text(json.dumps(data))
    elif change == "deep":
        (repo / STATE / "rules").mkdir(exist_ok=True)
        (repo / STATE / "rules/x.json").write_text("[" * 5000 + "]" * 5000)
    elif change == "array":
        path.write_text("[]")
    return commit(repo, f"forged state: {change}")


@pytest.mark.parametrize("change", ["symlink", "bad-record", "renamed", "deep", "array"])
def test_restore_from_a_forged_commit_is_refused_and_writes_nothing(
    applied: Path, change: str
) -> None:
    forged = forge(applied, change)
    shutil.rmtree(applied / STATE)
    done = run_in(applied, "state", "restore", "--from", forged)
    assert done.code == 1, done.seen
    assert f"{STATE} in commit {forged[:12]} is not intact" in done.err
    assert "Traceback" not in done.seen
    assert not (applied / STATE).exists()


def test_default_restore_passes_over_a_forged_commit_to_the_intact_one(applied: Path) -> None:
    intact = git(applied, "rev-parse", "HEAD").strip()
    good = (applied / MODEL_FILE).read_bytes()
    forge(applied, "symlink")
    done = run_in(applied, "state", "restore", "--format", "json")
    assert done.code == 0, done.seen
    report = json.loads(done.out)
    assert report["source"] == intact and report["serial"] == 1
    assert report["commit"] == git(applied, "rev-parse", "HEAD").strip()
    restored = applied / MODEL_FILE
    assert not restored.is_symlink() and restored.read_bytes() == good
    assert git(applied, "log", "-1", "--format=%(trailers:key=Mlops-Restore,valueonly)")
    assert run_in(applied, "plan", "--now", NOW, "--detailed-exitcode").code == 0


def test_files_outside_the_state_layout_are_left_out(applied: Path, tmp_path: Path) -> None:
    victims = outside_victims(tmp_path)
    before = snapshot(victims)
    (applied / STATE / "hooks").mkdir()
    (applied / STATE / "hooks/post-restore.json").write_text("{}")
    (applied / STATE / "models/Not A Name.json").write_text("{}")
    with_extras = commit(applied, "extras in the state folder")
    shutil.rmtree(applied / STATE)
    (applied / ".mlops").mkdir(exist_ok=True)
    (applied / STATE).symlink_to(victims)  # the state folder itself redirected
    refused = run_in(applied, "state", "restore", "--from", with_extras)
    assert refused.code == 1
    assert "Traceback" not in refused.seen
    assert snapshot(victims) == before
    (applied / STATE).unlink()
    done = run_in(applied, "state", "restore", "--from", with_extras)
    assert done.code == 0, done.seen
    assert "left out hooks/post-restore.json" in done.out
    assert not (applied / STATE / "hooks").exists()
    assert not (applied / STATE / "models/Not A Name.json").exists()


def test_an_oversized_state_file_is_refused(applied: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlops_gitops.state import restore

    monkeypatch.setattr(restore, "MAX_STATE_BYTES", 4096)
    path = applied / MODEL_FILE
    data = json.loads(path.read_text())
    data["versions"]["1.1.0"]["source"] = "x" * 8000
    path.write_text(json.dumps(data))
    big = commit(applied, "a large record")
    done = run_in(applied, "state", "restore", "--from", big)
    assert done.code == 1
    assert "models/cancer-detector.json is larger than 4096 bytes" in done.err
