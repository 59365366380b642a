"""Crash safety: apply killed with SIGKILL anywhere converges, on the re-run, to the state of an
uninterrupted apply; every step is committed exactly once and the repository stays sound.

The fault-injection hook (`MLOPS_GITOPS_FAULT=<point>:<n>`) kills the process the n-th time it
reaches a point of the executor; other runs are killed after a random delay.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlops_gitops.state import lock
from mlops_gitops.workspace import LOCK_FILE
from tests.support.cli import run_process, spawn
from tests.support.git import commit_all, git, init_git, trailers
from tests.support.repos import SpecRepo, copy_repo, engine_repo_v1, engine_repo_v2, state_files
from tests.support.values import NOW

pytestmark = pytest.mark.slow

FAULT = "MLOPS_GITOPS_FAULT"
UUID = re.compile(r'"lineage": "[^"]+"')


@dataclass(frozen=True)
class Reference:
    """An uninterrupted apply of the second revision, and what it left behind."""

    base: Path
    state: dict[str, str]
    rendered: dict[str, str]
    tree: str
    trailers: Counter[str]
    seconds: float


@dataclass(frozen=True)
class FirstReference:
    """An uninterrupted first apply on empty state."""

    base: Path
    state: dict[str, str]
    trailers: Counter[str]


def rendered(repo: Path) -> dict[str, str]:
    folder = repo / "rendered"
    if not folder.exists():
        return {}
    return {p.relative_to(folder).as_posix(): p.read_text() for p in folder.rglob("*.yaml")}


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory) -> FirstReference:
    base = tmp_path_factory.mktemp("first") / "repo"
    engine_repo_v1(base)
    init_git(base)
    ref = copy_repo(base, base.parent / "ref")
    done = run_process("--repo", ref, "apply", "--now", NOW)
    assert done.code == 0, done.seen
    return FirstReference(base, state_files(ref), Counter(trailers(ref)))


@pytest.fixture(scope="module")
def second(first: FirstReference) -> Reference:
    """State after the first apply (so the lineage is fixed), then a spec commit with 10 steps."""
    base = copy_repo(first.base, first.base.parent / "second")
    assert run_process("--repo", base, "apply", "--now", NOW).code == 0
    engine_repo_v2(SpecRepo(base))
    commit_all(base, "Second revision of the specs")
    ref = copy_repo(base, base.parent / "second-ref")
    started = time.monotonic()
    done = run_process("--repo", ref, "apply", "--now", NOW)
    seconds = time.monotonic() - started
    assert done.code == 0, done.seen
    assert done.out.count("done ") == 10, done.out
    return Reference(
        base=base,
        state=state_files(ref),
        rendered=rendered(ref),
        tree=git(ref, "rev-parse", "HEAD^{tree}").strip(),
        trailers=Counter(trailers(ref)),
        seconds=seconds,
    )


def recover(repo: Path) -> None:
    """Remove the lock the killed run left (its holder is dead), then re-run apply once.

    The stale-lock report itself is checked in test_lock.py; doing it here through the CLI
    would double the cost of every scenario.
    """
    path = repo / LOCK_FILE
    holder = lock.read(path)
    if holder is not None:
        with pytest.raises(lock.LockError, match="stale"), lock.hold(path, "test", timeout=0):
            pass
        lock.force_unlock(path, holder.id)
    done = run_process("--repo", repo, "apply", "--now", NOW)
    assert done.code == 0, done.seen


def assert_sound(repo: Path) -> None:
    fsck = git(repo, "fsck", "--full", "--strict", "--no-dangling")
    assert not fsck.strip(), fsck
    assert not (repo / ".mlops" / "journal.json").exists()
    assert not (repo / ".mlops" / "apply.lock").exists()
    dirty = git(repo, "status", "--porcelain", "--", ".mlops/state", "rendered")
    assert dirty == "", dirty
    leftovers = [p for p in (repo / ".mlops/state").rglob(".*") if p.is_file()]
    assert leftovers == [], leftovers


def assert_converged(repo: Path, ref: Reference) -> None:
    assert state_files(repo) == ref.state
    assert rendered(repo) == ref.rendered
    assert git(repo, "rev-parse", "HEAD^{tree}").strip() == ref.tree
    assert Counter(trailers(repo)) == ref.trailers
    assert_sound(repo)


# The second revision plans 10 steps: 2 registers (blob-stored), 5 deployment changes through a
# target (target-applied), an undeploy and 2 retires. Each n below is reached exactly once.
FAULTS = [
    ("step-started", 1),
    ("step-started", 10),
    ("blob-stored", 1),
    ("blob-stored", 2),
    ("target-applied", 1),
    ("target-applied", 5),
    ("step-written", 1),
    ("step-written", 7),
    ("step-written", 8),
    ("step-written", 10),
    ("before-serial", 1),
    ("before-commit", 1),
    ("after-commit", 1),
]


@pytest.mark.parametrize(("point", "n"), FAULTS, ids=[f"{p}-{n}" for p, n in FAULTS])
def test_killed_at_a_fault_point_the_rerun_converges(
    point: str, n: int, second: Reference, tmp_path: Path
) -> None:
    repo = copy_repo(second.base, tmp_path / "repo")
    killed = run_process("--repo", repo, "apply", "--now", NOW, env={FAULT: f"{point}:{n}"})
    assert killed.code == -signal.SIGKILL, killed.seen
    recover(repo)
    assert_converged(repo, second)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_killed_after_a_random_delay_the_rerun_converges(
    seed: int, second: Reference, tmp_path: Path
) -> None:
    repo = copy_repo(second.base, tmp_path / "repo")
    delay = random.Random(seed).uniform(0.4, 1.0) * second.seconds
    process = spawn(
        "--repo",
        repo,
        "apply",
        "--now",
        NOW,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    time.sleep(delay)
    process.send_signal(signal.SIGKILL)
    process.wait()
    # git commands the apply started may outlive it: wait for the whole session to end.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.02)
    recover(repo)
    assert_converged(repo, second)


@pytest.mark.parametrize("fault", ["step-written:5", "after-commit:1"])
def test_killed_during_the_first_apply_the_rerun_converges(
    fault: str, first: FirstReference, tmp_path: Path
) -> None:
    repo = copy_repo(first.base, tmp_path / "repo")
    killed = run_process("--repo", repo, "apply", "--now", NOW, env={FAULT: fault})
    assert killed.code == -signal.SIGKILL, killed.seen
    recover(repo)
    # The lineage is a fresh UUID per state: the only difference to another first apply.
    assert {k: UUID.sub("", v) for k, v in state_files(repo).items()} == {
        k: UUID.sub("", v) for k, v in first.state.items()
    }
    assert Counter(trailers(repo)) == first.trailers
    assert_sound(repo)
