"""Decoders of one log file, from a watermark on: JSON lines, CSV and Parquet.

Each yields normalised Arrow batches (see :mod:`mlops_gitops.monitor.records`) with the
:class:`Span` they came from, and advances the file's watermark past what it consumed.

JSON lines are decoded by Arrow's JSON reader a block of whole lines at a time (tens of
megabytes, both cores). A block Arrow cannot judge row by row (invalid JSON, a type that changes
from row to row, a nested feature, an integer beyond 2**63) is split in halves until the pieces
parse; a piece of a few thousand lines that still does not is read line by line with the
standard JSON parser, which names each bad line. So a malformed line costs a little more work
around it, never a slow file.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from mlops_gitops.monitor.records import (
    FEATURE_PREFIX,
    Malformed,
    NeedsRecordParser,
    check_record,
    normalise,
    records_table,
)

BLOCK_BYTES = 16 << 20
"""JSON lines decoded per block."""
PARSE_THREADS = 4
"""JSON blocks parsed at once at most: each holds its bytes and its table (about 55 MB)."""
MAX_LINE_BYTES = 16 << 20
"""A JSON line still without its newline past this many bytes (and a block) is reported and
skipped, never held whole: a prediction record is kilobytes."""
LINE_SKIP_CHUNK = 1 << 20
LINE_BY_LINE_BYTES = 256 << 10
"""A failing piece at most this big is parsed line by line."""
CSV_RECORDS = 50_000
PARQUET_ROWS = 32_768
"""Rows decoded at a time: small pieces keep the decoder's memory small and reused."""
PARQUET_BUFFER = 1 << 16
"""Bytes of a column chunk read at a time."""

IntArray = npt.NDArray[np.int64]
Block = bytes | memoryview
"""Whole lines of a JSON lines file."""
NEWLINE = 10
ARROW_MAX_DEPTH = 4096
"""Nesting Arrow's JSON reader is given; it overflows its stack near 20,000 levels."""
OPEN_LIST, CLOSE_LIST, OPEN_OBJECT, CLOSE_OBJECT = b"[]{}"


@dataclass(frozen=True)
class Span:
    """Where a batch came from in its file: bytes [start, end) from line `first_line` (text),
    or rows [start, end) (Parquet). Reading the span again gives the same batch."""

    start: int
    end: int
    first_line: int


@dataclass
class Mark:
    offset: int
    line: int


Decoded = Iterator[tuple[pa.RecordBatch, Span]]


def _rows_to_lines(block: Block, first_line: int, rows: int) -> Callable[[IntArray], IntArray]:
    """Row number -> line number; blank lines are skipped by the reader and shift the rows."""

    def lines(selected: IntArray) -> IntArray:
        text = bytes(block)
        if text.count(b"\n") == rows:
            return selected + first_line
        filled = [i for i, line in enumerate(text.split(b"\n")[:-1]) if line.strip()]
        return np.asarray(filled, dtype=np.int64)[selected] + first_line

    return lines


def _too_deep(data: npt.NDArray[np.uint8], ends: IntArray) -> bool:
    """Whether a line nests lists or objects deeper than ARROW_MAX_DEPTH (brackets inside
    strings count too: at worst the block is read line by line). A line no longer than that
    cannot, so the usual block costs one subtraction."""
    starts = np.concatenate(([0], ends[:-1] + 1)) if len(ends) else np.zeros(0, np.int64)
    for line in np.flatnonzero(ends - starts > ARROW_MAX_DEPTH):
        part = data[starts[line] : ends[line]]
        step = ((part == OPEN_LIST) | (part == OPEN_OBJECT)).astype(np.int32)
        step -= (part == CLOSE_LIST) | (part == CLOSE_OBJECT)
        if np.cumsum(step).max() > ARROW_MAX_DEPTH:
            return True
    return False


def _parse(block: Block) -> tuple[pa.Table | None, int]:
    """Arrow's reading of a block of JSON lines (None when it cannot read it) and the number of
    lines in it: both without the GIL, on a thread of their own."""
    import pyarrow.json as pj  # imported by `jsonl` before any thread starts

    data = np.frombuffer(block, dtype=np.uint8)
    ends = np.flatnonzero(data == NEWLINE)
    lines = len(ends)
    if _too_deep(data, ends):
        return None, lines  # Arrow's reader overflows its stack on deep nesting: line by line
    try:
        # The whole block as one piece, on this thread: blocks are parsed side by side.
        whole = pj.ReadOptions(use_threads=False, block_size=max(len(block), 1 << 20))
        table = pj.read_json(pa.BufferReader(pa.py_buffer(block)), read_options=whole)
        return table, lines
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None, lines


def _json_block(
    block: Block,
    first_line: int,
    rel: str,
    bad: Malformed,
    not_after: float,
    table: pa.Table | None = None,
) -> list[pa.RecordBatch]:
    table = table if table is not None else _parse(block)[0]
    if table is not None:
        try:
            batch = normalise(
                table,
                rel=rel,
                bad=bad,
                lines=_rows_to_lines(block, first_line, table.num_rows),
                not_after=not_after,
                nested=True,
                strict=True,
            )
            return [batch] if batch is not None else []
        except NeedsRecordParser:
            pass
    block = bytes(block)  # split below: a block with a line Arrow cannot take
    if len(block) <= LINE_BY_LINE_BYTES:
        return _json_lines(block, first_line, rel, bad, not_after)
    middle = block.rfind(b"\n", 0, len(block) // 2) + 1 or block.find(b"\n") + 1
    if middle >= len(block):
        return _json_lines(block, first_line, rel, bad, not_after)
    head, tail = block[:middle], block[middle:]
    return [
        *_json_block(head, first_line, rel, bad, not_after),
        *_json_block(tail, first_line + head.count(b"\n"), rel, bad, not_after),
    ]


def _json_lines(
    block: bytes, first_line: int, rel: str, bad: Malformed, not_after: float
) -> list[pa.RecordBatch]:
    records: list[dict[str, Any]] = []
    lines: list[int] = []
    for number, raw in enumerate(block.split(b"\n")[:-1], first_line):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw.strip())
        except ValueError as exc:
            bad.add(rel, number, f"invalid JSON: {str(exc).split(':')[0]}")
            continue
        except RecursionError:
            bad.add(rel, number, "nested too deeply to read")
            continue
        clean, why = check_record(record)
        if clean is None:
            bad.add(rel, number, why)
            continue
        records.append(clean)
        lines.append(number)
    return _checked(records, lines, rel, bad, not_after)


def _checked(
    records: list[dict[str, Any]], lines: list[int], rel: str, bad: Malformed, not_after: float
) -> list[pa.RecordBatch]:
    if not records:
        return []
    numbers = np.asarray(lines, dtype=np.int64)
    batch = normalise(
        records_table(records),
        rel=rel,
        bad=bad,
        lines=lambda rows: numbers[rows],
        not_after=not_after,
        nested=False,
        strict=True,
    )
    return [batch] if batch is not None else []


@dataclass(frozen=True)
class Oversized:
    """A line longer than MAX_LINE_BYTES, newline included: skipped unread."""

    size: int


def _skip_line(handle: io.BufferedReader, position: int, end: int) -> int | None:
    """Reads on to the end of the current line; the byte after its newline, or None when the
    line has no newline yet (before `end`, when given). The handle is left past that byte."""
    while True:
        want = LINE_SKIP_CHUNK if end < 0 else min(LINE_SKIP_CHUNK, end - position)
        chunk = handle.read(want) if want > 0 else b""
        if not chunk:
            return None
        newline = chunk.find(b"\n")
        if newline >= 0:
            return position + newline + 1
        position += len(chunk)


def _blocks(
    handle: io.BufferedReader, start: int, end: int
) -> Iterator[tuple[Block | Oversized, int]]:
    """Blocks of whole lines from byte `start` (up to byte `end` when given), with where each
    starts. A last line without its newline is a record still being written: left for later.
    Each block is read into a buffer of its own, without copies (it is parsed on another thread
    while the next is read). A line longer than MAX_LINE_BYTES comes as `Oversized`."""
    handle.seek(start)
    carry = b""
    while True:
        # A block holds at most BLOCK_BYTES from its first byte (unless one line is longer), so
        # reading its span again from that byte cuts the same lines into the same batches.
        want = BLOCK_BYTES - len(carry) if len(carry) < BLOCK_BYTES else BLOCK_BYTES
        # A line's first MAX_LINE_BYTES + 1 bytes decide whether it is too long: no more.
        want = min(want, MAX_LINE_BYTES + 1 - len(carry))
        want = want if end < 0 else min(want, end - start - len(carry))
        buffer = bytearray(len(carry) + max(want, 0))
        buffer[: len(carry)] = carry
        got = handle.readinto(memoryview(buffer)[len(carry) :]) if want > 0 else 0
        if not got:
            return
        filled = len(carry) + got
        cut = buffer.rfind(b"\n", 0, filled) + 1
        if cut == 0:
            carry = bytes(buffer[:filled])  # one line longer than a block: keep reading
            if len(carry) > MAX_LINE_BYTES:
                after = _skip_line(handle, start + len(carry), end)
                if after is None:
                    return
                yield Oversized(after - start), start
                start, carry = after, b""
                handle.seek(start)
            continue
        carry = bytes(buffer[cut:filled])
        yield memoryview(buffer)[:cut], start
        start += cut


Pending = tuple[Block | Oversized, int, Future[tuple[pa.Table | None, int]] | None]
"""A block, the byte it starts at, and its parse under way (Arrow's reading, its lines)."""


def jsonl(
    handle: io.BufferedReader, mark: Mark, rel: str, bad: Malformed, not_after: float, end: int = -1
) -> Decoded:
    """Whole lines from the watermark on (up to byte `end` when given), block by block.

    The next blocks are parsed by Arrow, one block per worker thread and without the GIL,
    while this one is checked and summarised: the parse is most of the time JSON lines take.
    One thread per block rather than Arrow's threads within a block keeps each block's table
    in one piece (nothing to combine) and the cores busy with parsing instead of handing over.
    """
    import pyarrow.json  # noqa: F401 (here, not first on several threads at once)

    ahead = max(2, min(os.cpu_count() or 1, PARSE_THREADS))
    with ThreadPoolExecutor(ahead) as pool:
        pending: deque[Pending] = deque()
        for block, start in _blocks(handle, mark.offset, end):
            parse = None if isinstance(block, Oversized) else pool.submit(_parse, block)
            pending.append((block, start, parse))
            if len(pending) > ahead:
                yield from _decoded(pending.popleft(), mark, rel, bad, not_after)
        while pending:
            yield from _decoded(pending.popleft(), mark, rel, bad, not_after)


def _decoded(item: Pending, mark: Mark, rel: str, bad: Malformed, not_after: float) -> Decoded:
    block, start, parse = item
    if isinstance(block, Oversized):
        mark.offset, mark.line = start + block.size, mark.line + 1
        bad.add(rel, mark.line, f"longer than {MAX_LINE_BYTES:,} bytes: not read")
        return
    assert parse is not None  # every block but an oversized line is parsed
    table, lines = parse.result()
    span = Span(start, start + len(block), mark.line + 1)
    mark.offset = span.end
    mark.line += lines
    for batch in _json_block(block, span.first_line, rel, bad, not_after, table):
        yield batch, span


def _csv_record(row: dict[str, str]) -> dict[str, Any]:
    record: dict[str, Any] = {"features": {}}
    for key, value in row.items():
        if key is None:
            raise ValueError("more fields than the header")
        cell: Any = None if value in ("", None) else value
        if key.startswith(FEATURE_PREFIX):
            record["features"][key[len(FEATURE_PREFIX) :]] = number(cell)
        elif key in ("latency_ms", "score"):
            record[key] = None if cell is None else float(cell)
        elif key in ("prediction", "label"):
            record[key] = number(cell)
        else:
            record[key] = cell
    return record


def number(cell: Any) -> Any:
    """A CSV cell as a number when it looks like one."""
    if not isinstance(cell, str):
        return cell
    try:
        value = float(cell)
    except ValueError:
        return cell
    return int(value) if value.is_integer() and "." not in cell and "e" not in cell else value


def csv_rows(
    handle: io.BufferedReader, mark: Mark, rel: str, bad: Malformed, not_after: float, end: int = -1
) -> Decoded:
    handle.seek(0)
    header_line = handle.readline(MAX_LINE_BYTES)
    if not header_line.endswith(b"\n"):
        return  # being written, or too long to be a header: nothing is read
    header = next(csv.reader([header_line.decode("utf-8-sig", "replace")]))
    if mark.offset == 0:
        mark.offset, mark.line = len(header_line), 1
    handle.seek(mark.offset)
    records: list[dict[str, Any]] = []
    lines: list[int] = []
    span_start, span_line = mark.offset, mark.line + 1
    while raw := handle.readline(MAX_LINE_BYTES):
        if end >= 0 and mark.offset >= end:
            break
        if len(raw) == MAX_LINE_BYTES and not raw.endswith(b"\n"):
            after = _skip_line(handle, mark.offset + len(raw), end)
            if after is None:
                break
            mark.offset, mark.line = after, mark.line + 1
            bad.add(rel, mark.line, f"longer than {MAX_LINE_BYTES:,} bytes: not read")
            handle.seek(after)
            continue
        if not raw.endswith(b"\n"):
            break  # a record still being written: read it next time
        mark.offset += len(raw)
        mark.line += 1
        if not raw.strip():
            continue
        try:
            values = next(csv.reader([raw.decode("utf-8")]))
            if len(values) != len(header):
                raise ValueError(f"{len(values)} fields, the header has {len(header)}")
            record = _csv_record(dict(zip(header, values, strict=True)))
        except (ValueError, csv.Error) as exc:
            bad.add(rel, mark.line, f"bad CSV row: {exc}")
            continue
        clean, why = check_record(record)
        if clean is None:
            bad.add(rel, mark.line, why)
            continue
        records.append(clean)
        lines.append(mark.line)
        if len(records) >= CSV_RECORDS:
            span = Span(span_start, mark.offset, span_line)
            for batch in _checked(records, lines, rel, bad, not_after):
                yield batch, span
            records, lines = [], []
            span_start, span_line = mark.offset, mark.line + 1
    span = Span(span_start, mark.offset, span_line)
    for batch in _checked(records, lines, rel, bad, not_after):
        yield batch, span


def _offset_rows(first: int) -> Callable[[IntArray], IntArray]:
    """Rows of a slice starting at row `first` (0-based) -> row numbers reported (1-based)."""

    def rows(selected: IntArray) -> IntArray:
        return selected + first + 1

    return rows


def parquet(
    path: str,
    mark: Mark,
    rel: str,
    bad: Malformed,
    not_after: float,
    columns: set[str] | None,
    end: int = -1,
) -> Decoded:
    """Row group by row group, only the columns asked for; rows before the watermark are skipped
    without decoding their groups. Repeated strings decode straight into dictionaries."""
    import pyarrow.parquet as pq

    filesystem = None
    if "://" in path:  # an object in object storage, read through its fsspec filesystem
        from pyarrow.fs import FSSpecHandler, PyFileSystem

        from mlops_gitops.monitor.objects import filesystem as object_filesystem

        fs, path = object_filesystem(path)
        filesystem = PyFileSystem(FSSpecHandler(fs))
    # A reader per row group, its pages streamed (buffer_size) rather than each column chunk
    # read whole, and small batches: what is held while decoding stays at a few MB per column
    # (pyarrow.dataset held 100 MB more at 25 features, and costs 50 MB and pandas to import).
    file = pq.ParquetFile(path, buffer_size=PARQUET_BUFFER, pre_buffer=False, filesystem=filesystem)
    schema = file.schema_arrow
    wanted = [
        f.name
        for f in schema
        if columns is None or f.name in columns or f.name.startswith(FEATURE_PREFIX)
    ]
    repeated = [
        f.name
        for f in schema
        if f.name in wanted
        and (pa.types.is_string(f.type) or pa.types.is_large_string(f.type))
        and (f.name == "model_version" or f.name.startswith(FEATURE_PREFIX))
    ]
    file = pq.ParquetFile(
        path,
        buffer_size=PARQUET_BUFFER,
        pre_buffer=False,
        filesystem=filesystem,
        read_dictionary=repeated,
        metadata=file.metadata,
    )
    start = 0
    for index in range(file.num_row_groups):
        rows = file.metadata.row_group(index).num_rows
        if start + rows <= mark.offset or (end >= 0 and start >= end):
            start += rows  # wholly read before (or after the span): not decoded at all
            continue
        pieces = _read_ahead(file.iter_batches(PARQUET_ROWS, row_groups=[index], columns=wanted))
        row = start
        while True:
            try:
                piece = next(pieces, None)
            except Exception as exc:  # a damaged page: report it, keep what was read
                bad.add(rel, mark.offset + 1, f"unreadable Parquet data: {exc}")
                return
            if piece is None:
                break
            lo = max(mark.offset, row) - row
            hi = piece.num_rows if end < 0 else min(piece.num_rows, end - row)
            if hi > lo:
                span = Span(row + lo, row + hi, row + lo + 1)
                mark.offset = mark.line = span.end
                batch = normalise(
                    pa.Table.from_batches([piece.slice(lo, hi - lo)]),
                    rel=rel,
                    bad=bad,
                    lines=_offset_rows(span.start),
                    not_after=not_after,
                    nested=False,
                    strict=False,
                )
                if batch is not None:
                    yield batch, span
            row += piece.num_rows
        start += rows


def _read_ahead(pieces: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """The same batches, the next one decoded on a worker thread (Arrow does it without the
    GIL) while the caller checks and summarises this one. An error comes in its turn."""
    with ThreadPoolExecutor(1) as ahead:
        future = ahead.submit(next, pieces, None)
        while (piece := future.result()) is not None:
            future = ahead.submit(next, pieces, None)
            yield piece
