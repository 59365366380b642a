"""The state lock: one apply at a time, a clear message naming the holder, stale locks, unlock."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from mlops_gitops.state import lock
from mlops_gitops.workspace import LOCK_FILE
from tests.support.cli import run_cli, run_process, spawn
from tests.support.git import trailers
from tests.support.values import NOW


def dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def write_lock(repo: Path, *, pid: int, host: str | None = None, lock_id: str = "") -> str:
    lock_id = lock_id or "5f0c6c2e-1111-4222-8333-944445555666"
    path = repo / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "id": lock_id,
                "operation": "apply",
                "who": f"ci@{host or socket.gethostname()}",
                "pid": pid,
                "created": "2026-03-01T11:59:00+00:00",
                "version": "0.1.0",
            }
        )
    )
    return lock_id


def test_second_apply_waits_then_fails_naming_the_holder(engine_git: Path) -> None:
    with lock.hold(engine_git / LOCK_FILE, "apply", timeout=0) as holder:
        started = time.monotonic()
        done = run_cli("--repo", engine_git, "apply", "--now", NOW, "--lock-timeout", "0.6")
        waited = time.monotonic() - started
    assert done.code == 1
    assert waited >= 0.6
    assert "the state is locked after waiting 0.6s" in done.err
    assert f"id {holder.id}, apply by {holder.who} (pid {os.getpid()})" in done.err
    assert "raise --lock-timeout" in done.err
    assert "stale" not in done.err
    assert not (engine_git / ".mlops/state").exists()
    assert (engine_git / LOCK_FILE).exists() is False  # the holder released it


def test_second_apply_proceeds_when_the_lock_is_released_in_time(engine_git: Path) -> None:
    acquired = threading.Event()

    def hold_briefly() -> None:
        with lock.hold(engine_git / LOCK_FILE, "apply", timeout=0):
            acquired.set()
            time.sleep(0.5)

    thread = threading.Thread(target=hold_briefly)
    thread.start()
    acquired.wait(5)
    done = run_cli("--repo", engine_git, "apply", "--now", NOW, "--lock-timeout", "20")
    thread.join()
    assert done.code == 0, done.seen
    assert "Committed" in done.out


@pytest.mark.slow
def test_two_concurrent_applies_do_the_work_once(engine_git: Path) -> None:
    args = ("--repo", engine_git, "apply", "--now", NOW, "--lock-timeout", "60")
    processes = [spawn(*args) for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    stdout = sorted(out for out, _ in outputs)
    assert stdout[0].startswith("No changes."), stdout
    assert "Apply: 10 done." in stdout[1]
    counts = Counter(trailers(engine_git))
    assert len(counts) == 10 and set(counts.values()) == {1}
    meta = json.loads((engine_git / ".mlops/state/meta.json").read_text())
    assert meta["serial"] == 1


def test_stale_lock_is_reported_with_the_exact_unlock_command(engine_git: Path) -> None:
    pid = dead_pid()
    lock_id = write_lock(engine_git, pid=pid)
    done = run_cli("--repo", engine_git, "apply", "--now", NOW)
    assert done.code == 1
    assert f"the state lock is stale: its holder (pid {pid}) is no longer running" in done.err
    assert (
        f"hint: if no apply is running, remove it with: mlops-gitops force-unlock {lock_id}\n"
        in (done.err)
    )
    assert re.findall(r"mlops-gitops force-unlock (\S+)", done.err) == [lock_id]

    wrong = run_cli("--repo", engine_git, "force-unlock", "not-the-id")
    assert wrong.code == 1
    assert f"lock id does not match: the lock is held as {lock_id}, not not-the-id" in wrong.err
    assert (engine_git / LOCK_FILE).exists()

    unlocked = run_cli("--repo", engine_git, "force-unlock", lock_id)
    assert unlocked.code == 0
    assert f"Removed the state lock held by id {lock_id}, apply by ci@" in unlocked.out
    assert not (engine_git / LOCK_FILE).exists()
    assert run_cli("--repo", engine_git, "apply", "--now", NOW).code == 0


def test_lock_of_another_host_is_never_called_stale(engine_git: Path) -> None:
    write_lock(engine_git, pid=dead_pid(), host="elsewhere.example.com")
    done = run_cli("--repo", engine_git, "apply", "--now", NOW)
    assert done.code == 1
    assert "the state is locked after waiting 0s" in done.err
    assert "ci@elsewhere.example.com" in done.err
    assert "stale" not in done.err


def test_force_unlock_without_a_lock_fails(engine_git: Path) -> None:
    done = run_cli("--repo", engine_git, "force-unlock", "anything")
    assert done.code == 1
    assert "the state is not locked" in done.err


def test_unreadable_lock_file_still_blocks_and_can_be_removed(engine_git: Path) -> None:
    path = engine_git / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{torn")
    done = run_cli("--repo", engine_git, "apply", "--now", NOW)
    assert done.code == 1 and "locked" in done.err
    assert run_cli("--repo", engine_git, "force-unlock", "unknown").code == 0
    assert not path.exists()


@pytest.mark.slow
def test_stale_lock_after_a_killed_apply(engine_git: Path) -> None:
    fault = {"MLOPS_GITOPS_FAULT": "step-started:1"}
    killed = run_process("--repo", engine_git, "apply", "--now", NOW, env=fault)
    assert killed.code == -9
    holder = lock.read(engine_git / LOCK_FILE)
    assert holder is not None and holder.operation == "apply"
    assert holder.pid > 0 and holder.who.endswith("@" + socket.gethostname())
    again = run_process("--repo", engine_git, "apply", "--now", NOW, expect=1)
    assert f"mlops-gitops force-unlock {holder.id}" in again.err


def test_stale_lock_fails_at_once_instead_of_waiting(engine_git: Path) -> None:
    write_lock(engine_git, pid=dead_pid())
    started = time.monotonic()
    done = run_cli("--repo", engine_git, "apply", "--now", NOW, "--lock-timeout", "30")
    assert done.code == 1 and "stale" in done.err
    assert time.monotonic() - started < 10
