"""Prediction-log and label readers: JSONL, CSV and Parquet, read incrementally by watermark.

A watermark per log file (an identity taken from its first bytes, plus the byte offset or
row count consumed) says how far the logs were read. Appends continue from the offset; a
rotated file is recognised by its identity under its new name; a truncated file starts over.
Malformed records are counted and the first few reported with file and line; never dropped
silently, never fatal.

Reading is planned, then done: :func:`plan_reads` turns the files and the previous watermarks
into :class:`Partition` objects, plain data that says which file to read from where; and
:func:`read_partition` decodes one of them into normalised Arrow batches. A partition is all a
worker needs, so a partition can be read on another machine (the Dask engine); a later source
(an object store, a ``pyarrow.dataset`` fragment) is another kind of partition.
"""

from __future__ import annotations

import glob
import hashlib
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mlops_gitops import progress
from mlops_gitops.monitor import formats
from mlops_gitops.monitor.formats import Span
from mlops_gitops.monitor.records import (
    CORE_FIELDS,
    FEATURE_PREFIX,
    MAX_EXAMPLES,
    Malformed,
    parse_time,
)
from mlops_gitops.spec import locations

__all__ = [
    "CORE_FIELDS",
    "FEATURE_PREFIX",
    "MAX_EXAMPLES",
    "Malformed",
    "Partition",
    "Span",
    "Watermark",
    "parse_time",
]

LOG_SUFFIXES = (".jsonl", ".json", ".ndjson", ".csv", ".parquet")
ROTATED = re.compile(r"\.\d{1,6}$")
"""A numeric suffix added by log rotation (`predictions.jsonl.1`); compressed ones are skipped."""
IDENTITY_BYTES = 4096


@dataclass
class Watermark:
    path: str
    identity: str
    offset: int = 0
    """Bytes consumed (JSONL/CSV) or rows consumed (Parquet)."""
    line: int = 0
    """Lines consumed, so malformed records can be reported by line."""
    size: int = 0
    tag: str = ""
    """Objects in object storage: their size and version tag (ETag or generation) when read."""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "path": self.path,
            "identity": self.identity,
            "offset": self.offset,
            "line": self.line,
        }
        if self.tag:
            out |= {"size": self.size, "tag": self.tag}
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Watermark:
        return cls(
            str(data["path"]),
            str(data["identity"]),
            int(data["offset"]),
            int(data["line"]),
            int(data.get("size", 0)),
            str(data.get("tag", "")),
        )


@dataclass
class Batch:
    """Normalised records read in one chunk (see :mod:`mlops_gitops.monitor.records`)."""

    table: Any
    """A pyarrow RecordBatch."""

    @property
    def rows(self) -> int:
        return int(self.table.num_rows)

    @property
    def frame(self) -> Any:
        """The batch as a pandas DataFrame (for inspection; monitoring works on Arrow)."""
        return self.table.to_pandas()


@dataclass
class ReadResult:
    watermarks: list[Watermark]
    malformed: Malformed
    events: list[str]
    """What happened to files: rotation, truncation, new files."""
    new_records: int


def list_log_files(location: str, repo_root: Path) -> list[Path]:
    """A folder, a glob or a single file, relative to the repository; URIs need fsspec."""
    if locations.is_remote(location):
        return []  # remote logs are listed by read_remote
    base = Path(location.removeprefix("file://"))
    base = base if base.is_absolute() else repo_root / base
    if any(ch in location for ch in "*?["):
        found = [Path(p) for p in glob.glob(str(base), recursive=True) if Path(p).is_file()]
    elif base.is_dir():
        found = [p for p in base.rglob("*") if p.is_file()]
    elif base.is_file():
        found = [base]
    else:
        found = []
    if not location.startswith("file://"):  # a repository path: no symlink leads out of it
        found = [p for p in found if locations.is_inside(p, repo_root)]
    return sorted(p for p in found if log_format(p) and not p.name.startswith("."))


def log_format(path: Path) -> str:
    """ ".jsonl", ".csv" or ".parquet" (by the name without a rotation number); "" if not a log."""
    name = ROTATED.sub("", path.name).lower()
    if not name.endswith(LOG_SUFFIXES):
        return ""
    suffix = "." + name.rsplit(".", 1)[1]
    return suffix if suffix in (".csv", ".parquet") else ".jsonl"


def text_identity(head: bytes, suffix: str) -> str:
    """First line (two for CSV: the header is shared by every file) identifies a file."""
    lines = head.split(b"\n")
    keep = 2 if suffix == ".csv" else 1
    if len(lines) <= keep:  # not even one complete record yet ...
        if len(head) < IDENTITY_BYTES:
            return ""
        return hashlib.sha256(head).hexdigest()[:32]  # ... but its first bytes are final
    return hashlib.sha256(b"\n".join(lines[:keep])).hexdigest()[:32]


def _parquet_identity(path: Path, rel: str, legacy: bool = False) -> str:
    """The footer's description of the first row group: the same under a new name.

    Without column statistics the name and size stand in (a renamed file is then read again).
    Statistics are described by their stored (physical) values: their logical values would load
    pandas (timestamps) for nothing. `legacy`: the description of earlier versions, so their
    watermarks still match.
    """
    import pyarrow.parquet as pq

    return parquet_identity(pq.ParquetFile(path), rel, path.stat().st_size, legacy)


def parquet_identity(file: Any, rel: str, size: int, legacy: bool = False) -> str:
    """`_parquet_identity` of an open `pyarrow.parquet.ParquetFile` (a local file or an object)."""
    meta = file.metadata
    if meta.num_row_groups == 0:
        return ""
    group = meta.row_group(0)
    parts = [str(meta.schema.to_arrow_schema()), str(group.num_rows)]
    described = 0
    for j in range(group.num_columns):
        stats = group.column(j).statistics
        if stats is None:  # e.g. a column of nulls only
            parts.append("-")
            continue
        described += stats.has_min_max
        if legacy:
            bounds = f"{stats.min!r}:{stats.max!r}" if stats.has_min_max else "-"
        else:
            bounds = f"{stats.min_raw!r}:{stats.max_raw!r}" if stats.has_min_max else "-"
        parts.append(f"{bounds}:{stats.null_count}")
    if not described:
        return f"parquet:{rel}:{size}"
    digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]
    return ("parquet:" if legacy else "parquet2:") + digest


@dataclass(frozen=True)
class Partition:
    """One log file to read from its watermark on: plain data, so it can travel to a worker."""

    index: int
    """Its place among the partitions of a read: orders records with equal timestamps."""
    path: str
    """Absolute path of the file."""
    rel: str
    """The name reports and watermarks use (relative to the repository when inside it)."""
    suffix: str
    identity: str
    offset: int
    line: int
    seen_line: int = 0
    """Lines reported by the run that set the previous watermark: not reported again."""
    new_from: int = 0
    """Offset (bytes or rows) from which records are new since the previous run."""
    size: int = 0
    tag: str = ""
    """An object in object storage (`path` is its URI): its size and version tag."""
    unchanged: bool = False
    """An object whose size and tag are those of its watermark: nothing new in it."""

    def watermark(self, mark: formats.Mark) -> Watermark:
        return Watermark(self.rel, self.identity, mark.offset, mark.line, self.size, self.tag)


@dataclass
class PartitionRead:
    """What reading one partition found besides its records."""

    watermark: Watermark
    malformed: Malformed
    new_records: int = 0


def new_result() -> ReadResult:
    return ReadResult([], Malformed(), [], 0)


def _rel(path: Path, repo_root: Path) -> str:
    return path.relative_to(repo_root).as_posix() if path.is_relative_to(repo_root) else str(path)


def plan_reads(
    files: list[Path], repo_root: Path, previous: list[Watermark], result: ReadResult
) -> list[Partition]:
    """A partition per readable file, starting where the previous watermarks say.

    Events (rotation, truncation, unreadable files) go to `result.events`; the watermark of a
    file that cannot be read now is kept in `result.watermarks` for when it can.
    """
    by_identity = {w.identity: w for w in previous if w.identity}
    by_path = {w.path: w for w in previous}
    parts: list[Partition] = []
    for path in files:
        rel = _rel(path, repo_root)
        suffix = log_format(path)
        try:
            with open(path, "rb") as handle:
                head = handle.read(IDENTITY_BYTES)
            size = path.stat().st_size
            identity = (
                _parquet_identity(path, rel)
                if suffix == ".parquet"
                else text_identity(head, suffix)
            )
        except ImportError:
            identity = f"parquet:{rel}:{size}"
        except Exception as exc:  # pyarrow: not a Parquet file (yet); or the file went away
            result.events.append(f"{rel}: unreadable ({exc}); skipped")
            if rel in by_path:  # keep its place for when it is readable again
                result.watermarks.append(by_path[rel])
            continue
        if not identity:
            result.events.append(f"{rel}: no complete record yet")
            continue
        mark = by_identity.get(identity)
        if mark is None and identity.startswith("parquet2:") and previous:
            mark = by_identity.get(_parquet_identity(path, rel, legacy=True))
        if mark is not None and mark.path != rel:
            result.events.append(f"{rel}: rotated from {mark.path}; continuing at its offset")
        if mark is None and rel in by_path:
            result.events.append(f"{rel}: replaced (new content); reading from the start")
        offset, line = (mark.offset, mark.line) if mark is not None else (0, 0)
        if suffix != ".parquet" and offset > size:
            result.events.append(
                f"{rel}: truncated ({size} < {offset} bytes); reading from the start"
            )
            offset, line = 0, 0
        parts.append(Partition(len(parts), str(path), rel, suffix, identity, offset, line))
    return parts


def has_news(part: Partition) -> bool:
    """Whether the file holds a complete record (or line) past its watermark, without parsing:
    the row count of a Parquet footer, or a newline after the offset of a text log. An object
    in object storage has news when its size or tag changed (nothing is fetched)."""
    if part.tag:
        return not part.unchanged
    if part.suffix == ".parquet":
        try:
            import pyarrow.parquet as pq

            return bool(pq.ParquetFile(part.path).metadata.num_rows > part.offset)
        except Exception:  # unreadable now: its place is kept, nothing to read
            return False
    try:
        with open(part.path, "rb") as handle:
            handle.seek(part.offset)
            while chunk := handle.read(1 << 20):
                if b"\n" in chunk:
                    return True
    except OSError:
        return False
    return False


def rebuild(part: Partition) -> Partition:
    """The same file read from its start; what lies before the old watermark is not news."""
    return replace(part, offset=0, line=0, seen_line=part.line, new_from=part.offset)


def read_partition(
    part: Partition,
    read: PartitionRead,
    not_after: float,
    columns: set[str] | None = None,
    span: Span | None = None,
) -> Iterator[tuple[Any, Span]]:
    """Normalised batches of one partition (or only `span` of it), with where each came from.

    `read` collects the advanced watermark, the malformed records and the count of new ones.
    """
    mark = (
        formats.Mark(span.start, span.first_line - 1)
        if span
        else formats.Mark(part.offset, part.line)
    )
    # What was read before stops at the old watermark, so new records are counted exactly.
    ends = [span.end] if span else [part.new_from, -1] if part.new_from > mark.offset else [-1]
    read.malformed.seen = {part.rel: part.seen_line}
    try:
        if part.suffix == ".parquet":
            try:
                import pyarrow.parquet  # noqa: F401
            except ImportError:
                read.malformed.add(
                    part.rel, 0, "reading Parquet needs pyarrow: install mlops-gitops[parquet]"
                )
                return
            for end in ends:
                decoded = formats.parquet(
                    part.path, mark, part.rel, read.malformed, not_after, columns, end
                )
                yield from _count_new(decoded, part, read)
            return
        with _open(part) as handle:
            decode = DECODERS.get(part.suffix, formats.jsonl)
            for end in ends:
                decoded = decode(handle, mark, part.rel, read.malformed, not_after, end)
                yield from _count_new(decoded, part, read)
    finally:
        read.watermark = part.watermark(mark)


def _open(part: Partition) -> Any:
    if part.tag or locations.is_remote(part.path):
        from mlops_gitops.monitor.objects import open_object

        # Buffered like a local file: the CSV reader asks for lines of a bounded length,
        # which fsspec's own readline does not offer.
        return io.BufferedReader(open_object(part.path), 1 << 20)
    return open(part.path, "rb")


def _events(handle: Any, mark: Any, rel: str, bad: Malformed, na: float, end: int) -> Any:
    from mlops_gitops.monitor.cloudevents import decode

    return decode(handle, mark, rel, bad, na, end)


DECODERS: dict[str, Any] = {".csv": formats.csv_rows, ".cloudevents": _events}
"""Text decoders by partition kind; JSON lines otherwise."""


def _count_new(decoded: formats.Decoded, part: Partition, read: PartitionRead) -> formats.Decoded:
    for batch, span in decoded:
        if span.start >= part.new_from:
            read.new_records += batch.num_rows
        progress.advance(batch.num_rows)
        yield batch, span


def read_new(
    files: list[Path],
    repo_root: Path,
    previous: list[Watermark],
    result: ReadResult,
    not_after: float = float("inf"),
    columns: set[str] | None = None,
) -> Iterator[Batch]:
    """Yield batches of new records; `result` collects watermarks, malformed records, events.

    Consumers process each batch as it comes, so memory does not grow with the log.
    """
    for part in plan_reads(files, repo_root, previous, result):
        read = PartitionRead(Watermark(part.rel, part.identity), Malformed())
        for batch, _ in read_partition(part, read, not_after, columns):
            yield Batch(batch)
        result.watermarks.append(read.watermark)
        result.malformed.merge(read.malformed)
        result.new_records += read.new_records
