"""Prediction logs written by the server in the monitoring format (JSON lines).

Records are buffered and flushed by a timer and at shutdown, under a lock so concurrent
requests never interleave; a file past the size limit is rotated (renamed with a time
stamp), which the monitor's watermarks recognise.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

from mlops_gitops import fsguard
from mlops_gitops.safeio import dumps, finite

FLUSH_SECONDS = 1.0
ROTATE_BYTES = 64 * 1024 * 1024


class PredictionLog:
    def __init__(
        self,
        folder: Path,
        flush_seconds: float = FLUSH_SECONDS,
        rotate_bytes: int = ROTATE_BYTES,
        root: Path | None = None,
    ) -> None:
        self.folder = folder
        self.root = root or folder
        """No write below it goes through a symlink (the repository)."""
        self.path = folder / "predictions.jsonl"
        fsguard.check_folder(self.root, folder)  # a folder that would be refused fails now
        self.rotate_bytes = rotate_bytes
        self._buffer: list[str] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(flush_seconds,), name=f"log-{folder.name}", daemon=True
        )
        self._thread.start()

    def append(self, record: dict[str, Any]) -> None:
        line = dumps(finite(record), separators=(",", ":"), default=str) + "\n"
        with self._lock:
            self._buffer.append(line)

    def _run(self, every: float) -> None:
        while not self._stop.wait(every):
            self.flush()

    def flush(self) -> None:
        # The buffer is taken under the short lock that append uses; the disk is written
        # under another, so requests never wait for the file system.
        with self._write_lock:
            with self._lock:
                lines, self._buffer = self._buffer, []
            if not lines:
                return
            data = "".join(lines).encode("utf-8")
            if self.path.exists() and self.path.stat().st_size + len(data) > self.rotate_bytes:
                fsguard.rename(self.root, self.path, self._rotated_path())
            with fsguard.open_append(self.root, self.path) as handle:
                handle.write(data)

    def _rotated_path(self) -> Path:
        """A new name for the full file; never one in use (two rotations in a second)."""
        stem = f"predictions-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{os.getpid()}"
        path, n = self.folder / f"{stem}.jsonl", 1
        while path.exists():
            path, n = self.folder / f"{stem}-{n}.jsonl", n + 1
        return path

    def close(self) -> None:
        self._stop.set()
        self.flush()
