"""Exact values kept on disk while a window is read, instead of in memory.

KS, Wasserstein, latency percentiles and ROC-AUC use a window's values themselves up to
``exact_max_records``; they are needed once, at the end, one feature at a time. Held in memory
for 20 features of 1,000,000 float64 values they were 160 MB of a run's peak. While
:func:`spilling` is active (the local engine), :class:`~.summary.Quantiles` parts go to one
unlinked temporary file and are read back when a statistic needs them.

The file has no name (nothing else can open it) and is closed when no part refers to it. Parts
that are dropped (a records window cut below its oldest records) leave dead bytes; when they
outweigh the live ones, the live parts are copied to a fresh file, so the disk used stays
within twice the window's values.
"""

from __future__ import annotations

import io
import tempfile
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from mlops_gitops.errors import MlopsError

MIN_BYTES = 16 << 10
"""Smaller parts stay in memory: not worth a write."""
COMPACT_BYTES = 64 << 20
"""Dead bytes tolerated before the live parts are moved to a fresh file."""

_active: SpillFile | None = None


def _temporary() -> io.BufferedRandom:
    """A file without a name (removed as soon as it is made where the system allows)."""
    return tempfile.TemporaryFile()


@dataclass(eq=False)
class Spilled:
    """Values written to a spill file: read back with :meth:`load`."""

    spill: SpillFile
    offset: int
    dtype: np.dtype[Any]
    size: int

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    def load(self) -> npt.NDArray[Any]:
        out = np.empty(self.size, dtype=self.dtype)
        self.spill.read(self, out)
        return out


@dataclass(eq=False)
class SpillFile:
    file: io.BufferedRandom
    size: int = 0
    live: int = 0
    parts: weakref.WeakSet[Spilled] = field(default_factory=weakref.WeakSet)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def put(self, values: npt.NDArray[Any]) -> Spilled | None:
        """The values written out; None when they cannot be (a full disk): kept in memory."""
        data = np.ascontiguousarray(values)
        with self.lock:
            try:
                if self.size > 2 * self.live + COMPACT_BYTES:
                    self._compact()
                self.file.seek(self.size)
                self.file.write(data.data.cast("B"))
                self.file.flush()  # a full disk shows here, not at a later read
            except OSError:
                return None
            part = Spilled(self, self.size, data.dtype, int(data.size))
            self.size += data.nbytes
        self.live += data.nbytes
        self.parts.add(part)
        weakref.finalize(part, self._dead, data.nbytes)
        return part

    def _dead(self, nbytes: int) -> None:
        self.live -= nbytes  # no lock: a finalizer may run inside put, which holds it

    def read(self, part: Spilled, out: npt.NDArray[Any]) -> None:
        with self.lock:
            self.file.seek(part.offset)
            got = self.file.readinto(out.data.cast("B"))
        if got != part.nbytes:
            raise MlopsError("values spilled to a temporary file could not be read back")

    def _compact(self) -> None:
        """Copy the live parts to a fresh file (the lock is held). The parts move only once
        the copy is complete: a full disk (OSError) on the way leaves the old file in use."""
        fresh = _temporary()
        moved: list[tuple[Spilled, int]] = []
        size = 0
        try:
            for part in sorted(self.parts, key=lambda p: p.offset):
                self.file.seek(part.offset)
                fresh.write(self.file.read(part.nbytes))
                moved.append((part, size))
                size += part.nbytes
            fresh.flush()
        except BaseException:
            fresh.close()
            raise
        for part, offset in moved:
            part.offset = offset
        self.file.close()
        self.file, self.size = fresh, size


def keep(values: npt.NDArray[Any]) -> npt.NDArray[Any] | Spilled:
    """The values, spilled when a spill file is active and they are big enough."""
    spill = _active
    if spill is None or values.nbytes < MIN_BYTES:
        return values
    return spill.put(values) or values


def load(part: npt.NDArray[Any] | Spilled) -> npt.NDArray[Any]:
    return part.load() if isinstance(part, Spilled) else part


def join(parts: list[Any]) -> npt.NDArray[Any]:
    """The parts in one new array, each read straight into its place."""
    dtype = np.result_type(*(part.dtype for part in parts))
    out = np.empty(sum(int(part.size) for part in parts), dtype=dtype)
    at = 0
    for part in parts:
        place = out[at : at + part.size]
        if isinstance(part, Spilled) and part.dtype == dtype:
            part.spill.read(part, place)
        else:
            place[:] = load(part)
        at += part.size
    return out


@contextmanager
def spilling() -> Iterator[None]:
    """Spill exact values while the block runs (one reader at a time: the local engine)."""
    global _active
    try:
        spill = SpillFile(_temporary())
    except OSError:  # no temporary file to be had: the values stay in memory
        spill = None
    previous, _active = _active, spill
    try:
        yield
    finally:
        _active = previous
