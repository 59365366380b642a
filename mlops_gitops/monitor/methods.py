"""The drift methods of one feature: numeric (KS, Wasserstein, PSI, JS) and categorical
(chi-square, PSI, JS), each from the window's summary of that feature (see :mod:`.drift`)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from mlops_gitops.monitor.kernels import (
    JS_LOG_BASE,
    PSI_EPSILON,
    js_distance,
    ks_2samp_sorted,
    ks_weighted,
    psi,
    wasserstein_sorted,
    wasserstein_weighted,
)
from mlops_gitops.monitor.profile import FeatureProfile
from mlops_gitops.monitor.summary import NumericSummary, Quantiles

HISTOGRAM_CATEGORIES = 20  # categories listed in details["histogram"]; the rest are summed

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass
class Result:
    statistic: float
    p_value: float | None
    details: dict[str, Any]


# --- numeric -----------------------------------------------------------------------------------


def _sketch_details(quantiles: Quantiles) -> dict[str, Any]:
    error = quantiles.rank_error()
    return {
        "current": f"KLL sketch of {quantiles.count} values (rank error {error:.3%})",
        "sketch": {"k": int(quantiles.sketch.k), "rank_error": error, "values": quantiles.count},
    }


def _numeric_ks(feature: FeatureProfile, current: NumericSummary) -> Result:
    reference = feature.sample_array()
    details = _sample_details(feature, reference.size)
    quantiles = current.quantiles
    if quantiles.exact:
        d, p, how = ks_2samp_sorted(reference, quantiles.sorted_array())
    else:
        d, p, how = ks_weighted(reference, *quantiles.sorted_view())
        details |= _sketch_details(quantiles)
        details["statistic_error_bound"] = quantiles.rank_error()
    details["p_value_method"] = how
    details.update(_numeric_summary(feature, current))
    return Result(d, p, details)


def _numeric_wasserstein(feature: FeatureProfile, current: NumericSummary) -> Result:
    reference = feature.sample_array()
    quantiles = current.quantiles
    details = _sample_details(feature, reference.size)
    if quantiles.exact:
        raw = wasserstein_sorted(reference, quantiles.sorted_array())
        bound = 0.0
    else:
        items, weights = quantiles.sorted_view()
        raw = wasserstein_weighted(reference, items, weights)
        low = min(float(reference[0]), float(items[0]))
        high = max(float(reference[-1]), float(items[-1]))
        bound = quantiles.rank_error() * (high - low)
        details |= _sketch_details(quantiles)
    std = feature.std or 0.0
    if std > 0.0:
        statistic = raw / std
        details["normalized_by"] = "reference std"
        bound /= std
    else:
        statistic = raw
        details["normalized_by"] = "none (reference std is 0)"
    if not quantiles.exact:
        details["statistic_error_bound"] = bound
    details["reference_std"] = std
    details["raw_distance"] = raw
    details.update(_numeric_summary(feature, current))
    return Result(statistic, None, details)


def _shares(feature: FeatureProfile, current: NumericSummary) -> FloatArray:
    counts = current.hist[tuple(feature.edges)]
    return np.asarray(counts / current.count, dtype=np.float64)


def _numeric_binned(
    feature: FeatureProfile,
    current: NumericSummary,
    statistic: Callable[[FloatArray, FloatArray], float],
) -> tuple[float, dict[str, Any]]:
    reference = np.asarray(feature.shares, dtype=np.float64)
    details: dict[str, Any] = {"bins": int(reference.size)}
    details.update(_numeric_summary(feature, current))
    return statistic(reference, _shares(feature, current)), details


def _numeric_psi(feature: FeatureProfile, current: NumericSummary) -> Result:
    value, details = _numeric_binned(feature, current, psi)
    return Result(value, None, {"epsilon": PSI_EPSILON, "log": "natural", **details})


def _numeric_js(feature: FeatureProfile, current: NumericSummary) -> Result:
    value, details = _numeric_binned(feature, current, js_distance)
    return Result(value, None, {"log_base": JS_LOG_BASE, **details})


def _sample_details(feature: FeatureProfile, sample_size: int) -> dict[str, Any]:
    if feature.exact:
        return {"reference": "whole reference (exact)"}
    return {"reference": f"seeded sample of {sample_size} of {feature.count} reference values"}


def _numeric_summary(feature: FeatureProfile, current: NumericSummary) -> dict[str, Any]:
    """Means and the reference-bin histogram, for reports and charts."""
    with np.errstate(over="ignore", invalid="ignore"):
        mean = current.total / current.count
    return {
        "reference_mean": feature.mean,
        "current_mean": _finite(float(mean)),
        "histogram": {
            "edges": list(feature.edges),
            "reference": list(feature.shares),
            "current": [float(s) for s in _shares(feature, current)],
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


def _categorical_chi2(feature: FeatureProfile, counts: dict[str, int]) -> Result:
    names, ref, cur = _aligned(feature, counts)
    details = _categorical_details(feature, names, ref, cur)
    if len(names) < 2:
        details["note"] = "a single category on both sides: no difference to test"
        return Result(0.0, 1.0, {"dof": 0, **details})
    from scipy import stats

    result = stats.chi2_contingency(np.vstack([ref, cur]))
    dof = int(result.dof)
    details.update({"dof": dof, "yates_correction": dof == 1, "test": "contingency 2 x k"})
    return Result(_finite(float(result.statistic)), _finite(float(result.pvalue), 1.0), details)


def _categorical_psi(feature: FeatureProfile, counts: dict[str, int]) -> Result:
    names, ref, cur = _aligned(feature, counts)
    details = _categorical_details(feature, names, ref, cur)
    value = psi(ref / ref.sum(), cur / cur.sum())
    return Result(value, None, {"epsilon": PSI_EPSILON, "log": "natural", **details})


def _categorical_js(feature: FeatureProfile, counts: dict[str, int]) -> Result:
    names, ref, cur = _aligned(feature, counts)
    details = _categorical_details(feature, names, ref, cur)
    value = js_distance(ref / ref.sum(), cur / cur.sum())
    return Result(value, None, {"log_base": JS_LOG_BASE, **details})


NUMERIC: dict[str, Callable[[FeatureProfile, NumericSummary], Result]] = {
    "ks": _numeric_ks,
    "wasserstein": _numeric_wasserstein,
    "psi": _numeric_psi,
    "js": _numeric_js,
}
CATEGORICAL: dict[str, Callable[[FeatureProfile, dict[str, int]], Result]] = {
    "chi2": _categorical_chi2,
    "psi": _categorical_psi,
    "js": _categorical_js,
}


def _finite(value: float, default: float = 0.0) -> float:
    return value if math.isfinite(value) else default
