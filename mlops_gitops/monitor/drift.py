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
at most once (KS and Wasserstein need the order; PSI and JS count bins with one vectorized
comparison per edge and do not sort).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats
from scipy.special import rel_entr

from mlops_gitops.monitor.profile import (
    FeatureProfile,
    FloatArray,
    ReferenceProfile,
    bin_counts,
    bin_counts_sorted,
    category_counts,
    numeric_values,
)
from mlops_gitops.spec.models import DriftSettings

try:  # scipy's exact two-sample KS distribution (compiled); ks_2samp is the fallback.
    from scipy.stats._stats_py import _attempt_exact_2kssamp as _scipy_exact_ks
except ImportError:  # pragma: no cover - depends on the scipy version
    _scipy_exact_ks = None

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
PSI_EPSILON = 1e-4  # share given to an empty bin (either side) so PSI's logarithm is finite
JS_LOG_BASE = 2
KS_EXACT_MAX_N = 10_000  # scipy.stats.ks_2samp(method="auto") uses the exact p-value up to this
HISTOGRAM_CATEGORIES = 20  # categories listed in details["histogram"]; the rest are summed

IntArray = npt.NDArray[np.int64]


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


@dataclass
class _Result:
    statistic: float
    p_value: float | None
    details: dict[str, Any]


def compute_drift(
    profile: ReferenceProfile, current: Mapping[str, Any], settings: DriftSettings
) -> DriftReport:
    """Compare the current window with the reference profile, feature by feature.

    ``current`` maps feature names to 1-D array-likes (numpy arrays, pandas Series, lists); None
    and NaN are missing. Features of ``current`` that the profile does not know are ignored.
    """
    pending: list[tuple[FeatureProfile, str, float, _Result | None, dict[str, Any], int]] = []
    for name, feature in profile.features.items():
        method, threshold, notes = resolve_method(feature, settings)
        if name not in current:
            notes["note"] = "feature absent from the current data; not evaluated"
            pending.append((feature, method, threshold, None, notes, 0))
            continue
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            result, current_count = _evaluate(feature, method, current[name], notes)
        pending.append((feature, method, threshold, result, notes, current_count))

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


def correct_p_values(p_values: list[float], correction: str) -> list[float]:
    """Multiple-testing correction: ``benjamini-hochberg`` or ``bonferroni`` (capped at 1)."""
    if not p_values or correction == "none":
        return list(p_values)
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    if correction == "bonferroni":
        return [float(v) for v in np.minimum(p * m, 1.0)]
    if correction != "benjamini-hochberg":
        raise ValueError(f"unknown multiple-testing correction {correction!r}")
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1)
    monotone = np.minimum.accumulate(scaled[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(monotone, 1.0)
    return [float(v) for v in out]


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


def _evaluate(
    feature: FeatureProfile, method: str, values: Any, notes: dict[str, Any]
) -> tuple[_Result | None, int]:
    """One feature's statistic, or None (with a note) when there is nothing to compare."""
    if feature.kind == "numeric":
        data, missing, invalid = numeric_values(values)
        notes["current_missing"] = missing
        if invalid:
            notes["current_invalid"] = invalid
    else:
        counts, missing = category_counts(values)
        notes["current_missing"] = missing
    notes["reference_missing"] = feature.missing
    current_count = int(data.size) if feature.kind == "numeric" else sum(counts.values())
    if current_count == 0:
        notes["note"] = "no current values (all missing or empty window); not evaluated"
        return None, 0
    if feature.count == 0:
        notes["note"] = "the reference has no values for this feature; not evaluated"
        return None, current_count
    if feature.kind == "numeric":
        return _NUMERIC[method](feature, data), current_count
    return _CATEGORICAL[method](feature, counts), current_count


# --- numeric -----------------------------------------------------------------------------------


def _numeric_ks(feature: FeatureProfile, data: FloatArray) -> _Result:
    current = np.sort(data)
    reference = feature.sample_array()
    d, p, how = ks_2samp_sorted(reference, current)
    details = _sample_details(feature, reference.size)
    details["p_value_method"] = how
    details.update(_numeric_summary(feature, current, sorted_=True))
    return _Result(d, p, details)


def _numeric_wasserstein(feature: FeatureProfile, data: FloatArray) -> _Result:
    current = np.sort(data)
    reference = feature.sample_array()
    raw = wasserstein_sorted(reference, current)
    std = feature.std or 0.0
    details = _sample_details(feature, reference.size)
    if std > 0.0:
        statistic = raw / std
        details["normalized_by"] = "reference std"
    else:
        statistic = raw
        details["normalized_by"] = "none (reference std is 0)"
    details["reference_std"] = std
    details["raw_distance"] = raw
    details.update(_numeric_summary(feature, current, sorted_=True))
    return _Result(statistic, None, details)


def _numeric_binned(
    feature: FeatureProfile, data: FloatArray, statistic: Callable[[FloatArray, FloatArray], float]
) -> tuple[float, dict[str, Any]]:
    edges = np.asarray(feature.edges, dtype=np.float64)
    reference = np.asarray(feature.shares, dtype=np.float64)
    current = bin_counts(data, edges) / data.size
    details = {"bins": int(reference.size)}
    details.update(_numeric_summary(feature, data, sorted_=False, shares=current))
    return statistic(reference, current), details


def _numeric_psi(feature: FeatureProfile, data: FloatArray) -> _Result:
    value, details = _numeric_binned(feature, data, psi)
    return _Result(value, None, {"epsilon": PSI_EPSILON, "log": "natural", **details})


def _numeric_js(feature: FeatureProfile, data: FloatArray) -> _Result:
    value, details = _numeric_binned(feature, data, js_distance)
    return _Result(value, None, {"log_base": JS_LOG_BASE, **details})


def _sample_details(feature: FeatureProfile, sample_size: int) -> dict[str, Any]:
    if feature.exact:
        return {"reference": "whole reference (exact)"}
    return {"reference": f"seeded sample of {sample_size} of {feature.count} reference values"}


def _numeric_summary(
    feature: FeatureProfile,
    data: FloatArray,
    *,
    sorted_: bool,
    shares: FloatArray | None = None,
) -> dict[str, Any]:
    """Means and the reference-bin histogram, for reports and charts (no extra sort)."""
    edges = np.asarray(feature.edges, dtype=np.float64)
    if shares is None:
        counts = bin_counts_sorted(data, edges) if sorted_ else bin_counts(data, edges)
        shares = counts / data.size
    return {
        "reference_mean": feature.mean,
        "current_mean": _finite(float(np.mean(data))),
        "histogram": {
            "edges": list(feature.edges),
            "reference": list(feature.shares),
            "current": [float(s) for s in shares],
        },
    }


# --- categorical -------------------------------------------------------------------------------


def _aligned(
    feature: FeatureProfile, counts: dict[str, int]
) -> tuple[list[str], IntArray, IntArray]:
    names = sorted(set(feature.categories) | set(counts))
    ref = np.array([feature.categories.get(k, 0) for k in names], dtype=np.int64)
    cur = np.array([counts.get(k, 0) for k in names], dtype=np.int64)
    return names, ref, cur


def _categorical_details(
    feature: FeatureProfile, names: list[str], ref: IntArray, cur: IntArray
) -> dict[str, Any]:
    new = [k for k, r, c in zip(names, ref, cur, strict=True) if r == 0 and c > 0]
    ref_share = ref / ref.sum()
    cur_share = cur / cur.sum()
    order = np.argsort(-(ref_share + cur_share), kind="stable")[:HISTOGRAM_CATEGORIES]
    histogram: dict[str, Any] = {
        "categories": [names[i] for i in order],
        "reference": [float(ref_share[i]) for i in order],
        "current": [float(cur_share[i]) for i in order],
    }
    if len(names) > len(order):
        histogram["other"] = {
            "reference": _finite(float(1.0 - sum(histogram["reference"]))),
            "current": _finite(float(1.0 - sum(histogram["current"]))),
        }
    details: dict[str, Any] = {"categories": len(names), "histogram": histogram}
    if new:
        details["new_categories"] = new[:HISTOGRAM_CATEGORIES]
        details["new_category_count"] = len(new)
    return details


def _categorical_chi2(feature: FeatureProfile, counts: dict[str, int]) -> _Result:
    names, ref, cur = _aligned(feature, counts)
    details = _categorical_details(feature, names, ref, cur)
    if len(names) < 2:
        details["note"] = "a single category on both sides: no difference to test"
        return _Result(0.0, 1.0, {"dof": 0, **details})
    result = stats.chi2_contingency(np.vstack([ref, cur]))
    dof = int(result.dof)
    details.update({"dof": dof, "yates_correction": dof == 1, "test": "contingency 2 x k"})
    return _Result(_finite(float(result.statistic)), _finite(float(result.pvalue), 1.0), details)


def _categorical_psi(feature: FeatureProfile, counts: dict[str, int]) -> _Result:
    names, ref, cur = _aligned(feature, counts)
    details = _categorical_details(feature, names, ref, cur)
    value = psi(ref / ref.sum(), cur / cur.sum())
    return _Result(value, None, {"epsilon": PSI_EPSILON, "log": "natural", **details})


def _categorical_js(feature: FeatureProfile, counts: dict[str, int]) -> _Result:
    names, ref, cur = _aligned(feature, counts)
    details = _categorical_details(feature, names, ref, cur)
    value = js_distance(ref / ref.sum(), cur / cur.sum())
    return _Result(value, None, {"log_base": JS_LOG_BASE, **details})


_NUMERIC: dict[str, Callable[[FeatureProfile, FloatArray], _Result]] = {
    "ks": _numeric_ks,
    "wasserstein": _numeric_wasserstein,
    "psi": _numeric_psi,
    "js": _numeric_js,
}
_CATEGORICAL: dict[str, Callable[[FeatureProfile, dict[str, int]], _Result]] = {
    "chi2": _categorical_chi2,
    "psi": _categorical_psi,
    "js": _categorical_js,
}


# --- statistics --------------------------------------------------------------------------------


def psi(reference: FloatArray, current: FloatArray, epsilon: float = PSI_EPSILON) -> float:
    """Population stability index of two share vectors, empty shares raised to ``epsilon``."""
    p = np.maximum(reference, epsilon)
    q = np.maximum(current, epsilon)
    return float(np.sum((q - p) * np.log(q / p)))


def js_distance(reference: FloatArray, current: FloatArray) -> float:
    """Jensen-Shannon distance, log base 2 (scipy.spatial.distance.jensenshannon's formula)."""
    p = reference / np.sum(reference)
    q = current / np.sum(current)
    m = (p + q) / 2.0
    divergence = (np.sum(rel_entr(p, m)) + np.sum(rel_entr(q, m))) / np.log(JS_LOG_BASE)
    return float(np.sqrt(max(float(divergence), 0.0) / 2.0))


def ks_2samp_sorted(reference: FloatArray, current: FloatArray) -> tuple[float, float, str]:
    """Two-sided two-sample KS (statistic, p-value, p-value method) of two sorted arrays.

    Same result as ``scipy.stats.ks_2samp(reference, current)``, without re-sorting and without
    evaluating both ECDFs at every point: the ECDF difference only changes at data points, and
    between consecutive distinct reference values its extremes are at the left end and just
    before the right end, so O(r log n) binary searches over the distinct reference values r
    find the same maximum.
    """
    n1, n2 = int(reference.size), int(current.size)
    distinct = reference[np.concatenate(([True], reference[1:] != reference[:-1]))]
    f1 = np.searchsorted(reference, distinct, side="right") / n1
    f1_before = np.concatenate(([0.0], f1[:-1]))
    f2 = np.searchsorted(current, distinct, side="right") / n2
    f2_before = np.searchsorted(current, distinct, side="left") / n2
    diffs = np.concatenate((f1 - f2, f1_before - f2_before))
    max_s = float(np.max(diffs))
    min_s = float(np.clip(-np.min(diffs), 0.0, 1.0))
    d = min_s if min_s > max_s else max_s
    if max(n1, n2) <= KS_EXACT_MAX_N:
        if _scipy_exact_ks is not None:
            ok, d_exact, p = _scipy_exact_ks(n1, n2, math.gcd(n1, n2), d, "two-sided")
            if ok:
                return float(d_exact), float(np.clip(p, 0.0, 1.0)), "exact"
        else:  # pragma: no cover - depends on the scipy version
            res = stats.ks_2samp(reference, current)
            return float(res.statistic), float(res.pvalue), "exact"
    m, n = sorted([float(n1), float(n2)], reverse=True)
    en = m * n / (m + n)
    p = float(np.clip(stats.kstwo.sf(d, np.round(en)), 0.0, 1.0))
    return d, p, "asymptotic"


def wasserstein_sorted(reference: FloatArray, current: FloatArray) -> float:
    """``scipy.stats.wasserstein_distance`` of two sorted arrays, in O(n) without merging.

    In one dimension the distance is also the integral over u in (0, 1] of |Q_a(u) - Q_b(u)|,
    Q the quantile functions (``Q_a(u) = a[ceil(u * n_a) - 1]``). With b the larger sample, each
    of b's steps (i/n_b, (i+1)/n_b] meets ``a[floor(i * n_a / n_b)]`` and at most one of a's step
    boundaries k/n_a; the main term repeats a's values along b, and each boundary that falls
    strictly inside one of b's steps adds a correction for the part of that step beyond it. All
    positions are integers in units of 1/(n_a * n_b), so the bookkeeping is exact.
    """
    a, b = (reference, current) if reference.size <= current.size else (current, reference)
    na, nb = int(a.size), int(b.size)
    k = np.arange(na + 1, dtype=np.int64)
    starts = (k * nb + na - 1) // na  # first step of b that meets a[k]: ceil(k * nb / na)
    spread = np.repeat(a, np.diff(starts))
    np.subtract(spread, b, out=spread)
    np.abs(spread, out=spread)
    total = float(np.sum(spread)) / nb
    inner = k[1:na]  # a's boundaries k/na, k = 1 .. na-1
    step, offset = np.divmod(inner * nb, na)  # boundary lies in b's step `step` when offset > 0
    inside = offset > 0
    if np.any(inside):
        kk, ii = inner[inside], step[inside]
        beyond = ((ii + 1) * na - kk * nb) / (na * nb)  # length of the step after the boundary
        after = np.abs(a[kk] - b[ii])
        before = np.abs(a[kk - 1] - b[ii])
        total += float(np.sum(beyond * (after - before)))
    return total


def _json_safe(value: Any) -> Any:
    """Details with non-finite floats (overflow at the float limit) replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def _finite(value: float, default: float = 0.0) -> float:
    return value if math.isfinite(value) else default
