"""Prediction, score and target drift, and performance estimated before labels arrive (CBPE),
from a reference file that carries the model's outputs on it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.isotonic import IsotonicRegression

from mlops_gitops import api
from mlops_gitops.monitor import outputs
from tests.monitor.helpers import MonitorRepo, append, jsonl, read_report, record

NOW = "2026-11-28T00:00:00Z"
LOGS = "logs/clf-prod"


def calibrated(n: int, seed: int, low: float = 0.0, high: float = 1.0) -> pd.DataFrame:
    """A well-calibrated binary classifier: P(y = 1 | score) = score; predicts 1 from 0.5."""
    rng = np.random.default_rng(seed)
    score = np.round(rng.uniform(low, high, n), 3)
    target = (rng.random(n) < score).astype(int)
    x = np.round(rng.normal(10.0, 2.0, n), 3)
    colour = rng.choice(["red", "green", "blue"], n)
    prediction = (score >= 0.5).astype(int)
    return pd.DataFrame(
        {"x": x, "colour": colour, "target": target, "prediction": prediction, "score": score}
    )


def traffic(frame: pd.DataFrame, labelled: bool = False) -> list[dict[str, Any]]:
    return [
        record(
            i,
            step=1.0,
            x=float(row.x),
            colour=str(row.colour),
            prediction=int(row.prediction),
            score=float(row.score),
            label=int(row.target) if labelled else None,
        )
        for i, row in enumerate(frame.itertuples())
    ]


def monitored(tmp_path: Path, current: pd.DataFrame, labelled: bool = False) -> dict[str, Any]:
    """The report of clf-prod over `current`, its markdown under the key "markdown"."""
    spec = MonitorRepo(tmp_path / "repo")
    calibrated(4_000, seed=1).to_csv(spec.root / "data/reference/clf-1.0.0.csv", index=False)
    spec.deployment(
        "clf-prod", monitoring={"predictions": f"{LOGS}/", "window": {"records": 100_000}}
    )
    append(spec.root / LOGS / "a.jsonl", jsonl(traffic(current, labelled)))
    api.monitor(spec.root, now=NOW, commit=False)
    report = read_report(spec.root, "clf-prod")
    report["markdown"] = (spec.root / "reports/clf-prod/latest.md").read_text()
    return report


def test_estimates_match_the_realised_performance_before_labels(tmp_path: Path) -> None:
    current = calibrated(3_000, seed=7, low=0.2, high=0.8)  # harder cases than the reference
    report = monitored(tmp_path, current)
    estimate = report["outputs"]["estimated_performance"]
    assert estimate["available"] and estimate["records"] == 3_000
    truth = current["target"].to_numpy()
    accuracy = float(np.mean(truth == current["prediction"].to_numpy()))
    acc = estimate["accuracy"]
    assert acc["lower"] <= accuracy <= acc["upper"]
    assert acc["value"] == pytest.approx(0.65, abs=0.03)  # E[max(s, 1-s)], s ~ U(0.2, 0.8)
    assert acc["upper"] - acc["lower"] < 0.05
    from sklearn.metrics import roc_auc_score

    auc = estimate["roc_auc"]
    assert auc["lower"] <= roc_auc_score(truth, current["score"]) <= auc["upper"]
    # the reference's scores span 0..1: the current ones are narrower, and the test says so
    assert report["outputs"]["score_drift"]["drifted"]
    assert not report["outputs"]["prediction_drift"]["drifted"]
    assert report["outputs"]["target_drift"]["reason"] == "no target in the window yet"
    assert "- Score drift: **drifted**" in report["markdown"]
    assert "- Estimated before labels (3000 records; CBPE" in report["markdown"]


def test_target_and_prediction_drift_once_labels_and_skew_arrive(tmp_path: Path) -> None:
    current = calibrated(2_000, seed=8, low=0.5, high=1.0)  # mostly positives now
    report = monitored(tmp_path, current, labelled=True)
    drift = report["outputs"]
    assert drift["prediction_drift"]["drifted"]
    assert drift["prediction_drift"]["method"] == "js"  # auto: 4,000 reference values
    assert drift["target_drift"]["drifted"] and drift["target_drift"]["current_count"] == 2_000
    # the input features did not move
    assert not report["drift"]["dataset_drift"]


def test_calibration_equals_scikit_learns_isotonic_regression() -> None:
    rng = np.random.default_rng(3)
    scores = np.round(rng.random(2_000), 2)
    hits = (rng.random(2_000) < scores**2).astype(np.float64)
    x, y = outputs.isotonic(scores, hits)
    reference = IsotonicRegression(out_of_bounds="clip").fit(scores, hits)
    grid = np.linspace(-0.1, 1.1, 500)
    assert np.allclose(np.interp(grid, x, y), reference.predict(grid), atol=1e-12)
    assert x.size < np.unique(scores).size  # only the block ends are kept


def test_expected_auc_of_certain_scores_is_the_exact_auc() -> None:
    """With calibrated p of 0 or 1 the labels are known, so the estimate is the real AUC."""
    calibration = outputs.Calibration("1", (0.0, 0.49, 0.51, 1.0), (0.0, 0.0, 1.0, 1.0))
    found = outputs.expected_auc(calibration, np.array([0.1, 0.2, 0.8, 0.9, 0.3]))
    assert found is not None and found[0] == 1.0 and found[1:] == (2.0, 3.0)


def test_a_log_feature_named_like_an_output_cannot_stand_in_for_it(tmp_path: Path) -> None:
    """`@` names are the outputs' own: a feature called `@prediction` in the logs, claiming
    every request predicted class 1, is ignored, and the real predictions are judged."""
    current = calibrated(2_000, seed=9)
    records = traffic(current)
    for r in records:
        r["features"]["@prediction"] = 1
        r["features"]["@score"] = 0.99
    spec = MonitorRepo(tmp_path / "repo")
    calibrated(4_000, seed=1).to_csv(spec.root / "data/reference/clf-1.0.0.csv", index=False)
    spec.deployment("clf-prod", monitoring={"predictions": f"{LOGS}/"})
    append(spec.root / LOGS / "a.jsonl", jsonl(records))
    api.monitor(spec.root, now=NOW, commit=False)
    report = read_report(spec.root, "clf-prod")
    assert not report["outputs"]["prediction_drift"]["drifted"]
    assert not report["outputs"]["score_drift"]["drifted"]
    assert report["data_quality"]["schema"]["changes"] == 0
