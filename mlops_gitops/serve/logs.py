"""Prediction logs written by the server in the monitoring format (JSON lines).

Records are buffered and flushed by a timer and at shutdown, under a lock so concurrent
requests never interleave; a file past the size limit is rotated (renamed with a time
stamp), which the monitor's watermarks recognise. Everything is bounded: a record's values
(`bounded`), a request's records (the caller's budget) and the buffer waiting for the disk;
what is cut is counted, never silently lost.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from pathlib import Path
from typing import Any

from mlops_gitops import fsguard
from mlops_gitops.errors import MlopsError
from mlops_gitops.safeio import dumps, finite

LOG = logging.getLogger("mlops_gitops.serve")

FLUSH_SECONDS = 1.0
ROTATE_BYTES = 64 * 1024 * 1024
BUFFER_BYTES = 32 * 1024 * 1024
"""Most bytes waiting for the disk; records beyond are dropped and counted."""
MAX_STRING = 256
"""Longest string value logged; longer ones are cut (and the record marked)."""
MAX_FEATURES = 1000
"""Most features logged per record."""


class PredictionLog:
    def __init__(
        self,
        folder: Path,
        flush_seconds: float = FLUSH_SECONDS,
        rotate_bytes: int = ROTATE_BYTES,
        buffer_bytes: int = BUFFER_BYTES,
        root: Path | None = None,
    ) -> None:
        self.folder = folder
        self.root = root or folder
        """No write below it goes through a symlink (the repository)."""
        self.path = folder / "predictions.jsonl"
        fsguard.check_folder(self.root, folder)  # a folder that would be refused fails now
        self.lost = 0
        """Records that reached the buffer but not the disk (the write was refused)."""
        self.rotate_bytes = rotate_bytes
        self.buffer_bytes = buffer_bytes
        self._buffer: list[str] = []
        self._buffered = 0
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(flush_seconds,), name=f"log-{folder.name}", daemon=True
        )
        self._thread.start()

    def append(self, record: dict[str, Any]) -> bool:
        return self.append_lines([line(finite(record))])

    def append_lines(self, lines: list[str]) -> bool:
        """Queue whole lines; False (nothing queued) when the buffer is full."""
        size = sum(len(text) for text in lines)
        with self._lock:
            if self._buffered + size > self.buffer_bytes:
                return False
            self._buffer.extend(lines)
            self._buffered += size
        return True

    def _run(self, every: float) -> None:
        while not self._stop.wait(every):
            self.flush()

    def flush(self) -> None:
        # The buffer is taken under the short lock that append uses; the disk is written
        # under another, so requests never wait for the file system.
        with self._write_lock:
            with self._lock:
                lines, self._buffer, self._buffered = self._buffer, [], 0
            if not lines:
                return
            try:
                self._write("".join(lines).encode("utf-8"))
            except (MlopsError, OSError) as exc:  # e.g. a symlink planted in the log folder
                self.lost += len(lines)
                LOG.warning(
                    "prediction log %s: %d records not written: %s", self.path, len(lines), exc
                )

    def _write(self, data: bytes) -> None:
        handle = fsguard.open_append(self.root, self.path)
        size = os.fstat(handle.fileno()).st_size
        if size and size + len(data) > self.rotate_bytes:
            handle.close()
            fsguard.rename(self.root, self.path, self._rotated_path())
            handle = fsguard.open_append(self.root, self.path)
        with handle:
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


def line(record: dict[str, Any]) -> str:
    """One JSON line; the values must be finite (`bounded`, `scalar` or `safeio.finite`)."""
    return dumps(record, separators=(",", ":"), default=str) + "\n"


def bounded(features: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Feature values as the monitor reads them, each bounded; True when any was cut.

    Features past MAX_FEATURES are left out; each value goes through `scalar`.
    """
    if len(features) <= MAX_FEATURES and all(
        type(v) is float and v - v == 0
        for v in features.values()  # finite floats
    ):
        return features, False
    cut = len(features) > MAX_FEATURES
    out: dict[str, Any] = {}
    for count, (name, value) in enumerate(features.items()):
        if count == MAX_FEATURES:
            break
        out[name[:MAX_STRING]], shortened = scalar(value)
        cut = cut or shortened
    return out, cut


def scalar(value: Any) -> tuple[Any, bool]:
    """A value as a JSON scalar the monitor reads, and whether it was cut.

    Strings are cut at MAX_STRING characters, nested values become their (cut) JSON text,
    integers no float column holds become floats, NaN and infinities become null (JSON has
    none).
    """
    kind = type(value)
    if kind is str:
        return (value[:MAX_STRING], True) if len(value) > MAX_STRING else (value, False)
    if kind is float:
        return (value if math.isfinite(value) else None), False
    if kind is int:
        if -(2**63) <= value < 2**63:
            return value, False
        try:
            return float(value), False
        except OverflowError:
            return None, True
    if value is None or kind is bool:
        return value, False
    if isinstance(value, int | float):  # numpy scalars
        return scalar(value.item() if hasattr(value, "item") else float(value))
    text = dumps(finite(value), default=str)
    return (text[:MAX_STRING], True) if len(text) > MAX_STRING else (text, False)
