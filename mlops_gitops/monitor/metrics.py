"""Performance and service metrics, shared by monitoring and training so numbers agree.

Classification: accuracy, precision, recall, F1 (binary: the positive class is 1 or True,
else the larger label; more than two classes: macro averages), ROC-AUC from scores
(binary), confusion matrix. Regression: MAE, RMSE, R². Each carries its labelled count.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def classification(
    y_true: np.ndarray, y_pred: np.ndarray, scores: np.ndarray | None
) -> dict[str, Any]:
    true = [class_name(v) for v in y_true]
    pred = [class_name(v) for v in y_pred]
    counts: dict[tuple[str, str], int] = {}
    for pair in zip(true, pred, strict=True):
        counts[pair] = counts.get(pair, 0) + 1
    by_class: dict[str, np.ndarray] = {}
    if scores is not None:
        valid = ~np.isnan(scores)
        labels = np.asarray(true, dtype=object)
        for name in set(true):
            by_class[name] = scores[valid & (labels == name)]
    return from_counts(counts, lambda positive: auc_exact(by_class, positive))


def auc_exact(by_class: dict[str, np.ndarray], positive: str) -> float | None:
    pos = by_class.get(positive, np.empty(0))
    neg = [v for k, v in by_class.items() if k != positive]
    negatives = np.concatenate(neg) if neg else np.empty(0)
    values = np.concatenate([pos, negatives])
    flags = np.zeros(values.size, dtype=bool)
    flags[: pos.size] = True
    return roc_auc(flags, values) if values.size else None


def from_counts(
    counts: dict[tuple[str, str], int], auc: Callable[[str], float | None]
) -> dict[str, Any]:
    """Classification metrics from (true class, predicted class) counts; `auc(positive)` gives
    ROC-AUC for a positive class (None when it cannot be computed)."""
    labelled = sum(counts.values())
    if labelled == 0:
        return {"labelled": 0}
    classes = sorted({c for pair in counts for c in pair}, key=_class_order)
    index = {c: i for i, c in enumerate(classes)}
    matrix = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for (t, p), n in counts.items():
        matrix[index[t], index[p]] += n
    out: dict[str, Any] = {"labelled": labelled, "accuracy": float(np.trace(matrix) / labelled)}
    out["confusion_matrix"] = {"labels": classes, "matrix": matrix.tolist()}
    per_class = []
    for i in range(len(classes)):
        tp = matrix[i, i]
        fp = matrix[:, i].sum() - tp
        fn = matrix[i, :].sum() - tp
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class.append((float(precision), float(recall), float(f1)))
    if len(classes) <= 2:
        positive = classes.index(_positive(classes))
        out["precision"], out["recall"], out["f1"] = per_class[positive]
        out["positive_label"] = classes[positive]
        if len(classes) == 2:
            value = auc(classes[positive])
            if value is not None:
                out["roc_auc"] = value
    else:
        out["precision"] = float(np.mean([p for p, _, _ in per_class]))
        out["recall"] = float(np.mean([r for _, r, _ in per_class]))
        out["f1"] = float(np.mean([f for _, _, f in per_class]))
        out["average"] = "macro"
    return out


def class_name(value: Any) -> str:
    """1, 1.0 and "1" are the same class; True stays True."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, np.integer):
        return str(int(value))
    return str(value)


def _class_order(label: str) -> tuple[int, float, str]:
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


def _positive(classes: list[str]) -> str:
    for candidate in ("1", "True", "true", "1.0"):
        if candidate in classes:
            return candidate
    return classes[-1]


def roc_auc(positive: np.ndarray, scores: np.ndarray) -> float | None:
    """Mann-Whitney form with tie-averaged ranks; None when one class is absent."""
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    from scipy.stats import rankdata

    ranks = rankdata(scores)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def regression_from_sums(
    labelled: int, errors_abs: float, errors_sq: float, truth_m2: float
) -> dict[str, Any]:
    """MAE, RMSE and R² from the sums a window summary keeps."""
    if labelled == 0:
        return {"labelled": 0}
    out: dict[str, Any] = {
        "labelled": labelled,
        "mae": errors_abs / labelled,
        "rmse": math.sqrt(errors_sq / labelled),
    }
    out["r2"] = _finite(1.0 - errors_sq / truth_m2) if truth_m2 > 0 else None
    return out


def regression(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    labelled = len(y_true)
    if labelled == 0:
        return {"labelled": 0}
    true = y_true.astype("float64")
    pred = y_pred.astype("float64")
    errors = pred - true
    out: dict[str, Any] = {
        "labelled": labelled,
        "mae": float(np.mean(np.abs(errors))),
        "rmse": float(np.sqrt(np.mean(errors**2))),
    }
    total = float(np.sum((true - true.mean()) ** 2))
    out["r2"] = _finite(1.0 - float(np.sum(errors**2)) / total) if total > 0 else None
    return out


def latency(values: np.ndarray) -> dict[str, float | None]:
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return {"p50": None, "p95": None, "p99": None}
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {"p50": float(p50), "p95": float(p95), "p99": float(p99)}


def two_proportions(successes_a: int, n_a: int, successes_b: int, n_b: int) -> dict[str, Any]:
    """Two-sided z-test for a difference of proportions, with Cohen's h as the effect size."""
    if n_a == 0 or n_b == 0:
        return {"test": "two-proportion z-test", "p_value": None, "reason": "no records"}
    p_a, p_b = successes_a / n_a, successes_b / n_b
    pooled = (successes_a + successes_b) / (n_a + n_b)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    from scipy.stats import norm

    z = (p_a - p_b) / se if se > 0 else 0.0
    p_value = float(2 * norm.sf(abs(z))) if se > 0 else 1.0
    h = 2 * math.asin(math.sqrt(p_a)) - 2 * math.asin(math.sqrt(p_b))
    return {
        "test": "two-proportion z-test",
        "a": p_a,
        "b": p_b,
        "difference": p_a - p_b,
        "z": z,
        "p_value": p_value,
        "effect_size": {"cohens_h": h},
        "n": [n_a, n_b],
    }
