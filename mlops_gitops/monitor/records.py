"""Prediction records as Arrow batches: one normalised shape for every log format.

Every reader (JSON lines, CSV, Parquet) turns what it decoded into an Arrow table and hands it to
:func:`normalise`, which checks each row the same way, reports the bad ones (file and line) and
returns a batch with the columns :data:`CORE_FIELDS` plus ``feature.<name>`` columns:

``timestamp`` float64 seconds since the epoch; ``model_version`` text; ``request_id`` text;
``prediction`` and ``label`` as logged (numbers or text); ``score`` and ``latency_ms`` float64;
``error`` boolean (the record carried an error message).

Rows stamped later than ``not_after`` (``--now`` plus a small clock skew) are reported as
invalid and left out: one record from the far future must not hold a window's end forever.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from mlops_gitops.monitor.metrics import class_name

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
EARLIEST, LATEST = -62135596800.0, 253402300799.0
"""Seconds since the epoch of 0001-01-01 and 9999-12-31T23:59:59 UTC: representable times."""
HUGE = float(2**63)
"""An integer beyond this fits no numeric column (JSON allows 10**400)."""
FUTURE_SKEW_SECONDS = 300.0
"""Records may be stamped this far past --now (clocks of serving hosts drift); later is invalid."""
MAX_EXAMPLES = 5

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


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

    def merge(self, other: Malformed) -> None:
        self.count += other.count
        room = MAX_EXAMPLES - len(self.examples)
        self.examples.extend(other.examples[: max(room, 0)])


class NeedsRecordParser(Exception):
    """A block the columnar reader cannot judge row by row: parse it line by line instead."""


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


def seconds(column: pa.Array) -> FloatArray:
    """Seconds since the epoch per row; NaN where missing or not a time."""
    kind = column.type
    if pa.types.is_dictionary(kind):
        column = column.dictionary_decode()
        kind = column.type
    if pa.types.is_date(kind):
        column = column.cast(pa.timestamp("s"))
        kind = column.type
    if pa.types.is_timestamp(kind):
        scale = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}[kind.unit]
        ticks = column.cast(pa.int64()).to_numpy(zero_copy_only=False)
        out = np.asarray(ticks, dtype=np.float64) / scale
        out[~_valid(column)] = np.nan
        return _in_range(out)
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        numbers = column.cast(pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64)
        with np.errstate(invalid="ignore"):
            numbers = np.where(numbers > 1e11, numbers / 1000.0, numbers)
        return _in_range(numbers)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        try:
            stamps = pc.cast(column, pa.timestamp("us", tz="UTC"))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return np.array(
                [math.nan if (t := parse_time(v)) is None else t for v in column.to_pylist()],
                dtype=np.float64,
            )
        return seconds(stamps)
    return np.full(len(column), np.nan)


def _in_range(values: FloatArray) -> FloatArray:
    with np.errstate(invalid="ignore"):
        values[~((values >= EARLIEST) & (values <= LATEST))] = np.nan
    return values


def _text(kind: pa.DataType) -> bool:
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))


def _numeric(kind: pa.DataType) -> bool:
    return bool(pa.types.is_integer(kind) or pa.types.is_floating(kind))


def _primitive(kind: pa.DataType) -> bool:
    return bool(
        _numeric(kind) or _text(kind) or pa.types.is_boolean(kind) or pa.types.is_null(kind)
    )


def _valid(column: pa.Array) -> BoolArray:
    return np.asarray(column.is_valid().to_numpy(zero_copy_only=False), dtype=bool)


def _floats(column: pa.Array) -> FloatArray:
    if pa.types.is_null(column.type):
        return np.full(len(column), np.nan)
    return np.asarray(column.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)


def _lenient_floats(column: pa.Array) -> FloatArray:
    """Numbers of a column of any type; NaN for what is not one (Parquet's old coercion)."""
    if _numeric(column.type) or pa.types.is_null(column.type):
        return _floats(column)
    out = []
    for value in column.to_pylist():
        try:
            out.append(
                float(value) if value is not None and not isinstance(value, bool) else math.nan
            )
        except (TypeError, ValueError):
            out.append(math.nan)
    return np.array(out, dtype=np.float64)


def _text_column(column: pa.Array) -> pa.Array:
    """Text of ids and versions: numbers as Python prints them, objects as JSON."""
    if _text(column.type):
        return column
    if pa.types.is_integer(column.type):
        return column.cast(pa.string())
    values = column.to_pylist()
    return pa.array(
        [
            None
            if v is None
            else json.dumps(v)  # noqa: TID251 (a value shown as text, not a file we write)
            if isinstance(v, dict | list)
            else str(v)
            for v in values
        ],
        pa.string(),
    )


def _json_huge(table: pa.Table, features: pa.StructArray | None) -> bool:
    """A number beyond 2**63 among the checked fields: JSON's reader turned an integer into a
    float, so only the line parser can tell an integer from a float literal."""
    columns = [
        table.column(n)
        for n in ("latency_ms", "score", "prediction", "label")
        if n in table.column_names
    ]
    if features is not None:
        columns += [features.field(i) for i in range(features.type.num_fields)]
    for column in columns:
        if pa.types.is_floating(column.type) and len(column):
            span = pc.min_max(column)  # one pass, no array of absolute values
            low, high = span["min"].as_py(), span["max"].as_py()
            if high is not None and max(high, -low) > HUGE:
                return True
    return False


def _combined(column: Any) -> pa.Array:
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def normalise(
    table: pa.Table,
    *,
    rel: str,
    bad: Malformed,
    lines: Callable[[npt.NDArray[np.int64]], npt.NDArray[np.int64]],
    not_after: float,
    nested: bool,
    strict: bool,
) -> pa.RecordBatch | None:
    """Check every row, report the bad ones, and return the good ones in the normal shape.

    ``nested``: features come as one ``features`` object (JSON) rather than ``feature.<name>``
    columns. ``strict``: types are checked as in JSON (a text latency is malformed) rather than
    coerced (Parquet). ``lines`` maps row numbers to the line (or row) numbers to report.
    Raises :class:`NeedsRecordParser` for a JSON block whose rows cannot be judged by column.
    """
    rows = table.num_rows
    if rows == 0:
        return None
    columns = {name: _combined(table.column(name)) for name in table.column_names}
    reasons = [""]  # the first reason a row fails, by number: 0 is none
    reason = np.zeros(rows, dtype=np.uint16)

    def fail(mask: BoolArray, why: str) -> None:
        if why not in reasons:
            reasons.append(why)
        reason[mask & (reason == 0)] = reasons.index(why)

    features = columns.get("features") if nested else None
    if nested and features is not None and not pa.types.is_struct(features.type):
        raise NeedsRecordParser
    if features is not None and not all(_primitive(f.type) for f in features.type):
        raise NeedsRecordParser
    if nested and _json_huge(table, features):
        raise NeedsRecordParser
    stamps = seconds(columns["timestamp"]) if "timestamp" in columns else np.full(rows, np.nan)
    fail(np.isnan(stamps), "timestamp missing or not a time")
    version = columns.get("model_version")
    if version is None or (strict and not _text(version.type)):
        fail(np.ones(rows, dtype=bool), "model_version missing or not a string")
    else:
        version = _text_column(version)
        empty = np.asarray(pc.fill_null(pc.equal(version.cast(pa.string()), ""), True), dtype=bool)
        fail(empty, "model_version missing or not a string")
    if nested:
        present = _valid(features) if features is not None else np.zeros(rows, dtype=bool)
        fail(~present, "features missing or not an object")
    out = _service_columns(columns, rows, strict, fail)
    with np.errstate(invalid="ignore"):
        fail(stamps > not_after, "timestamp later than --now plus the allowed clock skew")
    bad_rows = np.flatnonzero(reason)
    if bad_rows.size:
        for row, line in zip(bad_rows.tolist(), lines(bad_rows).tolist(), strict=True):
            bad.add(rel, int(line), reasons[reason[row]])
    keep = reason == 0
    if not keep.any():
        return None
    out["timestamp"] = pa.array(stamps)
    out["model_version"] = version if version is not None else pa.nulls(rows, pa.string())
    return _assemble(out, columns, features, nested, keep)


def _service_columns(
    columns: dict[str, pa.Array], rows: int, strict: bool, fail: Callable[[BoolArray, str], None]
) -> dict[str, pa.Array]:
    """latency_ms and score as float64, error as a flag; wrong types fail the row (strict)."""
    out: dict[str, pa.Array] = {}
    for name in ("latency_ms", "score"):
        column = columns.get(name)
        if column is None:
            out[name] = pa.nulls(rows, pa.float64())
            continue
        if strict and not (_numeric(column.type) or pa.types.is_null(column.type)):
            fail(_valid(column), f"{name} is not a number")
            out[name] = pa.nulls(rows, pa.float64())
            continue
        values = _floats(column) if strict else _lenient_floats(column)
        if strict:
            fail(_valid(column) & ~np.isfinite(values), f"{name} is not finite")
        out[name] = pa.array(values, pa.float64(), from_pandas=True)
    error = columns.get("error")
    if error is None:
        out["error"] = pa.array(np.zeros(rows, dtype=bool))
    else:
        if strict and not (_text(error.type) or pa.types.is_null(error.type)):
            fail(_valid(error), "error must be null or a message")
        out["error"] = pa.array(_valid(error))
    return out


def _assemble(
    out: dict[str, pa.Array],
    columns: dict[str, pa.Array],
    features: pa.StructArray | None,
    nested: bool,
    keep: BoolArray,
) -> pa.RecordBatch:
    """The normal shape: core fields, then feature columns in name order; the good rows."""
    rows = len(keep)
    for name in ("request_id", "prediction", "label"):
        column = columns.get(name)
        if column is None or pa.types.is_null(column.type):
            out[name] = pa.nulls(rows, pa.string())
        elif name == "request_id":
            out[name] = _text_column(column)
        else:
            out[name] = column
    if features is not None:
        for index, child in enumerate(features.type):
            out[FEATURE_PREFIX + child.name] = features.field(index)
    elif not nested:
        for name, column in columns.items():
            if name.startswith(FEATURE_PREFIX) and _primitive(column.type):
                out[name] = column
    names = [*CORE_FIELDS, *sorted(n for n in out if n.startswith(FEATURE_PREFIX))]
    batch = pa.RecordBatch.from_arrays([out[n] for n in names], names=names)
    return batch if keep.all() else batch.filter(pa.array(keep))


def records_table(records: Iterable[dict[str, Any]]) -> pa.Table:
    """Checked records (see :func:`check_record`) as a flat table for :func:`normalise`."""
    columns: dict[str, list[Any]] = {name: [] for name in CORE_FIELDS}
    rows = 0
    for rows, record in enumerate(records, 1):
        for name in CORE_FIELDS:
            columns[name].append(record.get(name))
        for name, value in record["features"].items():
            column = columns.get(FEATURE_PREFIX + name)
            if column is None:
                column = columns[FEATURE_PREFIX + name] = [None] * (rows - 1)
            column.append(value)
        for column in columns.values():
            if len(column) < rows:
                column.append(None)
    arrays = {}
    for name, values in columns.items():
        if name == "timestamp":  # checked already: seconds, kept to the microsecond
            micro = np.round(np.asarray(values, dtype=np.float64) * 1e6).astype(np.int64)
            arrays[name] = pa.array(micro, pa.timestamp("us", tz="UTC"))
        elif name in ("latency_ms", "score"):
            arrays[name] = pa.array(values, pa.float64())
        elif name == "error":
            arrays[name] = pa.array(values, pa.string())
        else:
            arrays[name] = _mixed(values, name)
    return pa.table(arrays)


def _mixed(values: list[Any], name: str) -> pa.Array:
    """A column of Python values; mixed kinds (numbers and text) become text."""
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        pass
    if name in ("prediction", "label"):
        return pa.array([None if v is None else class_name(v) for v in values], pa.string())
    return pa.array([None if v is None else str(v) for v in values], pa.string())


def _huge(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**63


def check_record(record: Any) -> tuple[dict[str, Any] | None, str]:
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
