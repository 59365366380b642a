"""Normalised Arrow batches -> :class:`Rows`: the columns the statistics use, as numpy arrays.

Only what some statistic needs is kept: timestamps, versions, errors, latencies, the labelled
rows' classes (or numbers) and scores, and per feature either its values (numeric, float32 when
that loses nothing), its category codes (categorical) or whether it is present. Rows can be
masked (a records window drops the oldest) and then summarised (:mod:`.summary`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from mlops_gitops.monitor.metrics import class_name
from mlops_gitops.monitor.outputs import Calibration, expected_right
from mlops_gitops.monitor.records import FEATURE_PREFIX

FloatArray = npt.NDArray[np.floating[Any]]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class SummaryPlan:
    """What to summarise: derived once from the reference profiles and the settings."""

    numeric: dict[str, list[tuple[float, ...]]]
    """Numeric features -> the distinct reference bin-edge sets to count on."""
    categorical: frozenset[str]
    quantiles: frozenset[str]
    """Numeric features some comparison needs the distribution of (KS, Wasserstein)."""
    task: str
    labels: dict[str, Any]
    exact_max_records: int
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    calibration: Calibration | None = None
    """Binary classifiers: the stable reference's score calibration (performance estimation)."""
    """Numeric features -> the bounds past which a value counts as out of range."""
    sketch_k: int = 2000
    chart_sample: int = 50_000

    def columns(self) -> set[str]:
        """Top-level log columns to read (features are always read: their presence is reported)."""
        wanted = {"timestamp", "model_version", "prediction", "score", "label", "latency_ms"}
        wanted.add("error")
        if self.labels:
            wanted.add("request_id")
        return wanted


@dataclass
class Labelled:
    """The rows with a label, a prediction and no error: what performance is measured on."""

    rows: IntArray
    truth: npt.NDArray[Any]
    """Classes as text (classification) or float64 (regression; NaN when not a number)."""
    predicted: npt.NDArray[Any]
    score: npt.NDArray[np.float64]

    def take(self, keep: BoolArray, remap: IntArray) -> Labelled:
        chosen = keep[self.rows]
        return Labelled(
            remap[self.rows[chosen]],
            self.truth[chosen],
            self.predicted[chosen],
            self.score[chosen],
        )


@dataclass
class Rows:
    """One batch's records, as the statistics need them."""

    part: int
    row0: int
    timestamp: npt.NDArray[np.float64]
    version: npt.NDArray[np.signedinteger[Any]]
    versions: list[str]
    error: BoolArray
    latency: npt.NDArray[np.float64]
    has_label: BoolArray
    labelled: Labelled
    numeric: dict[str, FloatArray] = field(default_factory=dict)
    invalid: dict[str, BoolArray] = field(default_factory=dict)
    categorical: dict[str, tuple[npt.NDArray[np.signedinteger[Any]], list[str]]] = field(
        default_factory=dict
    )
    present: dict[str, BoolArray | None] = field(default_factory=dict)
    """Every feature column of the batch: whether each row has a value (data quality); None
    when every row has one."""
    order: IntArray | None = None
    """Row numbers within the partition (consecutive from row0 unless masked)."""
    expected: npt.NDArray[np.float64] | None = None
    """Per row, the calibrated chance its prediction is right (NaN when it cannot be told)."""

    @property
    def size(self) -> int:
        return int(self.timestamp.size)

    def row_numbers(self) -> IntArray:
        if self.order is not None:
            return self.order
        return np.arange(self.row0, self.row0 + self.size, dtype=np.int64)

    def mask(self, keep: BoolArray) -> Rows:
        remap = np.cumsum(keep, dtype=np.int64) - 1
        return Rows(
            self.part,
            self.row0,
            self.timestamp[keep],
            self.version[keep],
            self.versions,
            self.error[keep],
            self.latency[keep],
            self.has_label[keep],
            self.labelled.take(keep, remap),
            {k: v[keep] for k, v in self.numeric.items()},
            {k: v[keep] for k, v in self.invalid.items()},
            {k: (codes[keep], names) for k, (codes, names) in self.categorical.items()},
            {k: None if v is None else v[keep] for k, v in self.present.items()},
            self.row_numbers()[keep],
            None if self.expected is None else self.expected[keep],
        )


def _column(batch: pa.RecordBatch, name: str) -> pa.Array:
    return batch.column(batch.schema.get_field_index(name))


def _floats(column: pa.Array) -> npt.NDArray[np.float64]:
    if pa.types.is_null(column.type):
        return np.full(len(column), np.nan)
    return np.asarray(column.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)


def numbers(column: pa.Array) -> tuple[FloatArray, BoolArray | None]:
    """Values of a numeric feature (NaN when missing) and which rows were not numbers.

    Text that reads as a number counts as that number; booleans as 1 and 0. Float32 is kept,
    and float64 is narrowed to float32 when no value changes.
    """
    kind = column.type
    if pa.types.is_dictionary(kind):
        column = column.dictionary_decode()
        kind = column.type
    # Copies, not views of Arrow's buffers: the decoder's memory is then reused batch after
    # batch instead of staying allocated for as long as the window keeps the values.
    if pa.types.is_float32(kind):
        return np.array(column.to_numpy(zero_copy_only=False), dtype=np.float32), None
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind):
        values = _floats(column)
        head = values[:64]  # measured values rarely survive float32: most batches stop here
        if np.array_equal(head.astype(np.float32), head, equal_nan=True):
            narrow = values.astype(np.float32)
            if np.array_equal(narrow, values, equal_nan=True):
                return narrow, None
        return np.array(values, dtype=np.float64), None
    if pa.types.is_null(kind):
        return np.full(len(column), np.nan, dtype=np.float32), None
    out = np.full(len(column), np.nan)
    invalid = np.zeros(len(column), dtype=bool)
    for i, value in enumerate(column.to_pylist()):
        if value is None:
            continue
        try:
            out[i] = float(value)
        except (TypeError, ValueError):
            invalid[i] = True
    return out, invalid if invalid.any() else None


def categories(column: pa.Array) -> tuple[npt.NDArray[np.signedinteger[Any]], list[str]]:
    """Category codes (-1 when missing) and the category names, compared as text."""
    if not pa.types.is_dictionary(column.type):
        if pa.types.is_null(column.type):
            return np.full(len(column), -1, dtype=np.int16), []
        column = pc.dictionary_encode(column)
    indices = column.indices.fill_null(-1)
    narrow = np.int16 if len(column.dictionary) < 2**15 else np.int32
    codes: npt.NDArray[np.signedinteger[Any]] = np.asarray(
        indices.to_numpy(zero_copy_only=False)
    ).astype(narrow)
    values = column.dictionary
    kind = values.type
    if pa.types.is_boolean(kind):
        names = [str(v) for v in values.to_pylist()]
    elif pa.types.is_floating(kind):
        raw = np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float64)
        names = raw.astype(str).tolist()
        nan = np.flatnonzero(np.isnan(raw))
        if nan.size:  # NaN is a missing value, not a category
            codes[np.isin(codes, nan)] = -1
    else:
        names = [str(v) for v in values.to_pylist()]
    return codes, names


def _present(column: pa.Array, values: FloatArray | None = None) -> BoolArray | None:
    """`values`: the column's numbers when already taken out (NaN where missing)."""
    if pa.types.is_floating(column.type):
        if values is not None:
            gaps = np.isnan(values)
            return ~gaps if gaps.any() else None
        missing = pc.is_nan(column).fill_null(True)
    elif column.null_count == 0:
        return None
    else:
        missing = column.is_null()
    if not pc.any(missing).as_py():
        return None
    return ~np.asarray(missing.to_numpy(zero_copy_only=False), dtype=bool)


def _classes(column: pa.Array) -> npt.NDArray[Any]:
    kind = column.type
    if pa.types.is_integer(kind) or _is_text(kind):
        return np.asarray(column.cast(pa.string()).to_pylist(), dtype=object)
    return np.asarray(
        [None if v is None else class_name(v) for v in column.to_pylist()], dtype=object
    )


def _is_text(kind: pa.DataType) -> bool:
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))


def _regression_values(column: pa.Array) -> npt.NDArray[np.float64]:
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
        return _floats(column)
    out = []
    for value in column.to_pylist():
        try:
            number = float(value) if not isinstance(value, bool) and value is not None else math.nan
        except (TypeError, ValueError):
            number = math.nan
        out.append(number if math.isfinite(number) else math.nan)
    return np.array(out, dtype=np.float64)


def _labelled(
    batch: pa.RecordBatch, plan: SummaryPlan, error: BoolArray
) -> tuple[BoolArray, Labelled, pa.Array]:
    label = _column(batch, "label")
    if plan.labels:
        logged = label.to_pylist() if not pa.types.is_null(label.type) else [None] * batch.num_rows
        ids = _column(batch, "request_id").to_pylist()
        joined = [
            v if v is not None else plan.labels.get(r) if r is not None else None
            for v, r in zip(logged, ids, strict=True)
        ]
        try:
            label = pa.array(joined)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            label = pa.array([None if v is None else class_name(v) for v in joined], pa.string())
    has_label = np.asarray(label.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    prediction = _column(batch, "prediction")
    has_prediction = np.asarray(prediction.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    rows = np.flatnonzero(has_label & has_prediction & ~error)
    chosen = pa.array(rows)
    score = _floats(_column(batch, "score").take(chosen))
    truth_col, predicted_col = label.take(chosen), prediction.take(chosen)
    if plan.task == "classification":
        truth, predicted = _classes(truth_col), _classes(predicted_col)
    else:
        truth, predicted = _regression_values(truth_col), _regression_values(predicted_col)
    return has_label, Labelled(rows.astype(np.int64), truth, predicted, score), label


def prepare(batch: pa.RecordBatch, plan: SummaryPlan, part: int, row0: int) -> Rows:
    """The statistics' view of one normalised batch (see :mod:`.records`)."""
    codes, versions = categories(_column(batch, "model_version"))
    error = np.asarray(_column(batch, "error").to_numpy(zero_copy_only=False), dtype=bool)
    has_label, labelled, label = _labelled(batch, plan, error)
    rows = Rows(
        part,
        row0,
        np.asarray(_column(batch, "timestamp").to_numpy(zero_copy_only=False), dtype=np.float64),
        codes,
        versions,
        error,
        _floats(_column(batch, "latency_ms")),
        has_label,
        labelled,
    )
    for name in batch.schema.names:
        if not name.startswith(FEATURE_PREFIX):
            continue
        feature = name[len(FEATURE_PREFIX) :]
        if feature.startswith("@"):  # reserved for the model's outputs: never a feature
            continue
        column = _column(batch, name)
        values = None
        if feature in plan.numeric:
            values, invalid = numbers(column)
            rows.numeric[feature] = values
            if invalid is not None:
                rows.invalid[feature] = invalid
        if feature in plan.categorical:
            rows.categorical[feature] = categories(column)
        rows.present[feature] = _present(column, values)
    _outputs(rows, batch, plan, label)
    return rows


def _flat(column: pa.Array) -> pa.Array:
    """Nested values (a label that is an object or a list) as their class names."""
    kind = column.type.value_type if pa.types.is_dictionary(column.type) else column.type
    if pa.types.is_nested(kind):
        names = [None if v is None else class_name(v) for v in column.to_pylist()]
        return pa.array(names, pa.string())
    return column


def _outputs(rows: Rows, batch: pa.RecordBatch, plan: SummaryPlan, label: pa.Array) -> None:
    """The outputs as `@` features (see :mod:`.outputs`): predictions and scores of the
    requests that did not fail, and every label."""
    failed = pa.array(rows.error)
    for name, column in (
        ("@prediction", _column(batch, "prediction")),
        ("@score", _column(batch, "score")),
        ("@target", label),
    ):
        if name not in plan.numeric and name not in plan.categorical:
            continue
        if name != "@target" and not pa.types.is_null(column.type):
            column = pc.if_else(failed, pa.scalar(None, column.type), column)
        if name in plan.numeric:
            values, _ = numbers(column)
            rows.numeric[name] = values
        else:
            rows.categorical[name] = categories(_flat(column))
        rows.present[name] = _present(column)
    if plan.calibration is not None:
        prediction = _column(batch, "prediction")
        predicted = np.asarray(
            [None if v is None else class_name(v) for v in prediction.to_pylist()], dtype=object
        )
        score = np.array(_floats(_column(batch, "score")))  # a copy: Arrow's memory is read-only
        score[rows.error | (predicted == None)] = np.nan  # noqa: E711 (elementwise)
        positive = predicted == plan.calibration.positive
        rows.expected = expected_right(plan.calibration, score, positive)
