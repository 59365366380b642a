"""force-unlock never removes the lock of an apply that is still running on this host.

The holder is a real `apply` process, paused in the middle of its steps (its deploy handler
waits for a line on stdin), holding the real lock and journal. Removing its lock would let a
second apply resume the first one's journal and both commit the same serial.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops_gitops.state import lock
from mlops_gitops.workspace import JOURNAL_FILE, LOCK_FILE
from tests.support.cli import run_in
from tests.support.git import git, trailers
from tests.support.values import NOW

PAUSED_APPLY = """
import sys
from mlops_gitops import cli
from mlops_gitops.apply import executor

deploy = executor.HANDLERS["deploy"]

def paused(ctx, step):
    print("paused", flush=True)
    sys.stdin.readline()
    return deploy(ctx, step)

executor.HANDLERS["deploy"] = paused
sys.exit(cli.main(["--no-color", "--repo", sys.argv[1], "apply", "--now", sys.argv[2]]))
"""


@pytest.fixture
def repo(engine_git: Path) -> Path:
    return engine_git


@pytest.fixture
def paused(repo: Path) -> Iterator[subprocess.Popen[str]]:
    """An apply running in another process, stopped before its first deploy step."""
    child = subprocess.Popen(
        [sys.executable, "-c", PAUSED_APPLY, str(repo), NOW],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline() == "paused\n", child.stderr.read() if child.stderr else ""
    yield child
    if child.poll() is None:
        child.kill()
        child.communicate()


@pytest.mark.slow
def test_the_lock_of_a_running_apply_is_not_removed_without_force(
    repo: Path, paused: subprocess.Popen[str]
) -> None:
    holder = lock.read(repo / LOCK_FILE)
    assert holder is not None and holder.pid == paused.pid
    held = (repo / LOCK_FILE).read_bytes()

    refused = run_in(repo, "force-unlock", holder.id)

    assert refused.code == 1
    assert "the lock's holder is still running on this host" in refused.err
    assert f"(pid {paused.pid})" in refused.err
    assert "force-unlock --force ID" in refused.err and "same state serial" in refused.err
    assert (repo / LOCK_FILE).read_bytes() == held
    second = run_in(repo, "apply", "--now", NOW)
    assert second.code == 1 and "the state is locked" in second.err
    assert "stale" not in second.err and (repo / JOURNAL_FILE).exists()

    assert paused.stdin is not None
    paused.stdin.write("\n")
    paused.stdin.flush()
    out, err = paused.communicate(timeout=120)
    assert paused.returncode == 0, out + err
    assert trailers(repo, "Mlops-Serial") == ["1"]


@pytest.mark.slow
def test_forcing_says_what_it_risks_and_the_first_apply_then_commits_nothing(
    repo: Path, paused: subprocess.Popen[str]
) -> None:
    holder = lock.read(repo / LOCK_FILE)
    assert holder is not None

    forced = run_in(repo, "force-unlock", "--force", holder.id)

    assert forced.code == 0, forced.seen
    assert f"Removed the state lock held by id {holder.id}" in forced.out
    assert f"warning: pid {paused.pid} is still running" in forced.err
    assert "the same state serial can be committed twice" in forced.err
    second = run_in(repo, "apply", "--now", NOW)
    assert second.code == 0 and "Resuming an interrupted apply." in second.out, second.seen

    assert paused.stdin is not None
    paused.stdin.write("\n")
    paused.stdin.flush()
    out, err = paused.communicate(timeout=120)
    assert paused.returncode == 1, out + err
    assert f"the state lock {holder.id} was removed while this apply ran" in err
    assert trailers(repo, "Mlops-Serial") == ["1"]  # one commit of serial 1, not two
    meta = json.loads((repo / ".mlops/state/meta.json").read_text())
    assert meta["serial"] == 1


def test_a_reused_pid_does_not_keep_a_dead_apply_alive(repo: Path) -> None:
    """The lock names a pid that now belongs to another process (this test's): its start
    time differs from the one recorded, so the lock is stale and may be removed."""
    started = lock.process_started(os.getpid())
    if not started:
        pytest.skip("process start times are not readable here (no /proc)")
    boot, _, ticks = started.rpartition(":")
    path = repo / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    stale = lock.LockInfo(
        id="5f0c6c2e-1111-4222-8333-944445555666",
        operation="apply",
        who=f"ci@{socket.gethostname()}",
        pid=os.getpid(),
        created="2026-03-01T11:59:00+00:00",
        version="0.1.0",
        started=f"{boot}:{int(ticks) - 1}",
    )
    path.write_text(json.dumps(stale.__dict__))

    blocked = run_in(repo, "apply", "--now", NOW)
    assert blocked.code == 1
    assert f"its holder (pid {os.getpid()}) is no longer running" in blocked.err
    assert run_in(repo, "force-unlock", stale.id).code == 0
    assert not path.exists()
    assert run_in(repo, "apply", "--now", NOW).code == 0
    assert git(repo, "status", "--porcelain") == ""
