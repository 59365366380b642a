"""A lock file so two applies never write the recorded state at once.

The holder's id, operation, user@host, pid, time and tool version are in the file, so a
waiting run can say who holds it, and a lock left by a dead process can be removed safely
with `mlops-gitops force-unlock ID`.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from mlops_gitops import __version__
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


def read(path: Path) -> LockInfo | None:
    try:
        return LockInfo(**loads(path.read_text()))
    except FileNotFoundError:
        return None
    except (ValueError, TypeError):
        return LockInfo("unknown", "unknown", "unknown@unknown", 0, "unknown", "unknown")


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@contextlib.contextmanager
def hold(path: Path, operation: str, timeout: float) -> Iterator[LockInfo]:
    info = LockInfo(
        id=str(uuid.uuid4()),
        operation=operation,
        who=f"{_user()}@{socket.gethostname()}",
        pid=os.getpid(),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        version=__version__,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + max(timeout, 0.0)
    delay = 0.05
    while True:
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            # A stale lock is never released: say so now instead of waiting it out.
            if time.monotonic() >= deadline or _stale(read(path)):
                raise _held(path, timeout) from None
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)
            continue
        with os.fdopen(fd, "w") as handle:
            handle.write(dumps(asdict(info), indent=2, sort_keys=True))
            handle.flush()
            os.fsync(handle.fileno())
        break
    try:
        yield info
    finally:
        current = read(path)
        if current is not None and current.id == info.id:
            path.unlink(missing_ok=True)


def _stale(holder: LockInfo | None) -> bool:
    """Held by a process of this host that no longer runs."""
    return (
        holder is not None
        and holder.host == socket.gethostname()
        and holder.pid > 0
        and not _alive(holder.pid)
    )


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


def force_unlock(path: Path, lock_id: str) -> LockInfo:
    holder = read(path)
    if holder is None:
        raise LockError("the state is not locked")
    if holder.id != lock_id:
        raise LockError(
            f"lock id does not match: the lock is held as {holder.id}, not {lock_id}",
            hint=f"holder: {holder.describe()}",
        )
    path.unlink()
    return holder
