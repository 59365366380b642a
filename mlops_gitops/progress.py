"""Progress of long work (applying many steps, checking artifacts, reading large logs,
training), drawn on one line of stderr, only when it is a terminal.

The library reports through `task`, `each` and `advance`, which cost next to nothing when no
one listens; the CLI listens (`shown_on`) only for a terminal, never with `--quiet` or
`--format json`, so logs and pipes never see a carriage return.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TextIO, TypeVar

T = TypeVar("T")
INTERVAL = 0.1
"""Seconds between two redraws."""
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_CLEAR = "\r\033[2K"

_stream: ContextVar[TextIO | None] = ContextVar("progress_stream", default=None)
_current: ContextVar[Task | None] = ContextVar("progress_task", default=None)


class Task:
    """One piece of long work: a label, a count and (when known) its total."""

    def __init__(self, label: str, total: int | None, unit: str, stream: TextIO | None) -> None:
        self.label = _UNSAFE.sub("?", label)
        self.total = total
        self.unit = unit
        self.done = 0
        self.stream = stream
        self.drawn = 0.0

    def advance(self, count: int = 1) -> None:
        self.done += count
        if self.stream is not None:
            self._draw()

    def stage(self, label: str) -> None:
        """Name what the task is doing now (training: loading data, fitting...)."""
        self.label = _UNSAFE.sub("?", label)
        if self.stream is not None:
            self._draw(force=True)

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and self.drawn and now - self.drawn < INTERVAL:
            return
        self.drawn = now
        if self.total:
            text = f"{self.label}: {self.done}/{self.total} ({self.done * 100 // self.total}%)"
        elif self.unit:
            text = f"{self.label}: {self.done:,} {self.unit}"
        else:
            text = f"{self.label} ..."
        assert self.stream is not None
        self.stream.write(_CLEAR + text[:200])
        self.stream.flush()

    def close(self) -> None:
        if self.stream is not None and self.drawn:
            self.stream.write(_CLEAR)
            self.stream.flush()


@contextmanager
def task(label: str, total: int | None = None, unit: str = "") -> Iterator[Task]:
    """A task on the progress line for the time of the `with` block."""
    stream = _stream.get()
    current = Task(label, total, unit, stream)
    token = _current.set(current)
    try:
        if stream is not None:
            current._draw(force=True)
        yield current
    finally:
        _current.reset(token)
        current.close()


def each(items: Sequence[T], label: str) -> Iterator[T]:
    """The items, counted on the progress line as they are taken."""
    if _stream.get() is None:
        yield from items
        return
    with task(label, len(items)) as counted:
        for item in items:
            yield item
            counted.advance()


def clear() -> None:
    """Take the progress line away, if one is drawn, so that a message starts a line of its
    own; the task draws itself again at its next step."""
    current = _current.get()
    if current is not None and current.stream is not None and current.drawn:
        current.close()
        current.drawn = 0.0


def advance(count: int = 1) -> None:
    """Count work done for the innermost task, if any (e.g. records read)."""
    current = _current.get()
    if current is not None and current.stream is not None:
        current.advance(count)


@contextmanager
def shown_on(stream: TextIO | None) -> Iterator[None]:
    """Draw progress on `stream` (None: nowhere) while the block runs."""
    token = _stream.set(stream)
    try:
        yield
    finally:
        _stream.reset(token)
