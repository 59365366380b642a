"""The statistics themselves: on exact sorted values, and on KLL sketches (weighted items).

Exact kernels equal scipy's computations (the tests compare them to 1e-9). Sketch kernels
compute the same statistic with the current side given as a sketch's retained items and their
weights: the sketch's rank error bounds how far its ECDF is from the data's, so the KS
statistic is within that error, and Wasserstein within that error times the data's range.
scipy is imported only where a p-value needs it: most reports never load it.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

PSI_EPSILON = 1e-4  # share given to an empty bin (either side) so PSI's logarithm is finite
JS_LOG_BASE = 2
KS_EXACT_MAX_N = 10_000  # scipy.stats.ks_2samp(method="auto") uses the exact p-value up to this


def psi(reference: FloatArray, current: FloatArray, epsilon: float = PSI_EPSILON) -> float:
    """Population stability index of two share vectors, empty shares raised to ``epsilon``."""
    p = np.maximum(reference, epsilon)
    q = np.maximum(current, epsilon)
    return float(np.sum((q - p) * np.log(q / p)))


def _rel_entr(x: FloatArray, y: FloatArray) -> FloatArray:
    """``scipy.special.rel_entr`` for non-negative shares (x log(x/y); 0 where x is 0)."""
    out = np.zeros_like(x)
    positive = x > 0
    with np.errstate(divide="ignore"):
        out[positive] = x[positive] * np.log(x[positive] / y[positive])
    return out


def js_distance(reference: FloatArray, current: FloatArray) -> float:
    """Jensen-Shannon distance, log base 2 (scipy.spatial.distance.jensenshannon's formula)."""
    p = reference / np.sum(reference)
    q = current / np.sum(current)
    m = (p + q) / 2.0
    divergence = (np.sum(_rel_entr(p, m)) + np.sum(_rel_entr(q, m))) / np.log(JS_LOG_BASE)
    return float(np.sqrt(max(float(divergence), 0.0) / 2.0))


def ks_p_value(d: float, n1: int, n2: int) -> tuple[float, float, str]:
    """(statistic, two-sided p-value, method) as ``scipy.stats.ks_2samp(method="auto")``."""
    if max(n1, n2) <= KS_EXACT_MAX_N:
        try:  # scipy's exact two-sample KS distribution (compiled)
            from scipy.stats._stats_py import _attempt_exact_2kssamp as exact
        except ImportError:  # pragma: no cover - depends on the scipy version
            exact = None
        if exact is not None:
            ok, d_exact, p = exact(n1, n2, math.gcd(n1, n2), d, "two-sided")
            if ok:
                return float(d_exact), float(np.clip(p, 0.0, 1.0)), "exact"
    from scipy import stats

    m, n = sorted([float(n1), float(n2)], reverse=True)
    en = m * n / (m + n)
    p = float(np.clip(stats.kstwo.sf(d, np.round(en)), 0.0, 1.0))
    return d, p, "asymptotic"


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
    return ks_p_value(min_s if min_s > max_s else max_s, n1, n2)


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


def _weighted_cdf(
    items: FloatArray, cumulative: FloatArray, points: FloatArray, side: str
) -> FloatArray:
    """The weighted ECDF (or its left limit) at `points`; items sorted, cumulative shares."""
    index = np.searchsorted(items, points, side=side)  # type: ignore[call-overload]
    padded = np.concatenate(([0.0], cumulative))
    return np.asarray(padded[index], dtype=np.float64)


def ks_weighted(
    reference: FloatArray, items: FloatArray, weights: FloatArray
) -> tuple[float, float, str]:
    """KS of a sorted reference against a sketch's sorted items with weights (their count)."""
    n1, n2 = int(reference.size), round(float(weights.sum()))
    cumulative = np.cumsum(weights) / weights.sum()
    points = np.concatenate((reference, items))
    f1 = np.searchsorted(reference, points, side="right") / n1
    f1_left = np.searchsorted(reference, points, side="left") / n1
    f2 = _weighted_cdf(items, cumulative, points, "right")
    f2_left = _weighted_cdf(items, cumulative, points, "left")
    d = float(max(np.max(np.abs(f1 - f2)), np.max(np.abs(f1_left - f2_left))))
    return ks_p_value(d, n1, n2)


def wasserstein_weighted(reference: FloatArray, items: FloatArray, weights: FloatArray) -> float:
    """``scipy.stats.wasserstein_distance(reference, items, v_weights=weights)``, sorted inputs."""
    points = np.sort(np.concatenate((reference, items)))
    deltas = np.diff(points)
    f1 = np.searchsorted(reference, points[:-1], side="right") / reference.size
    f2 = _weighted_cdf(items, np.cumsum(weights) / weights.sum(), points[:-1], "right")
    return float(np.sum(np.abs(f1 - f2) * deltas))


def auc_weighted(
    positive: tuple[FloatArray, FloatArray], negative: tuple[FloatArray, FloatArray]
) -> float:
    """P(score of a positive > score of a negative) + half the ties, from sorted weighted items:
    the Mann-Whitney form of ROC-AUC."""
    pos_items, pos_weights = positive
    neg_items, neg_weights = negative
    cumulative = np.cumsum(neg_weights) / neg_weights.sum()
    below = _weighted_cdf(neg_items, cumulative, pos_items, "left")
    upto = _weighted_cdf(neg_items, cumulative, pos_items, "right")
    return float(np.sum(pos_weights * (below + upto) / 2.0) / pos_weights.sum())


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
