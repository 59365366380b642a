"""The model's outputs and the labels: drift against the reference, and performance estimated
from calibrated scores before labels arrive (confidence-based performance estimation, CBPE).

The reference file may hold, besides the features and `target`, the model's outputs on it:
`prediction` (the predicted class or value) and `score` (binary classification: the score of
the positive class). They are profiled like features under the names `@prediction`, `@score`
and `@target`, which the summaries count like features, so the drift tests, the batching and
the Dask engine are the same as for features.

Estimation (binary classifiers with a reference `score`, `prediction` and `target`): an
isotonic calibration of P(positive | score) is fitted on the reference. For each current
record with a score and a prediction, the chance that the prediction is right is p when it
predicted the positive class and 1 - p otherwise; the expected accuracy is their mean, with a
normal interval from the Bernoulli variances (sums, so they merge). The expected ROC AUC
takes every current score with its calibrated p as the chance of a positive, and its interval
is Hanley and McNeil's for the expected numbers of positives and negatives.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from mlops_gitops.monitor.metrics import _positive

FloatArray = npt.NDArray[np.float64]
OUTPUT_NAMES = {"prediction": "@prediction", "score": "@score", "target": "@target"}
Z95 = 1.959963984540054


@dataclass(frozen=True)
class Calibration:
    """An increasing step-linear map from score to P(positive), as scikit-learn's
    IsotonicRegression(out_of_bounds="clip") fits it."""

    positive: str
    x: tuple[float, ...]
    y: tuple[float, ...]

    def __call__(self, scores: FloatArray) -> FloatArray:
        return np.interp(scores, self.x, self.y)

    def to_json(self) -> dict[str, Any]:
        return {"positive": self.positive, "x": list(self.x), "y": list(self.y)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Calibration:
        x = tuple(float(v) for v in data["x"])
        y = tuple(float(v) for v in data["y"])
        if len(x) != len(y) or not x or any(b < a for a, b in itertools.pairwise(x)):
            raise ValueError("calibration points are not increasing pairs")
        return cls(str(data["positive"]), x, y)


def isotonic(scores: FloatArray, hits: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Pool adjacent violators on the distinct scores: the fitted P(hit) at each."""
    order = np.argsort(scores, kind="stable")
    xs, start = np.unique(scores[order], return_index=True)
    sums = np.add.reduceat(hits[order], start)
    counts = np.diff(np.append(start, scores.size)).astype(np.float64)
    means: list[float] = []
    weights: list[float] = []
    sizes: list[int] = []
    for total, n in zip(sums.tolist(), counts.tolist(), strict=True):
        means.append(total / n)
        weights.append(n)
        sizes.append(1)
        while len(means) > 1 and means[-2] > means[-1]:
            w = weights[-2] + weights[-1]
            mean = (means[-2] * weights[-2] + means[-1] * weights[-1]) / w
            size = sizes[-2] + sizes[-1]
            del means[-1], weights[-1], sizes[-1]
            means[-1], weights[-1], sizes[-1] = mean, w, size
    fitted = np.repeat(np.asarray(means), sizes)
    # Only where a block starts or ends: interpolation between them gives the same values,
    # and the profile stays small however many distinct scores the reference has.
    ends = np.cumsum(sizes)
    keep = np.unique(np.concatenate([ends - np.asarray(sizes), ends - 1]))
    return xs.astype(np.float64)[keep], fitted[keep]


def calibrate(frame: Any) -> Calibration | None:
    """The calibration of a reference frame with `score` and a two-class `target`."""
    if "score" not in frame.columns or "target" not in frame.columns:
        return None
    scores = np.asarray(frame["score"], dtype=np.float64)
    truth = np.asarray([str(v) for v in frame["target"]], dtype=object)
    keep = np.isfinite(scores) & ~frame["target"].isna().to_numpy()
    classes = sorted(set(truth[keep].tolist()))
    if len(classes) != 2:
        return None
    positive = _positive(classes)
    x, y = isotonic(scores[keep], (truth[keep] == positive).astype(np.float64))
    return Calibration(positive, tuple(x.tolist()), tuple(y.tolist()))


@dataclass
class Expected:
    """Sums over current records: how many could be judged, the expected number right, and
    the sum of the Bernoulli variances (for the interval)."""

    n: int = 0
    right: float = 0.0
    variance: float = 0.0

    def merge(self, other: Expected) -> None:
        self.n += other.n
        self.right += other.right
        self.variance += other.variance


def expected_right(
    calibration: Calibration, scores: FloatArray, predicted_positive: npt.NDArray[np.bool_]
) -> FloatArray:
    """Per record: the chance its prediction is right (NaN without a score)."""
    p = calibration(np.nan_to_num(scores, nan=0.0))
    right = np.where(predicted_positive, p, 1.0 - p)
    return np.where(np.isnan(scores), np.nan, right)


def expected_auc(
    calibration: Calibration, values: FloatArray, weights: FloatArray | None = None
) -> tuple[float, float, float] | None:
    """The expected ROC AUC of scores whose labels are unknown, and its expected positives and
    negatives (`weights`: how many records each value stands for, for a sketch)."""
    if not values.size:
        return None
    w = np.ones(values.size) if weights is None else weights
    xs, start = np.unique(values, return_inverse=True)
    counts = np.bincount(start, weights=w)
    p = calibration(xs)
    pos, neg = counts * p, counts * (1.0 - p)
    total_pos, total_neg = float(pos.sum()), float(neg.sum())
    if total_pos <= 0 or total_neg <= 0:
        return None
    below = np.cumsum(neg) - neg  # negatives scored strictly lower
    auc = float(np.sum(pos * (below + 0.5 * neg))) / (total_pos * total_neg)
    return auc, total_pos, total_neg


def auc_interval(auc: float, positives: float, negatives: float) -> tuple[float, float]:
    """Hanley and McNeil (1982): the standard error of an AUC from the class sizes."""
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    var = (
        auc * (1 - auc) + (positives - 1) * (q1 - auc * auc) + (negatives - 1) * (q2 - auc * auc)
    ) / (positives * negatives)
    half = Z95 * math.sqrt(max(var, 0.0))
    return max(0.0, auc - half), min(1.0, auc + half)


def estimate(
    calibration: Calibration | None, sums: Expected, scores: tuple[FloatArray, FloatArray | None]
) -> dict[str, Any]:
    """The report's estimated_performance section."""
    if calibration is None:
        return {
            "available": False,
            "reason": "the stable reference has no score, prediction and two-class target "
            "to calibrate on",
        }
    if not sums.n:
        return {"available": False, "reason": "no records with a score and a prediction"}
    out: dict[str, Any] = {
        "available": True,
        "method": "CBPE: isotonic calibration of the score on the stable reference",
        "positive_label": calibration.positive,
        "records": sums.n,
    }
    value = sums.right / sums.n
    half = Z95 * math.sqrt(sums.variance) / sums.n
    out["accuracy"] = {
        "value": value,
        "lower": max(0.0, value - half),
        "upper": min(1.0, value + half),
    }
    found = expected_auc(calibration, *scores)
    if found is not None:
        auc, positives, negatives = found
        lower, upper = auc_interval(auc, positives, negatives)
        out["roc_auc"] = {"value": auc, "lower": lower, "upper": upper}
    return out
