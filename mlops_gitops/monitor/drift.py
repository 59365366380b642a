"""Data drift per feature against a reference profile, and dataset drift.

Methods (``statistic`` and what ``threshold`` means):

``ks``
    Two-sample Kolmogorov-Smirnov statistic D and its two-sided p-value, exactly as
    ``scipy.stats.ks_2samp(method="auto")``: the exact distribution when both samples have at most
    10,000 values, Smirnov's asymptotic distribution (``scipy.stats.kstwo``) otherwise. The
    reference side is the profile's sample (the whole reference in exact mode). Threshold: alpha
    for the corrected p-value. Numeric features only.
``chi2``
    Two-sample chi-square test of homogeneity: ``scipy.stats.chi2_contingency`` on the 2 x k table
    [reference counts, current counts] over the union of categories (Yates' continuity correction
    when k = 2, scipy's default). Not a goodness-of-fit test. Threshold: alpha for the corrected
    p-value. Categorical features only.
``psi``
    Population stability index ``sum((q - p) * ln(q / p))`` over the reference-decile bins
    (numeric, open-ended outer bins) or the union of categories (categorical), where p and q are
    the reference and current shares with empty bins raised to :data:`PSI_EPSILON` (1e-4) so the
    logarithm is finite. Threshold: drifted when PSI >= threshold.
``js``
    Jensen-Shannon distance (the square root of the divergence) with logarithm base 2, so it lies
    in [0, 1], over the same bins or categories; equal to
    ``scipy.spatial.distance.jensenshannon(p, q, base=2)``. Threshold: drifted when >= threshold.
``wasserstein``
    ``scipy.stats.wasserstein_distance`` between the reference sample and the current values,
    divided by the reference standard deviation (population, over the whole reference); when that
    is 0 the distance is left unnormalized and ``details`` says so. Drifted when >= threshold.
    Numeric features only.

``auto`` picks normalized Wasserstein for numeric features with more than 1,000 reference values
(else KS) and Jensen-Shannon for categorical features with more than 1,000 reference values (else
chi2). A numeric-only method asked for a categorical feature falls back (``ks`` -> ``chi2``,
``wasserstein`` -> ``js``) and ``chi2`` asked for a numeric feature falls back to ``ks``; the
fallback is recorded in ``details``. The p-values of all features evaluated with a p-value method
are corrected together (Benjamini-Hochberg or Bonferroni, per the settings) and a feature drifts
when its corrected p-value is below its alpha. Dataset drift: the share of drifted features among
the evaluated ones reaches ``drift_share``.

Missing values are ignored and counted. A feature missing from the current data, or with no usable
values on either side, is reported with ``drifted`` False, ``statistic`` 0.0, ``p_value`` None and
a ``note``; it does not count towards the share. Each current column is converted once and sorted
at most once (KS and Wasserstein need the order; PSI and JS use the bin counts of the window's
summary and do not sort).

The current side is a window summary (:mod:`mlops_gitops.monitor.summary`): bin counts and
category counts are exact; KS and Wasserstein use the values themselves up to
``exact_max_records`` and a KLL sketch beyond, which ``details.current`` then names with its
rank error (``details.sketch``), the bound of the statistic's error.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from mlops_gitops.monitor.kernels import (
    JS_LOG_BASE,
    KS_EXACT_MAX_N,
    PSI_EPSILON,
    correct_p_values,
    js_distance,
    ks_2samp_sorted,
    psi,
    wasserstein_sorted,
)
from mlops_gitops.monitor.methods import CATEGORICAL, NUMERIC, Result
from mlops_gitops.monitor.profile import (
    FeatureProfile,
    ReferenceProfile,
    category_counts,
    numeric_values,
)
from mlops_gitops.monitor.summary import FeatureSummary, NumericSummary, Quantiles, bin_counts
from mlops_gitops.spec.models import DriftSettings

__all__ = [
    "JS_LOG_BASE",
    "KS_EXACT_MAX_N",
    "PSI_EPSILON",
    "DriftReport",
    "FeatureDrift",
    "compute_drift",
    "correct_p_values",
    "js_distance",
    "ks_2samp_sorted",
    "psi",
    "wasserstein_sorted",
]

DEFAULT_THRESHOLDS: dict[str, float] = {
    "ks": 0.05,
    "chi2": 0.05,
    "psi": 0.2,
    "js": 0.1,
    "wasserstein": 0.1,
}  # p-value methods: alpha; others: statistic limit
P_VALUE_METHODS = frozenset({"ks", "chi2"})
NUMERIC_ONLY = frozenset({"ks", "wasserstein"})
CATEGORICAL_ONLY = frozenset({"chi2"})
FALLBACK = {"ks": "chi2", "wasserstein": "js", "chi2": "ks"}
AUTO_LARGE_REFERENCE = 1_000  # auto: more reference values than this -> distance methods
DRIFT_THREADS = 4
"""At most this many features compared at once: each holds a sorted copy of its values."""
SCIPY_METHODS = frozenset({"ks", "chi2"})
"""Methods whose p-values come from scipy.stats."""

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Current = tuple[FeatureSummary, int]
"""A feature of the window: its summary and the number of records it was taken over."""


@dataclass(frozen=True)
class FeatureDrift:
    """The drift of one feature."""

    name: str
    method: str
    statistic: float
    p_value: float | None  # after multiple-testing correction
    raw_p_value: float | None
    threshold: float
    drifted: bool
    reference_count: int
    current_count: int
    details: dict[str, Any]
    evaluated: bool = True  # False when there was nothing to compare (see details["note"])

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "statistic": self.statistic,
            "p_value": self.p_value,
            "raw_p_value": self.raw_p_value,
            "threshold": self.threshold,
            "drifted": self.drifted,
            "evaluated": self.evaluated,
            "reference_count": self.reference_count,
            "current_count": self.current_count,
            "details": self.details,
        }


@dataclass(frozen=True)
class DriftReport:
    """Drift of every profiled feature and the dataset-level verdict."""

    policy: dict[str, Any]
    dataset_drift: bool  # share_drifted >= drift_share
    share_drifted: float  # drifted / evaluated features (0.0 when none was evaluated)
    features: dict[str, FeatureDrift]
    evaluated: int = 0  # features with data on both sides

    def to_json(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "dataset_drift": self.dataset_drift,
            "share_drifted": self.share_drifted,
            "evaluated": self.evaluated,
            "features": {name: f.to_json() for name, f in self.features.items()},
        }


def compute_drift(
    profile: ReferenceProfile, current: Mapping[str, Any], settings: DriftSettings
) -> DriftReport:
    """Compare the current window with the reference profile, feature by feature.

    ``current`` maps feature names to 1-D array-likes (None and NaN are missing) or to
    :data:`Current` pairs (a window summary's feature, its record count); others are ignored.
    """
    pending = _evaluate_all(profile, current, settings)
    evaluated_p = [
        (i, r.p_value)
        for i, (_, method, _, r, _, _) in enumerate(pending)
        if r is not None and r.p_value is not None and method in P_VALUE_METHODS
    ]
    corrected = correct_p_values([p for _, p in evaluated_p], settings.correction)
    adjusted = {i: p for (i, _), p in zip(evaluated_p, corrected, strict=True)}

    features: dict[str, FeatureDrift] = {}
    n_evaluated = n_drifted = 0
    for i, (feature, method, threshold, result, notes, current_count) in enumerate(pending):
        if result is None:
            features[feature.name] = FeatureDrift(
                name=feature.name,
                method=method,
                statistic=0.0,
                p_value=None,
                raw_p_value=None,
                threshold=threshold,
                drifted=False,
                reference_count=feature.count,
                current_count=current_count,
                details=notes,
                evaluated=False,
            )
            continue
        n_evaluated += 1
        if not math.isfinite(result.statistic):  # e.g. values near the float limit
            result.details["overflow"] = "statistic overflowed; reported as the largest float"
            result.statistic = sys.float_info.max
        if method in P_VALUE_METHODS:
            p_value = adjusted[i]
            drifted = p_value < threshold
        else:
            p_value = None
            drifted = result.statistic >= threshold
        n_drifted += drifted
        features[feature.name] = FeatureDrift(
            name=feature.name,
            method=method,
            statistic=result.statistic,
            p_value=p_value,
            raw_p_value=result.p_value,
            threshold=threshold,
            drifted=bool(drifted),
            reference_count=feature.count,
            current_count=current_count,
            details=_json_safe({**notes, **result.details}),
        )

    share = n_drifted / n_evaluated if n_evaluated else 0.0
    return DriftReport(
        policy=_policy(settings, profile),
        dataset_drift=n_evaluated > 0 and share >= settings.drift_share - 1e-12,
        share_drifted=share,
        features=features,
        evaluated=n_evaluated,
    )


Pending = tuple[FeatureProfile, str, float, Result | None, dict[str, Any], int]
"""A feature, its method and threshold, its result (None: not evaluated), notes, current count."""


def _evaluate_all(
    profile: ReferenceProfile, current: Mapping[str, Any], settings: DriftSettings
) -> list[Pending]:
    chosen = {name: resolve_method(f, settings) for name, f in profile.features.items()}

    def evaluate(name: str) -> tuple[Result | None, int]:
        feature, (method, _, notes) = profile.features[name], chosen[name]
        if name not in current:
            notes["note"] = "feature absent from the current data; not evaluated"
            return None, 0
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return _evaluate(feature, method, _current(feature, current[name]), notes)

    # Features are independent, and sorting a window's values (most of the time a report takes)
    # runs outside the GIL: a few threads share the work. scipy.stats is imported first, here:
    # threads importing it side by side can deadlock on its circular imports.
    if any(method in SCIPY_METHODS for method, _, _ in chosen.values()):
        import scipy.stats  # noqa: F401
    with ThreadPoolExecutor(min(DRIFT_THREADS, os.cpu_count() or 1)) as pool:
        found = list(pool.map(evaluate, profile.features))
    return [
        (feature, method, threshold, result, notes, current_count)
        for (feature, (method, threshold, notes), (result, current_count)) in zip(
            profile.features.values(), chosen.values(), found, strict=True
        )
    ]


def resolve_method(
    feature: FeatureProfile, settings: DriftSettings
) -> tuple[str, float, dict[str, Any]]:
    """The method and threshold used for ``feature``, and notes on how they were chosen."""
    override = settings.features.get(feature.name)
    requested = settings.method
    if override is not None and override.method is not None:
        requested = override.method
    notes: dict[str, Any] = {}
    if requested == "auto":
        large = feature.count > AUTO_LARGE_REFERENCE
        if feature.kind == "numeric":
            method = "wasserstein" if large else "ks"
        else:
            method = "js" if large else "chi2"
        notes["selected_by"] = (
            f"auto: {feature.kind} feature with {feature.count} reference values "
            f"({'more than' if large else 'at most'} {AUTO_LARGE_REFERENCE:,})"
        )
    else:
        method = requested
        incompatible = (feature.kind == "categorical" and method in NUMERIC_ONLY) or (
            feature.kind == "numeric" and method in CATEGORICAL_ONLY
        )
        if incompatible:
            method = FALLBACK[requested]
            notes["requested_method"] = requested
            notes["fallback"] = (
                f"{requested} does not apply to a {feature.kind} feature; used {method}"
            )
    if override is not None and override.threshold is not None:
        threshold = float(override.threshold)
        notes["threshold_source"] = "feature override"
    else:
        threshold = DEFAULT_THRESHOLDS[method]
    return method, threshold, notes


def _policy(settings: DriftSettings, profile: ReferenceProfile) -> dict[str, Any]:
    policy: dict[str, Any] = {
        "method": settings.method,
        "drift_share": settings.drift_share,
        "correction": settings.correction,
        "thresholds": dict(DEFAULT_THRESHOLDS),
        "reference_sha256": profile.sha256,
    }
    if settings.features:
        policy["overrides"] = {
            name: {
                k: v for k, v in (("method", o.method), ("threshold", o.threshold)) if v is not None
            }
            for name, o in sorted(settings.features.items())
        }
        unknown = sorted(set(settings.features) - set(profile.features))
        if unknown:
            policy["unknown_features"] = unknown
    return policy


def _current(feature: FeatureProfile, values: Any) -> Current:
    """A summary of raw values (exact), or the given summary."""
    if isinstance(values, tuple) and len(values) == 2 and isinstance(values[0], FeatureSummary):
        return values
    if feature.kind == "numeric":
        data, missing, invalid = numeric_values(values)
        edges = tuple(feature.edges)
        with np.errstate(over="ignore", invalid="ignore"):
            total = float(np.sum(data))
        numeric = NumericSummary(
            count=int(data.size),
            invalid=invalid,
            total=total,
            hist={edges: bin_counts(data, edges)},
            quantiles=Quantiles(int(data.size), [data]),
        )
        return FeatureSummary(numeric=numeric), int(data.size) + missing + invalid
    counts, missing = category_counts(values)
    return FeatureSummary(categories=counts), sum(counts.values()) + missing


def _evaluate(
    feature: FeatureProfile, method: str, current: Current, notes: dict[str, Any]
) -> tuple[Result | None, int]:
    """One feature's statistic, or None (with a note) when there is nothing to compare."""
    summary, records = current
    numeric = summary.numeric if summary.numeric is not None else NumericSummary()
    counts = summary.categories or {}
    if feature.kind == "numeric":
        notes["current_missing"] = records - numeric.count - numeric.invalid
        if numeric.invalid:
            notes["current_invalid"] = numeric.invalid
        current_count = numeric.count
    else:
        notes["current_missing"] = records - sum(counts.values())
        current_count = sum(counts.values())
    notes["reference_missing"] = feature.missing
    if current_count == 0:
        notes["note"] = "no current values (all missing or empty window); not evaluated"
        return None, 0
    if feature.count == 0:
        notes["note"] = "the reference has no values for this feature; not evaluated"
        return None, current_count
    if feature.kind == "numeric":
        return NUMERIC[method](feature, numeric), current_count
    return CATEGORICAL[method](feature, counts), current_count


def _json_safe(value: Any) -> Any:
    """Details with non-finite floats (overflow at the float limit) replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value
