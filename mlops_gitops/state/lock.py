"""A lock file so two applies never write the recorded state at once.

The holder's id, operation, user@host, pid, time and tool version are in the file, so a
waiting run can say who holds it, and a lock left by a dead process can be removed safely
with `mlops-gitops force-unlock ID`.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from mlops_gitops import __version__, fsguard
from mlops_gitops.errors import MlopsError


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
        return LockInfo(**json.loads(path.read_text()))
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
def hold(
    path: Path, operation: str, timeout: float, root: Path | None = None
) -> Iterator[LockInfo]:
    """Hold the lock file `path` (written below `root`, by default its folder)."""
    top = root or path.parent
    info = LockInfo(
        id=str(uuid.uuid4()),
        operation=operation,
        who=f"{_user()}@{socket.gethostname()}",
        pid=os.getpid(),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        version=__version__,
    )
    data = json.dumps(asdict(info), indent=2, sort_keys=True).encode()
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


def force_unlock(path: Path, lock_id: str, root: Path | None = None) -> LockInfo:
    holder = read(path)
    if holder is None:
        raise LockError("the state is not locked")
    if holder.id != lock_id:
        raise LockError(
            f"lock id does not match: the lock is held as {holder.id}, not {lock_id}",
            hint=f"holder: {holder.describe()}",
        )
    fsguard.remove(root or path.parent, path)
    return holder
