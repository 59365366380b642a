"""Reference profiles: what drift is measured against, built once per reference file.

A model version's ``reference_data`` is read once and reduced to a :class:`ReferenceProfile`:
per feature, the reference-decile bin edges and the reference share per bin (for PSI and
Jensen-Shannon), category counts (for chi-square and Jensen-Shannon), mean and standard deviation,
and a bounded sample of the values (for KS and Wasserstein). The profile is stored by the content
hash of the reference file and reused by every monitoring run, so monitoring never re-reads a large
reference file.

Conventions, relied on by :mod:`mlops_gitops.monitor.drift`:

* Missing values (``None``, ``NaN``, ``pd.NA``) are not profiled; they are counted in ``missing``.
  For numeric features, infinities are counted as missing too.
* Numeric bins: ``edges`` are the distinct interior edges at the reference deciles
  (``numpy.quantile`` at 0.1 ... 0.9, linear interpolation); ties collapse duplicate edges, so
  there may be fewer than nine. The outer bins are open-ended. A value ``x`` belongs to bin
  ``i`` when ``edges[i-1] <= x < edges[i]``, i.e. ``numpy.searchsorted(edges, x, side="right")``.
* Categorical values are compared as strings (``str(value)``), so ``True`` is ``"True"``.
* The sample is sorted. When a feature has at most :data:`SAMPLE_SIZE` values the sample is all of
  them (``exact`` is True and exact-mode statistics equal scipy's on the whole reference);
  otherwise it is a uniform subsample without replacement drawn with a seed derived from the
  reference hash and the feature name, so the same reference always gives the same sample.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np
import numpy.typing as npt

from mlops_gitops.monitor.outputs import OUTPUT_NAMES, Calibration, calibrate

if TYPE_CHECKING:  # pandas is loaded only to build a profile or to read raw values
    import pandas as pd

PROFILE_FORMAT_VERSION = "2"  # 2: the outputs and the calibration
SAMPLE_SIZE = 10_000  # bounded reference sample kept for exact tests
DECILES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)

FloatArray = npt.NDArray[np.float64]
Kind = Literal["numeric", "categorical"]


@dataclass(frozen=True)
class FeatureProfile:
    """One feature of the reference data (see the module docstring for the conventions)."""

    name: str
    kind: Kind
    count: int  # non-missing reference values
    missing: int
    edges: list[float]  # numeric: interior bin edges from reference deciles
    shares: list[float]  # numeric: reference share per bin (len(edges) + 1)
    mean: float | None
    std: float | None  # population standard deviation (ddof=0)
    sample: list[float] | list[str]  # sorted; all values when exact
    categories: dict[str, int]  # categorical: counts per category, sorted by category
    exact: bool  # True when the sample is the whole reference
    low: float | None = None  # numeric, subsampled: the smallest and largest reference value
    high: float | None = None  # (an exact sample holds them itself)

    def value_range(self) -> tuple[float, float] | None:
        """The smallest and largest reference value of a numeric feature."""
        if self.kind != "numeric" or not self.sample:
            return None
        if self.low is not None and self.high is not None:
            return self.low, self.high
        return float(self.sample[0]), float(self.sample[-1])

    def sample_array(self) -> FloatArray:
        """The numeric sample as a sorted float64 array."""
        return np.asarray(self.sample, dtype=np.float64)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "count": self.count,
            "missing": self.missing,
            "edges": list(self.edges),
            "shares": list(self.shares),
            "mean": self.mean,
            "std": self.std,
            "sample": list(self.sample),
            "categories": dict(self.categories),
            "exact": self.exact,
            **({"low": self.low, "high": self.high} if self.low is not None else {}),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FeatureProfile:
        kind = data["kind"]
        if kind not in ("numeric", "categorical"):
            raise ValueError(f"feature {data.get('name')!r}: unknown kind {kind!r}")
        sample: list[float] | list[str]
        if kind == "numeric":
            sample = [float(v) for v in data["sample"]]
        else:
            sample = [str(v) for v in data["sample"]]
        return cls(
            name=str(data["name"]),
            kind=kind,
            count=int(data["count"]),
            missing=int(data["missing"]),
            edges=[float(v) for v in data["edges"]],
            shares=[float(v) for v in data["shares"]],
            mean=None if data["mean"] is None else float(data["mean"]),
            std=None if data["std"] is None else float(data["std"]),
            sample=sample,
            categories={str(k): int(v) for k, v in data["categories"].items()},
            exact=bool(data["exact"]),
            low=None if data.get("low") is None else float(data["low"]),
            high=None if data.get("high") is None else float(data["high"]),
        )


@dataclass(frozen=True)
class ReferenceProfile:
    """The profile of one reference file, keyed by the SHA-256 of its bytes."""

    sha256: str  # of the reference file's bytes
    rows: int
    features: dict[str, FeatureProfile]
    # Columns that were neither numeric nor categorical (datetimes, ...): name -> dtype.
    skipped: dict[str, str] = field(default_factory=dict)
    # The model's outputs and the labels (see :mod:`.outputs`), by their `@` names.
    outputs: dict[str, FeatureProfile] = field(default_factory=dict)
    calibration: Calibration | None = None

    def to_json(self) -> dict[str, Any]:
        """A deterministic, JSON-safe dict; floats survive ``json.dumps``/``loads`` exactly."""
        return {
            "format_version": PROFILE_FORMAT_VERSION,
            "sha256": self.sha256,
            "rows": self.rows,
            "features": {name: f.to_json() for name, f in self.features.items()},
            "skipped": dict(self.skipped),
            "outputs": {name: f.to_json() for name, f in self.outputs.items()},
            "calibration": self.calibration.to_json() if self.calibration else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReferenceProfile:
        version = data.get("format_version")
        if version != PROFILE_FORMAT_VERSION:
            raise ValueError(
                f"reference profile format {version!r} is not {PROFILE_FORMAT_VERSION!r}"
            )
        return cls(
            sha256=str(data["sha256"]),
            rows=int(data["rows"]),
            features={
                str(name): FeatureProfile.from_json(f) for name, f in data["features"].items()
            },
            skipped={str(k): str(v) for k, v in data.get("skipped", {}).items()},
            outputs={
                str(name): FeatureProfile.from_json(f)
                for name, f in (data.get("outputs") or {}).items()
            },
            calibration=Calibration.from_json(data["calibration"])
            if data.get("calibration")
            else None,
        )


def build_profile(
    frame: pd.DataFrame, sha256: str, exclude: Collection[str] = tuple(OUTPUT_NAMES)
) -> ReferenceProfile:
    """Profile every column of ``frame`` except ``exclude``.

    Numeric (integer or float) columns become numeric features; object, string, category and
    boolean columns become categorical features; other dtypes (datetimes, complex, ...) are listed
    in ``skipped``. The excluded `target`, `prediction` and `score` are profiled as outputs.
    """
    import pandas as pd

    features: dict[str, FeatureProfile] = {}
    skipped: dict[str, str] = {}
    excluded = set(exclude)
    for column in frame.columns:
        name = str(column)
        if name in excluded or column in excluded:
            continue
        series = frame[column]
        kind = column_kind(series)
        if name.startswith("@"):  # reserved for the model's outputs (see .outputs)
            skipped[name] = "reserved name"
        elif kind is None:
            skipped[name] = str(series.dtype)
        elif kind == "numeric":
            features[name] = _numeric_profile(name, series, sha256)
        else:
            features[name] = _categorical_profile(name, series, sha256)
    outputs: dict[str, FeatureProfile] = {}
    for column, name in OUTPUT_NAMES.items():
        if column not in frame.columns or column not in excluded:
            continue
        series = frame[column]
        if column == "score" or pd.api.types.is_float_dtype(series.dtype):
            outputs[name] = _numeric_profile(name, series, sha256)
        else:
            outputs[name] = _categorical_profile(name, series, sha256)
    calibration = calibrate(frame) if "prediction" in frame.columns else None
    return ReferenceProfile(
        sha256=sha256,
        rows=len(frame),
        features=features,
        skipped=skipped,
        outputs=outputs,
        calibration=calibration,
    )


def column_kind(series: pd.Series) -> Kind | None:
    """``numeric``, ``categorical`` or None (not profiled) for a column's dtype."""
    import pandas as pd

    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "categorical"
    if pd.api.types.is_integer_dtype(dtype) or pd.api.types.is_float_dtype(dtype):
        return "numeric"
    if (
        pd.api.types.is_object_dtype(dtype)
        or pd.api.types.is_string_dtype(dtype)
        or isinstance(dtype, pd.CategoricalDtype)
    ):
        return "categorical"
    return None


def sample_seed(sha256: str, name: str) -> int:
    """The subsample seed of one feature: derived from the reference hash and the name."""
    digest = hashlib.sha256(f"{sha256}\0{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def numeric_values(values: Any) -> tuple[FloatArray, int, int]:
    """Finite float64 values of a 1-D array-like, the missing count and the invalid count.

    Missing: None, NaN, pd.NA and infinities. Invalid: values that are not numbers (``"abc"``).
    """
    import pandas as pd

    if isinstance(values, pd.Series):
        try:
            arr = values.to_numpy(dtype=np.float64, na_value=np.nan)
            invalid = 0
        except (TypeError, ValueError):
            arr, invalid = _coerce(values)
    else:
        raw = np.asarray(values)
        if raw.dtype.kind in "fiub":
            arr = raw.astype(np.float64, copy=False).ravel()
            invalid = 0
        else:
            try:
                arr = raw.astype(np.float64).ravel()
                invalid = 0
            except (TypeError, ValueError):
                arr, invalid = _coerce(pd.Series(raw.ravel(), dtype=object))
    finite = np.isfinite(arr)
    kept = int(np.count_nonzero(finite))
    if kept == arr.size:
        return arr, 0, 0
    return arr[finite], int(arr.size - kept - invalid), invalid


def _coerce(series: pd.Series) -> tuple[FloatArray, int]:
    import pandas as pd

    missing_before = int(series.isna().sum())
    coerced = pd.to_numeric(series, errors="coerce")
    arr = np.asarray(coerced.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)
    invalid = int(np.count_nonzero(np.isnan(arr))) - missing_before
    return arr, max(invalid, 0)


def category_counts(values: Any) -> tuple[dict[str, int], int]:
    """Counts per category (as strings, sorted by category) and the missing count."""
    import pandas as pd

    series = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values).ravel())
    counts = series.value_counts(dropna=True, sort=False)
    out: dict[str, int] = {}
    total = 0
    for key, n in zip(counts.index.tolist(), counts.to_numpy().tolist(), strict=True):
        if n <= 0:  # unused categories of a category dtype
            continue
        label = str(key)
        out[label] = out.get(label, 0) + int(n)
        total += int(n)
    return dict(sorted(out.items())), len(series) - total


def bin_counts_sorted(sorted_values: FloatArray, edges: FloatArray) -> npt.NDArray[np.int64]:
    """Counts per bin (``edges[i-1] <= x < edges[i]``) of already sorted values."""
    below = np.searchsorted(sorted_values, edges, side="left")
    bounds = np.concatenate(([0], below, [sorted_values.size])).astype(np.int64)
    return cast(npt.NDArray[np.int64], np.diff(bounds))


def bin_counts(values: FloatArray, edges: FloatArray) -> npt.NDArray[np.int64]:
    """Counts per bin (``edges[i-1] <= x < edges[i]``) of unsorted values, without sorting.

    One vectorized comparison per edge: for a handful of edges this is several times faster
    than a binary search per value (``numpy.searchsorted`` over unsorted input).
    """
    below = [np.count_nonzero(values < edge) for edge in edges.tolist()]
    bounds = np.array([0, *below, values.size], dtype=np.int64)
    return cast(npt.NDArray[np.int64], np.diff(bounds))


def _numeric_profile(name: str, series: pd.Series, sha256: str) -> FeatureProfile:
    values, missing, invalid = numeric_values(series)
    missing += invalid
    count = int(values.size)
    if count == 0:
        return FeatureProfile(
            name=name,
            kind="numeric",
            count=0,
            missing=missing,
            edges=[],
            shares=[0.0],
            mean=None,
            std=None,
            sample=[],
            categories={},
            exact=True,
        )
    ordered = np.sort(values)
    edges = np.unique(np.quantile(ordered, DECILES))
    shares = bin_counts_sorted(ordered, edges) / count
    if count <= SAMPLE_SIZE:
        sample = ordered
    else:
        rng = np.random.default_rng(sample_seed(sha256, name))
        sample = np.sort(ordered[rng.choice(count, SAMPLE_SIZE, replace=False)])
    with np.errstate(over="ignore", invalid="ignore"):  # values near the float limit
        mean = float(np.mean(ordered))
        std = float(np.std(ordered))
    return FeatureProfile(
        name=name,
        kind="numeric",
        count=count,
        missing=missing,
        edges=[float(e) for e in edges],
        shares=[float(s) for s in shares],
        mean=mean if math.isfinite(mean) else None,
        std=std if math.isfinite(std) else None,
        sample=[float(v) for v in sample],
        categories={},
        exact=count <= SAMPLE_SIZE,
        low=None if count <= SAMPLE_SIZE else float(ordered[0]),
        high=None if count <= SAMPLE_SIZE else float(ordered[-1]),
    )


def _categorical_profile(name: str, series: pd.Series, sha256: str) -> FeatureProfile:
    categories, missing = category_counts(series)
    present = series[series.notna()]
    count = len(present)
    if count <= SAMPLE_SIZE:
        chosen = present
    else:
        rng = np.random.default_rng(sample_seed(sha256, name))
        chosen = present.iloc[np.sort(rng.choice(count, SAMPLE_SIZE, replace=False))]
    sample = sorted(str(v) for v in chosen.tolist())
    return FeatureProfile(
        name=name,
        kind="categorical",
        count=count,
        missing=missing,
        edges=[],
        shares=[],
        mean=None,
        std=None,
        sample=sample,
        categories=categories,
        exact=count <= SAMPLE_SIZE,
    )
