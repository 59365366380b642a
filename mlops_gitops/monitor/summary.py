"""Mergeable summaries of a window: what every statistic of a report is computed from.

A summary of some records merges with a summary of other records into the summary of both, in
any order: batches of one file, files, and machines (the Dask engine) each summarise their part
and the parts are merged. Per model version:

* counts: records, errors, labelled records, first and last timestamp;
* per numeric feature: finite, non-finite, invalid (text) and out-of-range counts, the sum,
  the counts on each reference's bins (exact, so PSI and Jensen-Shannon are exact), and
  :class:`Quantiles`;
* per categorical feature: counts per category (exact, so chi-square and Jensen-Shannon are);
* per feature, how many records have a value (data quality);
* latency :class:`Quantiles`; performance as a confusion matrix and per-class score
  :class:`Quantiles` (classification) or error sums and label moments (regression);
* a bounded sample of (time, latency) for the service charts (bottom-k by a hash of the record's
  place, so merging samples gives the sample of the union).

:class:`Quantiles` keep the values themselves while there are at most ``exact_max_records`` of
them, so KS, Wasserstein, latency percentiles and ROC-AUC equal the exact computation; beyond
that they become an Apache DataSketches KLL sketch with a known rank error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from mlops_gitops.monitor import spill
from mlops_gitops.monitor.outputs import Expected
from mlops_gitops.monitor.prepare import Rows, SummaryPlan

FloatArray = npt.NDArray[np.float64]


def _kll(k: int) -> Any:
    from datasketches import kll_doubles_sketch

    return kll_doubles_sketch(k)


@dataclass
class Quantiles:
    """Values while at most ``limit`` of them, else a KLL sketch of them. The values may be
    spilled to a temporary file (see :mod:`.spill`): parts are arrays or spilled parts."""

    count: int = 0
    values: list[Any] = field(default_factory=list)
    sketch: Any = None

    @property
    def exact(self) -> bool:
        return self.sketch is None

    def add(self, values: Any, limit: int, k: int) -> None:
        if not values.size:
            return
        self.count += int(values.size)
        if self.sketch is None:
            self.values.append(spill.keep(values) if isinstance(values, np.ndarray) else values)
            if self.count > limit:
                self._to_sketch(k)
        else:
            self.sketch.update(spill.load(values).astype(np.float64, copy=False))

    def _to_sketch(self, k: int) -> None:
        sketch = _kll(k)
        for part in self.values:
            sketch.update(spill.load(part).astype(np.float64, copy=False))
        self.values, self.sketch = [], sketch

    def merge(self, other: Quantiles, limit: int, k: int) -> None:
        if other.sketch is None:
            for part in other.values:
                self.add(part, limit, k)
            return
        if self.sketch is None:
            self._to_sketch(other.sketch.k)
        self.sketch.merge(other.sketch)
        self.count += other.count

    def array(self) -> FloatArray:
        """All values (exact mode), float64."""
        if not self.values:
            return np.empty(0)
        whole = spill.load(self.values[0]) if len(self.values) == 1 else spill.join(self.values)
        return whole.astype(np.float64, copy=False)

    def sorted_array(self) -> FloatArray:
        """All values in order (exact mode), float64; sorted as float32 when they all are.
        Sorted in a copy of its own (parts in memory may be shared with another summary)."""
        if not self.values:
            return np.empty(0)
        joined = spill.join(self.values)
        joined.sort()
        return joined.astype(np.float64, copy=False)

    def sorted_view(self) -> tuple[FloatArray, FloatArray]:
        """Sketch items in order and their weights (sketch mode)."""
        pairs = list(self.sketch)
        items = np.fromiter((p[0] for p in pairs), dtype=np.float64, count=len(pairs))
        weights = np.fromiter((p[1] for p in pairs), dtype=np.float64, count=len(pairs))
        order = np.argsort(items, kind="stable")
        return items[order], weights[order]

    def rank_error(self) -> float:
        return float(self.sketch.normalized_rank_error(False)) if self.sketch is not None else 0.0

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["values"] = [spill.load(v) for v in self.values]  # to another machine: the data
        if self.sketch is not None:
            state["sketch"] = self.sketch.serialize()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        if state.get("sketch") is not None:
            from datasketches import kll_doubles_sketch

            state["sketch"] = kll_doubles_sketch.deserialize(state["sketch"])
        self.__dict__.update(state)


def bin_counts(values: npt.NDArray[Any], edges: tuple[float, ...]) -> npt.NDArray[np.int64]:
    """Counts per reference bin (``edges[i-1] <= x < edges[i]``) of float32 or float64 values.

    Float32 values are compared with the smallest float32 at or above each edge, which gives
    the same answer as comparing the exact values with the float64 edge.
    """
    below = []
    for edge in edges:
        bound: Any = edge
        if values.dtype == np.float32:
            bound = np.float32(edge)
            if float(bound) < edge:
                bound = np.nextafter(bound, np.float32(np.inf))
        below.append(int(np.count_nonzero(values < bound)))
    bounds = np.array([0, *below, values.size], dtype=np.int64)
    return bounds[1:] - bounds[:-1]


@dataclass
class NumericSummary:
    count: int = 0
    nonfinite: int = 0
    invalid: int = 0
    """Values that are not numbers (text): type violations, not missing values."""
    outside: int = 0
    """Finite values past the reference range by more than the tolerance."""
    total: float = 0.0
    hist: dict[tuple[float, ...], npt.NDArray[np.int64]] = field(default_factory=dict)
    """Counts per reference bin, by the reference's bin edges."""
    quantiles: Quantiles = field(default_factory=Quantiles)

    def merge(self, other: NumericSummary, limit: int, k: int) -> None:
        self.count += other.count
        self.nonfinite += other.nonfinite
        self.invalid += other.invalid
        self.outside += other.outside
        self.total += other.total
        for edges, counts in other.hist.items():
            mine = self.hist.get(edges)
            self.hist[edges] = counts.copy() if mine is None else mine + counts
        self.quantiles.merge(other.quantiles, limit, k)


@dataclass
class FeatureSummary:
    present: int = 0
    """Records where the feature has a value (data quality)."""
    numeric: NumericSummary | None = None
    categories: dict[str, int] | None = None

    def merge(self, other: FeatureSummary, limit: int, k: int) -> None:
        self.present += other.present
        if other.numeric is not None:
            if self.numeric is None:
                self.numeric = NumericSummary()
            self.numeric.merge(other.numeric, limit, k)
        if other.categories is not None:
            mine = self.categories if self.categories is not None else {}
            for name, n in other.categories.items():
                mine[name] = mine.get(name, 0) + n
            self.categories = mine


@dataclass
class Performance:
    labelled: int = 0
    confusion: dict[tuple[str, str], int] = field(default_factory=dict)
    scores: dict[str, Quantiles] = field(default_factory=dict)
    """Classification: non-missing scores per true class (ROC-AUC)."""
    errors_abs: float = 0.0
    errors_sq: float = 0.0
    truth_mean: float = 0.0
    truth_m2: float = 0.0
    """Regression: sums of absolute and squared errors; mean and squared deviations of labels."""
    abs_errors: Quantiles = field(default_factory=Quantiles)
    """Regression: each record's absolute error (the canary comparison ranks them)."""

    def merge(self, other: Performance, limit: int, k: int) -> None:
        n, m = self.labelled, other.labelled
        if m and n:
            delta = other.truth_mean - self.truth_mean
            self.truth_mean += delta * m / (n + m)
            self.truth_m2 += other.truth_m2 + delta * delta * n * m / (n + m)
        elif m:
            self.truth_mean, self.truth_m2 = other.truth_mean, other.truth_m2
        self.labelled = n + m
        self.errors_abs += other.errors_abs
        self.errors_sq += other.errors_sq
        self.abs_errors.merge(other.abs_errors, limit, k)
        for key, count in other.confusion.items():
            self.confusion[key] = self.confusion.get(key, 0) + count
        for name, scores in other.scores.items():
            self.scores.setdefault(name, Quantiles()).merge(scores, limit, k)


def _mix(keys: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """splitmix64: a well-spread hash of a record's place, the key of the chart sample."""
    with np.errstate(over="ignore"):
        z = keys + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


@dataclass
class ChartSample:
    key: npt.NDArray[np.uint64] = field(default_factory=lambda: np.empty(0, np.uint64))
    timestamp: FloatArray = field(default_factory=lambda: np.empty(0))
    latency: FloatArray = field(default_factory=lambda: np.empty(0))

    def merge(self, other: ChartSample, size: int) -> None:
        key = np.concatenate([self.key, other.key])
        timestamp = np.concatenate([self.timestamp, other.timestamp])
        latency = np.concatenate([self.latency, other.latency])
        if key.size > size:
            keep = np.argpartition(key, size - 1)[:size]
            key, timestamp, latency = key[keep], timestamp[keep], latency[keep]
        self.key, self.timestamp, self.latency = key, timestamp, latency


@dataclass
class VersionSummary:
    records: int = 0
    errors: int = 0
    labelled: int = 0
    start: float = math.inf
    end: float = -math.inf
    latency: Quantiles = field(default_factory=Quantiles)
    performance: Performance = field(default_factory=Performance)
    features: dict[str, FeatureSummary] = field(default_factory=dict)
    """The features, and the model's outputs under `@` names (see :mod:`.outputs`)."""
    sample: ChartSample = field(default_factory=ChartSample)
    expected: Expected = field(default_factory=Expected)

    def merge(self, other: VersionSummary, plan: SummaryPlan) -> None:
        limit, k = plan.exact_max_records, plan.sketch_k
        self.records += other.records
        self.errors += other.errors
        self.labelled += other.labelled
        self.start = min(self.start, other.start)
        self.end = max(self.end, other.end)
        self.latency.merge(other.latency, limit, k)
        self.performance.merge(other.performance, limit, k)
        for name, feature in other.features.items():
            self.features.setdefault(name, FeatureSummary()).merge(feature, limit, k)
        self.sample.merge(other.sample, plan.chart_sample)
        self.expected.merge(other.expected)


@dataclass
class WindowSummary:
    versions: dict[str, VersionSummary] = field(default_factory=dict)

    @property
    def records(self) -> int:
        return sum(v.records for v in self.versions.values())

    @property
    def labelled(self) -> int:
        return sum(v.labelled for v in self.versions.values())

    def features(self) -> set[str]:
        """The input features seen (not the `@` outputs)."""
        return {name for v in self.versions.values() for name in v.features if name[:1] != "@"}

    def merge(self, other: WindowSummary, plan: SummaryPlan) -> None:
        for name, version in other.versions.items():
            mine = self.versions.get(name)
            if mine is None:
                self.versions[name] = version
            else:
                mine.merge(version, plan)

    def combined(self, plan: SummaryPlan) -> VersionSummary:
        """All versions as one (the window's drift against the stable reference)."""
        import copy

        total = VersionSummary()
        for version in self.versions.values():
            total.merge(copy.deepcopy(version), plan)
        return total


def summarise(rows: Rows, plan: SummaryPlan) -> WindowSummary:
    """The summary of one batch of rows, per model version."""
    out = WindowSummary()
    if not rows.size:
        return out
    keys = (np.uint64(rows.part) << np.uint64(40)) + rows.row_numbers().astype(np.uint64)
    sample_keys = _mix(keys)
    for code in np.unique(rows.version).tolist():
        if code < 0:
            continue
        idx = np.flatnonzero(rows.version == code)
        out.versions[rows.versions[code]] = _version(rows, idx, sample_keys, plan)
    return out


def _version(
    rows: Rows, idx: npt.NDArray[np.int64], sample_keys: npt.NDArray[np.uint64], plan: SummaryPlan
) -> VersionSummary:
    limit, k = plan.exact_max_records, plan.sketch_k
    everything = idx.size == rows.size  # one version: no copies of its columns

    def take(values: npt.NDArray[Any]) -> npt.NDArray[Any]:
        return values if everything else values[idx]

    stamps = take(rows.timestamp)
    latency = take(rows.latency)
    summary = VersionSummary(
        records=int(idx.size),
        errors=int(np.count_nonzero(take(rows.error))),
        labelled=int(np.count_nonzero(take(rows.has_label))),
        start=float(stamps.min()),
        end=float(stamps.max()),
    )
    summary.latency.add(latency[~np.isnan(latency)], limit, k)
    summary.sample.merge(ChartSample(take(sample_keys), stamps, latency), plan.chart_sample)
    summary.performance = _performance(rows, idx, plan)
    if rows.expected is not None:
        right = take(rows.expected)
        right = right[~np.isnan(right)]
        summary.expected = Expected(
            int(right.size), float(right.sum()), float(np.sum(right * (1.0 - right)))
        )
    for name, present in rows.present.items():
        has = int(idx.size) if present is None else int(np.count_nonzero(take(present)))
        feature = FeatureSummary(present=has)
        values = rows.numeric.get(name)
        if values is not None:
            invalid = rows.invalid.get(name)
            feature.numeric = _numeric(
                take(values), None if invalid is None else take(invalid), name, plan
            )
        coded = rows.categorical.get(name)
        if coded is not None:
            codes, names = coded
            chosen = take(codes)
            counts = np.bincount(chosen[chosen >= 0], minlength=len(names))
            table: dict[str, int] = {}
            for label, n in zip(names, counts.tolist(), strict=True):
                if n:
                    table[label] = table.get(label, 0) + n
            feature.categories = table
        summary.features[name] = feature
    return summary


def _numeric(
    values: npt.NDArray[Any], invalid: npt.NDArray[np.bool_] | None, name: str, plan: SummaryPlan
) -> NumericSummary:
    finite = np.isfinite(values)
    data = values if finite.all() else values[finite]
    bad = int(np.count_nonzero(invalid)) if invalid is not None else 0
    nan = int(np.count_nonzero(np.isnan(values)))
    with np.errstate(over="ignore", invalid="ignore"):
        total = float(np.sum(data, dtype=np.float64))
    bounds = plan.ranges.get(name)
    outside = 0
    if bounds is not None:
        outside = int(np.count_nonzero((data < bounds[0]) | (data > bounds[1])))
    out = NumericSummary(
        count=int(data.size),
        outside=outside,
        nonfinite=int(values.size - data.size - nan),
        invalid=bad,
        total=total,
        hist={edges: bin_counts(data, edges) for edges in plan.numeric[name]},
    )
    if name in plan.quantiles:
        out.quantiles.add(data, plan.exact_max_records, plan.sketch_k)
    return out


def _performance(rows: Rows, idx: npt.NDArray[np.int64], plan: SummaryPlan) -> Performance:
    labelled = rows.labelled
    chosen = np.isin(labelled.rows, idx) if labelled.rows.size else np.zeros(0, dtype=bool)
    truth, predicted, score = (
        labelled.truth[chosen],
        labelled.predicted[chosen],
        labelled.score[chosen],
    )
    out = Performance()
    if plan.task == "classification":
        out.labelled = int(truth.size)
        pairs: dict[tuple[str, str], int] = {}
        for pair in zip(truth.tolist(), predicted.tolist(), strict=True):
            pairs[pair] = pairs.get(pair, 0) + 1
        out.confusion = pairs
        valid = ~np.isnan(score)
        for name in sorted(set(truth[valid].tolist())):
            q = Quantiles()
            q.add(score[valid & (truth == name)], plan.exact_max_records, plan.sketch_k)
            out.scores[name] = q
        return out
    true = truth.astype(np.float64)
    pred = predicted.astype(np.float64)
    numeric = np.isfinite(true) & np.isfinite(pred)
    true, pred = true[numeric], pred[numeric]
    out.labelled = int(true.size)
    if true.size:
        errors = pred - true
        out.errors_abs = float(np.sum(np.abs(errors)))
        out.errors_sq = float(np.sum(errors**2))
        out.abs_errors.add(np.abs(errors), plan.exact_max_records, plan.sketch_k)
        out.truth_mean = float(true.mean())
        out.truth_m2 = float(np.sum((true - out.truth_mean) ** 2))
    return out
