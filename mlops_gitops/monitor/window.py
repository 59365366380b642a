"""The window: which records count, kept as mergeable summaries while the logs are read.

A **duration** window (``now - duration <= timestamp <= now``) is decided record by record, so
each batch is summarised as it arrives and merged into one running summary.

A **records** window (the last N by timestamp) cannot be decided until every record has been
seen: a later file may hold newer records. Records are ordered by (timestamp, partition, row),
so ties go to the record read last, and each batch becomes a :class:`Segment` that keeps its
timestamps. When more than about 1.25 N records are held, the cut-off is computed from the
timestamps seen so far (it only rises as more arrive) and what falls below it is dropped. At
the end, segments wholly above the cut-off contribute their summaries, and a segment that the
cut-off splits is read again (its span of the file is known) and summarised without the
records below it. While N is at most ``exact_max_records`` the segments' summaries keep exact
values (which the local engine spills to a temporary file, see :mod:`.spill`, so a window's
values are not all held in memory); beyond it, sketches.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from mlops_gitops.monitor.formats import Span
from mlops_gitops.monitor.prepare import Rows, SummaryPlan
from mlops_gitops.monitor.summary import WindowSummary, summarise

BoolArray = npt.NDArray[np.bool_]
SKETCH_SEGMENT_ROWS = 1_000_000
"""Records summarised together beyond the exact limit: the fewer segments, the fewer sketches."""
HEADROOM = 1.25
"""Records held before a records window is cut, as a multiple of N (plus one batch)."""
SLACK_ROWS = 200_000


@dataclass(frozen=True)
class Policy:
    """A records window (`records`) or a duration window (`start`..`end`, seconds)."""

    records: int | None = None
    start: float = -np.inf
    end: float = np.inf


@dataclass(frozen=True)
class Piece:
    """A batch as read: its span of the file, its number among the batches the span yields,
    its first row and its size; reading the span again gives the same rows."""

    span: Span
    batch: int
    row0: int
    size: int


@dataclass
class Segment:
    """Consecutive records of one partition in a records window: their timestamps, place and
    summary (up to SKETCH_SEGMENT_ROWS records)."""

    part: int
    pieces: list[Piece]
    row0: int
    stamps: list[npt.NDArray[np.float64]]
    """The timestamps, batch by batch (joined when first needed whole)."""
    summary: WindowSummary
    keep: BoolArray | None = None
    """Which of the segment's records are still in the window (None: all)."""

    @property
    def size(self) -> int:
        return sum(piece.size for piece in self.pieces)

    @property
    def timestamp(self) -> npt.NDArray[np.float64]:
        if len(self.stamps) > 1:
            self.stamps = [np.concatenate(self.stamps)]
        return self.stamps[0]

    @property
    def kept_size(self) -> int:
        return self.size if self.keep is None else int(np.count_nonzero(self.keep))

    def kept(self) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
        row = np.arange(self.row0, self.row0 + self.size, dtype=np.int64)
        if self.keep is None:
            return self.timestamp, row
        return self.timestamp[self.keep], row[self.keep]


Reread = Callable[[int, Piece], Rows]
"""Reads a piece of a partition again and prepares it (a records window split in a sketch)."""


@dataclass
class Window:
    plan: SummaryPlan
    policy: Policy
    segments: list[Segment] = field(default_factory=list)
    summary: WindowSummary = field(default_factory=WindowSummary)
    held: int = 0

    @property
    def _sketching(self) -> SummaryPlan:
        """Beyond the exact limit, segments are sketched from the start: their values would
        otherwise be kept until the window is complete."""
        return replace(self.plan, exact_max_records=0)

    @property
    def _segment_plan(self) -> SummaryPlan:
        """Segments of a window within the exact limit keep exact values (spilled to disk by
        the local engine, see :mod:`.spill`); beyond it, sketches."""
        assert self.policy.records is not None
        exact = self.policy.records <= self.plan.exact_max_records
        return self.plan if exact else self._sketching

    def add(self, rows: Rows, span: Span, batch: int) -> None:
        if self.policy.records is None:
            inside = (rows.timestamp >= self.policy.start) & (rows.timestamp <= self.policy.end)
            if not inside.all():
                rows = rows.mask(inside)
            self.summary.merge(summarise(rows, self.plan), self.plan)
            return
        piece = Piece(span, batch, rows.row0, rows.size)
        last = self.segments[-1] if self.segments else None
        plan = self._segment_plan
        if (
            last is not None
            and last.keep is None
            and last.part == rows.part
            and last.row0 + last.size == rows.row0
            and last.size + rows.size <= SKETCH_SEGMENT_ROWS
        ):
            last.summary.merge(summarise(rows, plan), plan)
            last.stamps.append(rows.timestamp)
            last.pieces.append(piece)
        else:
            summary = summarise(rows, plan)
            self.segments.append(Segment(rows.part, [piece], rows.row0, [rows.timestamp], summary))
        self.held += rows.size
        if self.held > HEADROOM * self.policy.records + SLACK_ROWS:
            self._cut(None)

    def absorb(self, other: Window) -> None:
        """Merge a window built elsewhere (another partition, another machine)."""
        self.summary.merge(other.summary, self.plan)
        for segment in other.segments:
            self.segments.append(segment)
            self.held += segment.kept_size
        if self.policy.records is not None and self.held > HEADROOM * self.policy.records:
            self._cut(None)

    def _cut(self, reread: Reread | None) -> None:
        """Drop what is below the records window's cut-off; at the end (`reread` given), fold
        the segments into the summary."""
        assert self.policy.records is not None
        keep = _newest(self.segments, self.policy.records)
        kept: list[Segment] = []
        for segment, mask in zip(self.segments, keep, strict=True):
            if mask is not None and not mask.any():
                continue
            if mask is not None:
                segment.keep = _combine(segment.keep, mask)
            kept.append(segment)
        self.segments = kept
        self.held = sum(s.kept_size for s in kept)
        if reread is None:
            return
        while self.segments:
            segment = self.segments.pop(0)
            self.summary.merge(self._fold(segment, reread), self.plan)

    def _fold(self, segment: Segment, reread: Reread) -> WindowSummary:
        if segment.keep is None or segment.keep.all():
            return segment.summary
        out = WindowSummary()
        offset = 0
        for piece in segment.pieces:
            keep = segment.keep[offset : offset + piece.size]
            offset += piece.size
            if keep.any():
                rows = reread(segment.part, piece)
                out.merge(summarise(rows.mask(keep), self._segment_plan), self._segment_plan)
        return out

    def finish(self, reread: Reread) -> WindowSummary:
        if self.policy.records is not None:
            self._cut(reread)
        return self.summary


def _combine(old: BoolArray | None, new: BoolArray) -> BoolArray:
    """`new` is over the still-kept records; spread it over the whole batch."""
    if old is None:
        return new
    out = old.copy()
    out[old] = new
    return out


def _newest(segments: list[Segment], n: int) -> list[BoolArray | None]:
    """Per segment, which of its kept records are among the newest n (None: all of them)."""
    total = sum(s.kept_size for s in segments)
    if total <= n:  # all of them: no timestamp need be looked at
        return [None] * len(segments)
    everything = np.concatenate([s.kept()[0] for s in segments])
    cutoff = float(np.partition(everything, total - n)[total - n])
    above = int(np.count_nonzero(everything > cutoff))
    need = n - above
    ties = [
        (s.part, int(r))
        for s, (t, rows) in zip(segments, (s.kept() for s in segments), strict=True)
        for r in rows[t == cutoff].tolist()
    ]
    ties.sort()
    first_part, first_row = ties[len(ties) - need]
    out: list[BoolArray | None] = []
    for segment in segments:
        t, rows = segment.kept()
        at = t == cutoff
        later = (segment.part > first_part) | ((segment.part == first_part) & (rows >= first_row))
        out.append((t > cutoff) | (at & later))
    return out
