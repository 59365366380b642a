"""Synthetic traffic for the canary part of the demo: one hour of predictions with labels.

Rows come from the reference data, so drift stays quiet; each version is right with its own
probability, so the comparison has something real to find (or nothing, when they are equal).
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd


def write_hour(
    repo: Path,
    deployment: str,
    accuracy: dict[str, float],
    canary_share: float,
    records: int,
    start: datetime,
    seed: int,
) -> None:
    """Append `records` labelled predictions over the hour from `start`."""
    rng = random.Random(seed)
    reference = pd.read_csv(repo / "data" / "reference" / "cancer-detector-1.1.0.csv")
    rows = reference.to_dict("records")
    stable, canary = list(accuracy)
    logs, labels = repo / "logs" / deployment, repo / "labels" / deployment
    logs.mkdir(parents=True, exist_ok=True)
    labels.mkdir(parents=True, exist_ok=True)
    with (
        open(logs / "predictions.jsonl", "a") as log,
        open(labels / "labels.jsonl", "a") as truth,
    ):
        for i in range(records):
            row = dict(rows[rng.randrange(len(rows))])
            label = int(row.pop("target"))
            version = canary if rng.random() < canary_share else stable
            right = rng.random() < accuracy[version]
            prediction = label if right else 1 - label
            request = f"{deployment}-{seed}-{i}"
            record = {
                "timestamp": (start + timedelta(seconds=3600 * i / records)).isoformat(),
                "request_id": request,
                "model_version": version,
                "features": {k: float(v) for k, v in row.items()},
                "prediction": prediction,
                "score": round(0.8 if prediction else 0.2, 3),
                "latency_ms": round(rng.lognormvariate(1.6, 0.4), 3),
                "error": None,
            }
            log.write(json.dumps(record) + "\n")
            truth.write(json.dumps({"request_id": request, "label": label}) + "\n")
