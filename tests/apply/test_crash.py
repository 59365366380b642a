"""Crash safety: apply killed with SIGKILL anywhere converges, on the re-run, to the state of an
uninterrupted apply; every step is committed exactly once and the repository stays sound.

The fault-injection hook (`MLOPS_GITOPS_FAULT=<point>:<n>`) kills the process the n-th time it
reaches a point of the executor; other runs are killed after a random delay.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlops_gitops.state import lock
from mlops_gitops.workspace import LOCK_FILE
from tests.engine.helpers import (
    NOW,
    SpecRepo,
    cli,
    commit_all,
    engine_repo_v1,
    engine_repo_v2,
    git,
    git_env,
    init_git,
    state_files,
    trailers,
)

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


def copy(base: Path, dest: Path) -> Path:
    shutil.copytree(base, dest, symlinks=True)
    return dest


@pytest.fixture(scope="module")
def genv(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return git_env(tmp_path_factory.mktemp("home"))


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory, genv: dict[str, str]) -> FirstReference:
    base = tmp_path_factory.mktemp("first") / "repo"
    engine_repo_v1(base)
    init_git(base, genv)
    ref = copy(base, base.parent / "ref")
    done = cli(ref, "apply", "--now", NOW, env=genv)
    assert done.code == 0, done.seen
    return FirstReference(base, state_files(ref), Counter(trailers(ref, genv)))


@pytest.fixture(scope="module")
def second(first: FirstReference, genv: dict[str, str]) -> Reference:
    """State after the first apply (so the lineage is fixed), then a spec commit with 10 steps."""
    base = copy(first.base, first.base.parent / "second")
    assert cli(base, "apply", "--now", NOW, env=genv).code == 0
    engine_repo_v2(SpecRepo(base))
    commit_all(base, "Second revision of the specs", genv)
    ref = copy(base, base.parent / "second-ref")
    started = time.monotonic()
    done = cli(ref, "apply", "--now", NOW, env=genv)
    seconds = time.monotonic() - started
    assert done.code == 0, done.seen
    assert done.out.count("done ") == 10, done.out
    return Reference(
        base=base,
        state=state_files(ref),
        rendered=rendered(ref),
        tree=git(ref, "rev-parse", "HEAD^{tree}", env=genv).strip(),
        trailers=Counter(trailers(ref, genv)),
        seconds=seconds,
    )


def recover(repo: Path, env: Mapping[str, str]) -> None:
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
    done = cli(repo, "apply", "--now", NOW, env=env)
    assert done.code == 0, done.seen


def assert_sound(repo: Path, env: Mapping[str, str]) -> None:
    fsck = subprocess.run(
        ["git", "-C", str(repo), "fsck", "--full", "--strict", "--no-dangling"],
        env=dict(env),
        capture_output=True,
        text=True,
        check=False,
    )
    assert fsck.returncode == 0 and not fsck.stdout.strip(), fsck.stdout + fsck.stderr
    assert not (repo / ".mlops" / "journal.json").exists()
    assert not (repo / ".mlops" / "apply.lock").exists()
    dirty = git(repo, "status", "--porcelain", "--", ".mlops/state", "rendered", env=env)
    assert dirty == "", dirty
    leftovers = [p for p in (repo / ".mlops/state").rglob(".*") if p.is_file()]
    assert leftovers == [], leftovers


def assert_converged(repo: Path, ref: Reference, env: Mapping[str, str]) -> None:
    assert state_files(repo) == ref.state
    assert rendered(repo) == ref.rendered
    assert git(repo, "rev-parse", "HEAD^{tree}", env=env).strip() == ref.tree
    assert Counter(trailers(repo, env)) == ref.trailers
    assert_sound(repo, env)


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
    point: str, n: int, second: Reference, genv: dict[str, str], tmp_path: Path
) -> None:
    repo = copy(second.base, tmp_path / "repo")
    killed = cli(repo, "apply", "--now", NOW, env=genv | {FAULT: f"{point}:{n}"})
    assert killed.code == -signal.SIGKILL, killed.seen
    recover(repo, genv)
    assert_converged(repo, second, genv)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_killed_after_a_random_delay_the_rerun_converges(
    seed: int, second: Reference, genv: dict[str, str], tmp_path: Path
) -> None:
    repo = copy(second.base, tmp_path / "repo")
    delay = random.Random(seed).uniform(0.4, 1.0) * second.seconds
    process = subprocess.Popen(
        [sys.executable, "-m", "mlops_gitops", "--repo", str(repo), "apply", "--now", NOW],
        env=genv,
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
    recover(repo, genv)
    assert_converged(repo, second, genv)


@pytest.mark.parametrize("fault", ["step-written:5", "after-commit:1"])
def test_killed_during_the_first_apply_the_rerun_converges(
    fault: str, first: FirstReference, genv: dict[str, str], tmp_path: Path
) -> None:
    repo = copy(first.base, tmp_path / "repo")
    killed = cli(repo, "apply", "--now", NOW, env=genv | {FAULT: fault})
    assert killed.code == -signal.SIGKILL, killed.seen
    recover(repo, genv)
    # The lineage is a fresh UUID per state: the only difference to another first apply.
    assert {k: UUID.sub("", v) for k, v in state_files(repo).items()} == {
        k: UUID.sub("", v) for k, v in first.state.items()
    }
    assert Counter(trailers(repo, genv)) == first.trailers
    assert_sound(repo, genv)
