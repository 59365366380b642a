"""A lock file so two applies never write the recorded state at once.

The holder's id, operation, user@host, pid (with its start time), time and tool version are
in the file, so a waiting run can say who holds it, a lock left by a dead process can be
removed safely with `mlops-gitops force-unlock ID`, and one of a process still running on
this host is not removed without `--force`.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path

from mlops_gitops import __version__, fsguard
from mlops_gitops.errors import MlopsError
from mlops_gitops.safeio import dumps, loads


@dataclass(frozen=True)
class LockInfo:
    id: str
    operation: str
    who: str
    pid: int
    created: str
    version: str
    started: str = ""
    """When the holder process started, as this host's kernel counts it (boot id and clock
    ticks since boot; empty where unknown): a pid reused by another process has another."""

    @property
    def host(self) -> str:
        return self.who.rpartition("@")[2]

    def describe(self) -> str:
        return (
            f"id {self.id}, {self.operation} by {self.who} (pid {self.pid}), "
            f"since {self.created}, mlops-gitops {self.version}"
        )


class LockError(MlopsError):
    pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_started(pid: int) -> str:
    """`<boot id>:<start time in clock ticks>` of a process on Linux, "" elsewhere or when
    it cannot be read (the process is gone, or /proc is not mounted)."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as handle:
            boot = handle.read().strip()
        with open(f"/proc/{int(pid)}/stat", encoding="utf-8", errors="replace") as handle:
            fields = handle.read().rpartition(")")[2].split()
        return f"{boot}:{int(fields[19])}"  # field 22 of stat(5): starttime
    except (OSError, ValueError, IndexError):
        return ""


def holder_alive(holder: LockInfo) -> bool | None:
    """Whether the holder still runs: True, False, or None when this host cannot tell (the
    lock was taken on another host, or the file is unreadable)."""
    if holder.host != socket.gethostname() or holder.pid <= 0:
        return None
    if not _alive(holder.pid):
        return False
    if holder.started:
        now = process_started(holder.pid)
        if now and now != holder.started:
            return False  # the pid now belongs to another process (or the host rebooted)
    return True


_FIELDS = {f.name for f in fields(LockInfo)}


def read(path: Path) -> LockInfo | None:
    try:
        data = loads(path.read_text())
        return LockInfo(**{k: v for k, v in data.items() if k in _FIELDS})
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError, AttributeError):
        return LockInfo("unknown", "unknown", "unknown@unknown", 0, "unknown", "unknown")


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@contextlib.contextmanager
def hold(
    path: Path, operation: str, timeout: float, root: Path | None = None
) -> Iterator[LockInfo]:
    """Hold the lock file `path` (written below `root`, by default its folder)."""
    top = root or path.parent
    pid = os.getpid()
    info = LockInfo(
        id=str(uuid.uuid4()),
        operation=operation,
        who=f"{_user()}@{socket.gethostname()}",
        pid=pid,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        version=__version__,
        started=process_started(pid),
    )
    data = dumps(asdict(info), indent=2, sort_keys=True).encode()
    deadline = time.monotonic() + max(timeout, 0.0)
    delay = 0.05
    while not fsguard.write_new(top, path, data):
        # A stale lock is never released: say so now instead of waiting it out.
        if time.monotonic() >= deadline or _stale(read(path)):
            raise _held(path, timeout)
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)
    try:
        yield info
    finally:
        current = read(path)
        if current is not None and current.id == info.id:
            fsguard.remove(top, path)


def check_held(path: Path, info: LockInfo) -> None:
    """Fail unless `info` still holds the lock: someone forced it away meanwhile, and
    another apply may be writing the same state."""
    current = read(path)
    if current is None or current.id != info.id:
        raise LockError(
            f"the state lock {info.id} was removed while this {info.operation} ran "
            "(force-unlock --force?); stopping before recording or committing anything more",
            hint="check `git status` and `mlops-gitops status`, then run apply again",
        )


def _stale(holder: LockInfo | None) -> bool:
    """Held by a process of this host that no longer runs."""
    return holder is not None and holder_alive(holder) is False


def _held(path: Path, timeout: float) -> LockError:
    holder = read(path)
    if holder is None:
        return LockError("the state lock vanished while waiting; run again")
    if _stale(holder):
        return LockError(
            f"the state lock is stale: its holder (pid {holder.pid}) is no longer running "
            f"({holder.describe()})",
            hint=f"if no apply is running, remove it with: mlops-gitops force-unlock {holder.id}",
        )
    return LockError(
        f"the state is locked after waiting {timeout:g}s: {holder.describe()}",
        hint="wait for it to finish, or raise --lock-timeout",
    )


FORCE_RISK = (
    "removing the lock of a running apply lets a second apply run beside it: both write the "
    "recorded state and the journal, and the same state serial can be committed twice"
)


def force_unlock(
    path: Path, lock_id: str, force: bool = False, root: Path | None = None
) -> LockInfo:
    """Remove the lock if `lock_id` names it and its holder is not running on this host
    (`force` removes it even then)."""
    holder = read(path)
    if holder is None:
        raise LockError("the state is not locked")
    if holder.id != lock_id:
        raise LockError(
            f"lock id does not match: the lock is held as {holder.id}, not {lock_id}",
            hint=f"holder: {holder.describe()}",
        )
    if not force and holder_alive(holder):
        raise LockError(
            f"the lock's holder is still running on this host: {holder.describe()}; "
            "refusing to remove it",
            hint="wait for it to finish or stop it; `force-unlock --force ID` removes the lock "
            f"anyway, but {FORCE_RISK}",
        )
    fsguard.remove(root or path.parent, path)
    return holder
