"""Prediction-log and label readers: JSONL, CSV and Parquet, read incrementally by watermark.

A watermark per log file (an identity taken from its first bytes, plus the byte offset or
row count consumed) lets each run read only what is new. Appends continue from the offset; a
rotated file is recognised by its identity under its new name; a truncated file starts over.
Malformed records are counted and the first few reported with file and line; never dropped
silently, never fatal.
"""

from __future__ import annotations

import csv
import glob
import hashlib
import io
import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlops_gitops.spec import locations

LOG_SUFFIXES = (".jsonl", ".json", ".ndjson", ".csv", ".parquet")
ROTATED = re.compile(r"\.\d{1,6}$")
"""A numeric suffix added by log rotation (`predictions.jsonl.1`); compressed ones are skipped."""
EARLIEST, LATEST = -62135596800.0, 253402300799.0
"""Seconds since the epoch of 0001-01-01 and 9999-12-31T23:59:59 UTC: representable times."""
IDENTITY_BYTES = 4096
MAX_EXAMPLES = 5
CHUNK_RECORDS = 200_000
FEATURE_PREFIX = "feature."
CORE_FIELDS: tuple[str, ...] = (
    "timestamp",
    "request_id",
    "model_version",
    "prediction",
    "score",
    "label",
    "latency_ms",
    "error",
)


@dataclass
class Watermark:
    path: str
    identity: str
    offset: int = 0
    """Bytes consumed (JSONL/CSV) or rows consumed (Parquet)."""
    line: int = 0
    """Lines consumed, so malformed records can be reported by line."""

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "identity": self.identity,
            "offset": self.offset,
            "line": self.line,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Watermark:
        return cls(str(data["path"]), str(data["identity"]), int(data["offset"]), int(data["line"]))


@dataclass
class Malformed:
    count: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)
    seen: dict[str, int] = field(default_factory=dict)
    """Lines per file reported by earlier runs: a rebuild reads them again, they are not news."""

    def add(self, path: str, line: int, why: str) -> None:
        if 0 < line <= self.seen.get(path, 0):
            return
        self.count += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append({"path": path, "line": line, "error": why})


@dataclass
class Batch:
    """Records read in one chunk: core fields plus `feature.<name>` columns.

    `timestamp` is in seconds since the epoch (float).
    """

    frame: Any
    """A pandas DataFrame."""

    @property
    def rows(self) -> int:
        return len(self.frame)


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


def _identity(head: bytes, suffix: str) -> str:
    """First line (two for CSV: the header is shared by every file) identifies a file."""
    lines = head.split(b"\n")
    keep = 2 if suffix == ".csv" else 1
    if len(lines) <= keep:  # not even one complete record yet ...
        if len(head) < IDENTITY_BYTES:
            return ""
        return hashlib.sha256(head).hexdigest()[:32]  # ... but its first bytes are final
    return hashlib.sha256(b"\n".join(lines[:keep])).hexdigest()[:32]


def _parquet_identity(path: Path, rel: str) -> str:
    """The footer's description of the first row group: the same under a new name.

    Without column statistics the name and size stand in (a renamed file is then read again).
    """
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).metadata
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
        bounds = f"{stats.min!r}:{stats.max!r}" if stats.has_min_max else "-"
        parts.append(f"{bounds}:{stats.null_count}")
    if not described:
        return f"parquet:{rel}:{path.stat().st_size}"
    return "parquet:" + hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def parse_time(value: Any) -> float | None:
    """Seconds since the epoch, from ISO 8601 text or a number (seconds or milliseconds)."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:
            return None
        number = number / 1000.0 if number > 1e11 else number
        return number if EARLIEST <= number <= LATEST else None  # also rejects NaN
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            try:
                return parse_time(float(value))
            except ValueError:
                return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        try:
            seconds = parsed.timestamp()
        except (OverflowError, ValueError):
            return None
        return seconds if EARLIEST <= seconds <= LATEST else None
    return None


class _Collector:
    def __init__(self) -> None:
        self.columns: dict[str, list[Any]] = {name: [] for name in CORE_FIELDS}
        self.rows = 0

    def add(self, record: dict[str, Any]) -> None:
        for name in CORE_FIELDS:
            self.columns[name].append(record.get(name))
        features = record.get("features") or {}
        for name, value in features.items():
            column = self.columns.get(FEATURE_PREFIX + name)
            if column is None:
                column = self.columns[FEATURE_PREFIX + name] = [None] * self.rows
            column.append(value)
        self.rows += 1
        for column in self.columns.values():
            if len(column) < self.rows:
                column.append(None)

    def batch(self) -> Batch:
        import pandas as pd

        frame = pd.DataFrame(self.columns)
        frame["timestamp"] = frame["timestamp"].astype("float64")
        for name in ("latency_ms", "score"):
            frame[name] = pd.to_numeric(frame[name], errors="coerce")
        self.columns = {name: [] for name in CORE_FIELDS}
        self.rows = 0
        return Batch(compact(frame))


def compact(frame: Any) -> Any:
    """Repeated strings (categorical features, versions) as categories: a fraction of the
    memory of one string per row, which keeps large windows small."""
    import pandas as pd

    for column in frame.columns:
        if column == "model_version" or column.startswith(FEATURE_PREFIX):
            series = frame[column]
            text = series.dtype == object or pd.api.types.is_string_dtype(series.dtype)
            if text and not isinstance(series.dtype, pd.CategoricalDtype):
                frame[column] = series.astype("category")
    return frame


def _huge(value: Any) -> bool:
    """An integer no float can hold (JSON allows 10**400): it would break numeric columns."""
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**63


def _validate(record: Any) -> tuple[dict[str, Any] | None, str]:
    """A record needs a time, a version and a features object; numbers must be numbers."""
    if not isinstance(record, dict):
        return None, "not a JSON object"
    stamp = parse_time(record.get("timestamp"))
    if stamp is None:
        return None, "timestamp missing or not a time"
    version = record.get("model_version")
    if not isinstance(version, str) or not version:
        return None, "model_version missing or not a string"
    features = record.get("features")
    if not isinstance(features, dict):
        return None, "features missing or not an object"
    for name, value in features.items():
        if value is not None and not isinstance(value, str | int | float):
            return None, f"features.{name} is not a number, string or boolean"
        if _huge(value):
            return None, f"features.{name} is too large a number"
    for name in ("latency_ms", "score"):
        value = record.get(name)
        if value is not None and (not isinstance(value, int | float) or isinstance(value, bool)):
            return None, f"{name} is not a number"
        if _huge(value) or (isinstance(value, float) and not math.isfinite(value)):
            return None, f"{name} is not finite"
    for name in ("prediction", "label"):
        if _huge(record.get(name)):
            return None, f"{name} is too large a number"
    error = record.get("error")
    if error is not None and not isinstance(error, str):
        return None, "error must be null or a message"
    clean = dict(record)
    clean["timestamp"] = stamp
    request = record.get("request_id")
    if request is not None and not isinstance(request, str):
        clean["request_id"] = (
            # An identifier as text, not JSON the tool writes: a NaN inside stays readable.
            json.dumps(request)  # noqa: TID251
            if isinstance(request, dict | list)
            else str(request)
        )
    return clean, ""


class _BadLine(Exception):
    """A line that is not a record; the message says why."""


def _lines(
    handle: io.BufferedReader,
    mark: Watermark,
    rel: str,
    bad: Malformed,
    parse: Callable[[bytes], Any],
) -> Iterator[Batch]:
    """Complete lines from the watermark on, parsed, validated and yielded in chunks.

    `parse` turns one raw line into a record or raises `_BadLine`; the watermark advances
    past every complete line, and a trailing line without its newline is left for next time.
    """
    collector = _Collector()
    handle.seek(mark.offset)
    for raw in handle:
        if not raw.endswith(b"\n"):
            break  # a record still being written: read it next time
        mark.offset += len(raw)
        mark.line += 1
        if not raw.strip():
            continue
        try:
            record = parse(raw)
        except _BadLine as exc:
            bad.add(rel, mark.line, str(exc))
            continue
        clean, why = _validate(record)
        if clean is None:
            bad.add(rel, mark.line, why)
            continue
        collector.add(clean)
        if collector.rows >= CHUNK_RECORDS:
            yield collector.batch()
    if collector.rows:
        yield collector.batch()


def _json_line(raw: bytes) -> Any:
    try:
        return json.loads(raw.strip())
    except ValueError as exc:
        raise _BadLine(f"invalid JSON: {str(exc).split(':')[0]}") from None


def _jsonl(handle: io.BufferedReader, mark: Watermark, rel: str, bad: Malformed) -> Iterator[Batch]:
    return _lines(handle, mark, rel, bad, _json_line)


def _csv_record(row: dict[str, str]) -> dict[str, Any]:
    record: dict[str, Any] = {"features": {}}
    for key, value in row.items():
        if key is None:
            raise ValueError("more fields than the header")
        cell: Any = None if value in ("", None) else value
        if key.startswith(FEATURE_PREFIX):
            record["features"][key[len(FEATURE_PREFIX) :]] = _number(cell)
        elif key in ("latency_ms", "score"):
            record[key] = None if cell is None else float(cell)
        elif key in ("prediction", "label"):
            record[key] = _number(cell)
        else:
            record[key] = cell
    return record


def _number(cell: Any) -> Any:
    if not isinstance(cell, str):
        return cell
    try:
        number = float(cell)
    except ValueError:
        return cell
    return int(number) if number.is_integer() and "." not in cell and "e" not in cell else number


def _csv(handle: io.BufferedReader, mark: Watermark, rel: str, bad: Malformed) -> Iterator[Batch]:
    handle.seek(0)
    header_line = handle.readline()
    if not header_line.endswith(b"\n"):
        return
    header = next(csv.reader([header_line.decode("utf-8-sig", "replace")]))
    if mark.offset == 0:
        mark.offset, mark.line = len(header_line), 1

    def parse(raw: bytes) -> Any:
        try:
            values = next(csv.reader([raw.decode("utf-8")]))
            if len(values) != len(header):
                raise ValueError(f"{len(values)} fields, the header has {len(header)}")
            return _csv_record(dict(zip(header, values, strict=True)))
        except (ValueError, csv.Error) as exc:
            raise _BadLine(f"bad CSV row: {exc}") from None

    yield from _lines(handle, mark, rel, bad, parse)


def _row_group_batches(parquet: Any, skip: int) -> Iterator[tuple[int, Any]]:
    """(first row, batch) pairs of at most CHUNK_RECORDS rows, one row group at a time.

    `ParquetFile.iter_batches` keeps memory it decoded for the whole file (662 MB still
    allocated after discarding every batch of a 3M-row log), so memory grew with the log;
    reading group by group releases it. Groups wholly before `skip` are not decoded at all.
    """
    start = 0
    for index in range(parquet.num_row_groups):
        rows = parquet.metadata.row_group(index).num_rows
        if start + rows <= skip:
            start += rows
            continue
        table = parquet.read_row_group(index)
        for batch in table.to_batches(max_chunksize=CHUNK_RECORDS):
            yield start, batch
            start += batch.num_rows
        del table


def _parquet(path: Path, mark: Watermark, rel: str, bad: Malformed) -> Iterator[Batch]:
    """Columnar: whole row groups become DataFrames; checks are vectorised."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        bad.add(rel, 0, "reading Parquet needs pyarrow: install mlops-gitops[parquet]")
        return
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    schema = pq.read_schema(path)
    # Repeated strings (versions, categorical features) decode straight into categories.
    repeated = [
        f.name
        for f in schema
        if (pa.types.is_string(f.type) or pa.types.is_large_string(f.type))
        and (f.name == "model_version" or f.name.startswith(FEATURE_PREFIX))
    ]
    parquet = pq.ParquetFile(path, read_dictionary=repeated)
    row = 0
    groups = _row_group_batches(parquet, mark.offset)
    while True:
        try:
            item = next(groups, None)
        except Exception as exc:  # a damaged page: report it, keep what was read
            bad.add(rel, mark.offset + 1, f"unreadable Parquet data: {exc}")
            return
        if item is None:
            return
        row, group = item
        end = row + group.num_rows
        if end <= mark.offset:
            row = end
            continue
        table = group.slice(max(mark.offset - row, 0))
        first = mark.offset + 1
        consumed = table.num_rows
        frame = table.to_pandas(split_blocks=True, self_destruct=True)
        del table
        mark.offset += consumed
        mark.line = mark.offset
        row = end
        for name in CORE_FIELDS:
            if name not in frame:
                frame[name] = None
        stamps = frame["timestamp"]
        if pd.api.types.is_datetime64_any_dtype(stamps):
            if stamps.dt.tz is None:
                stamps = stamps.dt.tz_localize("UTC")
            seconds = (stamps - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
        else:
            seconds = pd.Series([parse_time(v) for v in stamps], index=frame.index, dtype="float64")
        frame["timestamp"] = seconds
        for name in ("latency_ms", "score"):
            frame[name] = pd.to_numeric(frame[name], errors="coerce")
        ok = frame["timestamp"].notna() & frame["model_version"].notna()
        if not ok.all():
            for index in np.flatnonzero(~ok.to_numpy()):
                bad.add(rel, first + int(index), "timestamp or model_version missing")
            frame = frame[ok]
        if not isinstance(frame["model_version"].dtype, pd.CategoricalDtype):
            frame["model_version"] = frame["model_version"].astype(str)
        requests = frame["request_id"]
        if requests.notna().any() and not pd.api.types.is_string_dtype(requests):
            frame["request_id"] = requests.map(lambda v: None if pd.isna(v) else str(v))
        if len(frame):
            yield Batch(frame.reset_index(drop=True))


def new_result() -> ReadResult:
    return ReadResult([], Malformed(), [], 0)


def read_new(
    files: list[Path], repo_root: Path, previous: list[Watermark], result: ReadResult
) -> Iterator[Batch]:
    """Yield batches of new records; `result` collects watermarks, malformed records, events.

    Consumers process each batch as it comes, so memory does not grow with the log.
    """
    by_identity = {w.identity: w for w in previous if w.identity}
    by_path = {w.path: w for w in previous}
    for path in files:
        rel = (
            path.relative_to(repo_root).as_posix() if path.is_relative_to(repo_root) else str(path)
        )
        suffix = log_format(path)
        with open(path, "rb") as handle:
            head = handle.read(IDENTITY_BYTES)
            size = path.stat().st_size
            try:
                identity = (
                    _parquet_identity(path, rel)
                    if suffix == ".parquet"
                    else _identity(head, suffix)
                )
            except ImportError:
                identity = f"parquet:{rel}:{size}"
            except Exception as exc:  # pyarrow: not a Parquet file (yet)
                result.events.append(f"{rel}: unreadable ({exc}); skipped")
                if rel in by_path:  # keep its place for when it is readable again
                    result.watermarks.append(by_path[rel])
                continue
            if not identity:
                result.events.append(f"{rel}: no complete record yet")
                continue
            mark = by_identity.get(identity)
            if mark is not None and mark.path != rel:
                result.events.append(f"{rel}: rotated from {mark.path}; continuing at its offset")
            if mark is None:
                old = by_path.get(rel)
                if old is not None:
                    result.events.append(f"{rel}: replaced (new content); reading from the start")
                mark = Watermark(rel, identity)
            mark = Watermark(rel, identity, mark.offset, mark.line)
            if suffix != ".parquet" and mark.offset > size:
                result.events.append(
                    f"{rel}: truncated ({size} < {mark.offset} bytes); reading from the start"
                )
                mark.offset, mark.line = 0, 0
            if suffix == ".parquet":
                reader = _parquet(path, mark, rel, result.malformed)
            elif suffix == ".csv":
                reader = _csv(handle, mark, rel, result.malformed)
            else:
                reader = _jsonl(handle, mark, rel, result.malformed)
            for batch in reader:
                result.new_records += batch.rows
                yield batch
        result.watermarks.append(mark)


def read_labels(
    location: str | None, repo_root: Path, bad: Malformed | None = None
) -> dict[str, Any]:
    """request_id -> label from label files (JSONL, CSV or Parquet with request_id and label).

    Records without both are counted in `bad` (with file and line), never fatal.
    """
    bad = bad if bad is not None else Malformed()
    if not location:
        return {}
    labels: dict[str, Any] = {}
    for path in list_log_files(location, repo_root):
        rel = (
            path.relative_to(repo_root).as_posix() if path.is_relative_to(repo_root) else str(path)
        )
        kind = log_format(path)
        if kind == ".csv":
            with open(path, newline="", encoding="utf-8-sig", errors="replace") as handle:
                rows = csv.DictReader(handle)
                try:
                    for row in rows:
                        if row.get("request_id") and row.get("label") not in (None, ""):
                            labels[row["request_id"]] = _number(row["label"])
                        else:
                            bad.add(rel, rows.line_num, "request_id or label missing")
                except csv.Error as exc:
                    bad.add(rel, rows.line_num, f"bad CSV: {exc}")
            continue
        if kind == ".parquet":
            try:
                import pyarrow.parquet as pq

                table = pq.read_table(path, columns=["request_id", "label"])
            except ImportError:
                bad.add(rel, 0, "reading Parquet needs pyarrow: install mlops-gitops[parquet]")
                continue
            except Exception as exc:  # not Parquet, or no request_id/label columns
                bad.add(rel, 0, f"unreadable label file: {exc}")
                continue
            pairs = zip(
                table.column("request_id").to_pylist(),
                table.column("label").to_pylist(),
                strict=True,
            )
            for number, (rid, label) in enumerate(pairs, 1):
                if rid is not None and label is not None:
                    labels[str(rid)] = label
                else:
                    bad.add(rel, number, "request_id or label missing")
            continue
        with open(path, "rb") as handle:
            for line, raw in enumerate(handle, 1):
                if not raw.strip():
                    continue
                try:
                    record = json.loads(raw)
                except ValueError:
                    bad.add(rel, line, "invalid JSON")
                    continue
                if (
                    isinstance(record, dict)
                    and record.get("request_id") not in (None, "")
                    and "label" in record
                ):
                    labels[str(record["request_id"])] = record["label"]
                else:
                    bad.add(rel, line, "request_id or label missing")
    return labels
