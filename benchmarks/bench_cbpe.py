"""Performance estimation before labels: ours against NannyML's CBPE on the same data.

Run: .venv/bin/python benchmarks/bench_cbpe.py [--nannyml .venv-nannyml/bin/python]
NannyML lives in its own virtualenv (it is not a project dependency):
    python3 -m venv .venv-nannyml && .venv-nannyml/bin/pip install nannyml

Data: a binary classifier whose true P(y = 1 | score) is a known function of its score (some
scenarios miscalibrated, so calibration matters). A reference of --reference rows, with labels,
calibrates both estimators; then each scenario gives --chunk rows whose labels are hidden from
them. For every chunk and metric (accuracy, ROC AUC) the script prints our estimate and its
95% interval, NannyML's estimate and its band (value +- 3 sampling errors, its default), and
the realised value from the hidden labels, then the agreement: mean and largest absolute
difference between the two estimates, how often each interval holds the realised value, and
the mean absolute error of each estimator against the realised value.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mlops_gitops.monitor import outputs

ROOT = Path(__file__).resolve().parent.parent
Truth = Callable[[np.ndarray], np.ndarray]


def model(s: np.ndarray) -> np.ndarray:
    """The model is overconfident: its raw score is not a probability, so calibration
    matters (the reference and every covariate-shift scenario share this)."""
    return 0.5 + 0.7 * (s - 0.5)


# name -> (how scores are drawn, the true P(y = 1 | score), whether P(y | score) is the
# reference's: CBPE assumes it is; the concept-shift scenarios break that on purpose)
SCENARIOS: dict[str, tuple[Callable[[np.random.Generator, int], np.ndarray], Truth, bool]] = {
    "same as reference": (lambda r, n: r.beta(2, 2, n), model, True),
    "harder cases": (lambda r, n: r.uniform(0.3, 0.7, n), model, True),
    "easier cases": (lambda r, n: r.beta(0.5, 0.5, n), model, True),
    "mostly positive": (lambda r, n: r.beta(5, 2, n), model, True),
    "mostly negative": (lambda r, n: r.beta(1, 3, n), model, True),
    "concept shift: flatter": (
        lambda r, n: r.beta(2, 2, n),
        lambda s: 0.5 + 0.3 * (s - 0.5),
        False,
    ),
    "concept shift: steeper": (lambda r, n: r.beta(2, 2, n), lambda s: s, False),
}

NANNYML = r"""
import json, sys
import pandas as pd
import nannyml as nml

reference = pd.read_csv(sys.argv[1])
out = {}
estimator = nml.CBPE(
    y_pred_proba="score", y_pred="prediction", y_true="target",
    metrics=["accuracy", "roc_auc"], problem_type="classification_binary", chunk_number=1,
)
estimator.fit(reference)
for path, name in zip(sys.argv[2::2], sys.argv[3::2]):
    frame = estimator.estimate(pd.read_csv(path)).filter(period="analysis").to_df()
    found = {}
    for metric in ("accuracy", "roc_auc"):
        row = frame[metric].iloc[0]
        found[metric] = {
            "value": float(row["value"]),
            "lower": float(row["lower_confidence_boundary"]),
            "upper": float(row["upper_confidence_boundary"]),
        }
    out[name] = found
print(json.dumps(out))
"""


def draw(rng: np.random.Generator, n: int, scenario: str) -> pd.DataFrame:
    scores_of, truth, _ = SCENARIOS[scenario]
    score = np.clip(scores_of(rng, n), 0.0, 1.0).round(4)
    target = (rng.random(n) < truth(score)).astype(int)
    return pd.DataFrame(
        {"score": score, "prediction": (score >= 0.5).astype(int), "target": target}
    )


def ours(calibration: outputs.Calibration, chunk: pd.DataFrame) -> dict[str, Any]:
    score = chunk["score"].to_numpy(dtype=np.float64)
    right = outputs.expected_right(calibration, score, chunk["prediction"].to_numpy() == 1)
    sums = outputs.Expected(int(right.size), float(right.sum()), float(np.sum(right * (1 - right))))
    found: dict[str, Any] = outputs.estimate(calibration, sums, (score, None))
    return found


def realised(chunk: pd.DataFrame) -> dict[str, float]:
    from scipy.stats import rankdata

    truth, score = chunk["target"].to_numpy(), chunk["score"].to_numpy()
    positives = int(truth.sum())
    negatives = truth.size - positives
    ranks = rankdata(score)
    auc = (ranks[truth == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives)
    return {"accuracy": float(np.mean(truth == chunk["prediction"])), "roc_auc": float(auc)}


def agreement(
    metric: str,
    names: list[str],
    chunks: dict[str, pd.DataFrame],
    calibration: outputs.Calibration,
    theirs: dict[str, Any],
) -> dict[str, Any]:
    diffs, ours_in, theirs_in, ours_err, theirs_err = [], 0, 0, [], []
    for name in names:
        mine, other = ours(calibration, chunks[name])[metric], theirs[name][metric]
        real = realised(chunks[name])[metric]
        diffs.append(abs(mine["value"] - other["value"]))
        ours_in += mine["lower"] <= real <= mine["upper"]
        theirs_in += other["lower"] <= real <= other["upper"]
        ours_err.append(abs(mine["value"] - real))
        theirs_err.append(abs(other["value"] - real))
    return {
        "chunks": len(names),
        "mean_abs_difference": float(np.mean(diffs)),
        "max_abs_difference": float(np.max(diffs)),
        "ours_interval_holds_realised": f"{ours_in}/{len(names)}",
        "nannyml_band_holds_realised": f"{theirs_in}/{len(names)}",
        "ours_mean_abs_error": float(np.mean(ours_err)),
        "nannyml_mean_abs_error": float(np.mean(theirs_err)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nannyml", default=str(ROOT / ".venv-nannyml/bin/python"))
    parser.add_argument("--reference", type=int, default=10_000)
    parser.add_argument("--chunk", type=int, default=5_000)
    parser.add_argument("--repeats", type=int, default=10, help="chunks per scenario")
    args = parser.parse_args()
    rng = np.random.default_rng(20261203)
    reference = draw(rng, args.reference, "same as reference")  # with labels
    calibration = outputs.calibrate(reference)
    assert calibration is not None
    chunks = {
        f"{scenario} #{i + 1}": draw(rng, args.chunk, scenario)
        for scenario in SCENARIOS
        for i in range(args.repeats)
    }
    with tempfile.TemporaryDirectory() as folder:
        reference.to_csv(Path(folder) / "reference.csv", index=False)
        argv = [args.nannyml, "-c", NANNYML, str(Path(folder) / "reference.csv")]
        for i, (name, chunk) in enumerate(chunks.items()):
            path = Path(folder) / f"chunk-{i}.csv"
            chunk.drop(columns="target").to_csv(path, index=False)
            argv += [str(path), name]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        print(done.stderr[-2000:], file=sys.stderr)
        return 1
    theirs = json.loads(done.stdout.strip().splitlines()[-1])
    rows: list[str] = []
    summary: dict[str, Any] = {}
    for metric in ("accuracy", "roc_auc"):
        for group, same_concept in (("covariate shift", True), ("concept shift", False)):
            names = [n for n in chunks if SCENARIOS[n.split(" #")[0]][2] == same_concept]
            summary[f"{metric}, {group}"] = agreement(metric, names, chunks, calibration, theirs)
        for name, chunk in chunks.items():
            mine, other = ours(calibration, chunk)[metric], theirs[name][metric]
            rows.append(
                f"{metric:9} {name:28} ours {mine['value']:.4f} "
                f"[{mine['lower']:.4f}, {mine['upper']:.4f}]  nannyml {other['value']:.4f} "
                f"[{other['lower']:.4f}, {other['upper']:.4f}]  "
                f"realised {realised(chunk)[metric]:.4f}"
            )
    print("\n".join(rows))
    print(json.dumps({"reference": args.reference, "chunk": args.chunk, **summary}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
