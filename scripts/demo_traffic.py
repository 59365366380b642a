"""Synthetic prediction traffic for the demo: real model predictions, drift part way through.

Rows come from a model version's reference data; predictions and scores come from the real
skops artifacts; the second half of the traffic shifts the size features upward, as if a
new scanner were miscalibrated. Labels for part of the requests arrive in a separate file.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

DRIFTED = ("mean_radius", "mean_perimeter", "mean_area")


def _load(path: Path) -> Any:
    from skops.io import get_untrusted_types, load

    return load(path, trusted=get_untrusted_types(file=path))


def write_traffic(
    repo: Path,
    deployment: str,
    versions: dict[str, float],
    records: int,
    start: datetime,
    drift_after: float = 0.5,
    seed: int = 7,
) -> tuple[Path, Path]:
    """Append `records` predictions for `deployment` split across `versions` (share each)."""
    rng = random.Random(seed)
    reference = pd.read_csv(repo / "data" / "reference" / "cancer-detector-1.1.0.csv")
    features = reference.drop(columns=["target"])
    models = {
        v: _load(repo / "artifacts" / "cancer-detector" / v / "model.skops") for v in versions
    }
    logs = repo / "logs" / deployment
    labels = repo / "labels" / deployment
    logs.mkdir(parents=True, exist_ok=True)
    labels.mkdir(parents=True, exist_ok=True)
    log_path, label_path = logs / "predictions.jsonl", labels / "labels.jsonl"
    names, weights = list(versions), list(versions.values())
    with open(log_path, "a") as log, open(label_path, "a") as truth:
        for i in range(records):
            row = rng.randrange(len(features))
            x = features.iloc[[row]].copy()
            drifted = i >= records * drift_after
            if drifted:
                for column in DRIFTED:
                    x[column] = x[column] * 1.6
            version = rng.choices(names, weights)[0]
            model = models[version]
            score = float(model.predict_proba(x)[0][1])
            prediction = int(score >= 0.5)
            request = f"{deployment}-{seed}-{i}"
            stamp = start + timedelta(seconds=30 * i)
            record = {
                "timestamp": stamp.isoformat(),
                "request_id": request,
                "model_version": version,
                "features": {k: float(v) for k, v in x.iloc[0].items()},
                "prediction": prediction,
                "score": round(score, 6),
                "latency_ms": round(rng.lognormvariate(1.6, 0.4) + (3 if drifted else 0), 3),
                "error": None,
            }
            log.write(json.dumps(record) + "\n")
            if rng.random() < 0.6:
                label = int(reference.iloc[row]["target"])
                truth.write(json.dumps({"request_id": request, "label": label}) + "\n")
    return log_path, label_path


if __name__ == "__main__":
    import sys

    root = Path(sys.argv[1])
    write_traffic(
        root, "cancer-prod", {"1.1.0": 0.8, "1.2.0": 0.2}, 2000, datetime(2026, 11, 27, tzinfo=UTC)
    )


def send_traffic(
    url: str,
    repo: Path,
    deployment: str,
    requests: int,
    drift_after: float = 0.5,
    seed: int = 13,
) -> dict[str, int]:
    """POST predictions to a running `mlops-gitops serve`; ground truth goes to a labels file.

    Returns how many requests each model version answered.
    """
    import urllib.request

    rng = random.Random(seed)
    reference = pd.read_csv(repo / "data" / "reference" / "cancer-detector-1.1.0.csv")
    features = reference.drop(columns=["target"])
    labels = repo / "labels" / deployment
    labels.mkdir(parents=True, exist_ok=True)
    answered: dict[str, int] = {}
    with open(labels / "labels.jsonl", "a") as truth:
        for i in range(requests):
            row = rng.randrange(len(features))
            instance = {k: float(v) for k, v in features.iloc[row].items()}
            if i >= requests * drift_after:
                for column in DRIFTED:
                    instance[column] *= 1.6
            request_id = f"{deployment}-live-{seed}-{i}"
            body = json.dumps({"instances": [instance]}).encode()
            request = urllib.request.Request(
                f"{url}/v1/models/{deployment}:predict",
                data=body,
                headers={"Content-Type": "application/json", "X-Request-Id": request_id},
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                version = json.loads(response.read())["model_version"]
            answered[version] = answered.get(version, 0) + 1
            if rng.random() < 0.6:
                label = int(reference.iloc[row]["target"])
                truth.write(json.dumps({"request_id": request_id, "label": label}) + "\n")
    return answered
