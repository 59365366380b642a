"""Helpers for the monitoring tests: a small spec repository on disk, log records, git.

The repository (`MonitorRepo`) has a classification model `clf` (versions 1.0.0 and 1.1.0,
each with a small deterministic reference CSV of a numeric feature `x` and a categorical
feature `colour`), a regression model `reg`, and deployments whose monitoring settings each
test chooses. Artifacts are safetensors files of fixed bytes: no scan needed.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tests.support.git import git, init_git
from tests.support.repos import SpecRepo

NOW = "2026-11-28T00:00:00Z"
START = datetime(2026, 11, 27, tzinfo=UTC)
COLOURS = ("red", "green", "blue")


def commit_count(repo: Path) -> int:
    return int(git(repo, "rev-list", "--count", "HEAD").strip())


def reference_frame(seed: int, n: int = 300, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": np.round(rng.normal(10.0 + shift, 2.0, n), 4),
            "colour": rng.choice(COLOURS, n, p=[0.5, 0.3, 0.2]),
            "target": rng.integers(0, 2, n),
        }
    )


class MonitorRepo(SpecRepo):
    """A spec repository for monitoring tests, written from Python values."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        root.mkdir(parents=True, exist_ok=True)
        self.write_project("monitor-test", git={"author": "mlops-gitops <mlops-gitops@localhost>"})
        versions = []
        for i, version in enumerate(("1.0.0", "1.1.0")):
            ref = f"data/reference/clf-{version}.csv"
            (root / ref).parent.mkdir(parents=True, exist_ok=True)
            reference_frame(seed=i).to_csv(root / ref, index=False)
            versions.append(
                self.tensor("clf", version) | {"reference_data": ref, "metrics": {"f1": 0.9}}
            )
        self.write_model("clf", versions)
        self.write_model("reg", [self.tensor("reg", "1.0.0")], task="regression")

    def deployment(
        self,
        name: str,
        *,
        model: str = "clf",
        version: str = "1.0.0",
        stage: str = "production",
        canary: tuple[str, int] | None = None,
        monitoring: Mapping[str, Any] | None = None,
        **extra: Any,
    ) -> None:
        spec: dict[str, Any] = {"model": model, "stage": stage, "version": version}
        if canary:
            spec["canary"] = {"version": canary[0], "traffic": canary[1]}
        if monitoring is not None:
            spec["monitoring"] = dict(monitoring)
        self.write_deployment(name, spec | extra)

    def init_git(self) -> None:
        init_git(self.root)


def record(
    i: int,
    version: str = "1.0.0",
    *,
    start: datetime = START,
    step: float = 60.0,
    x: float | str | None = None,
    colour: str | None = None,
    prediction: Any = None,
    score: float | None = None,
    label: Any = None,
    latency: float | None = None,
    error: str | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """A valid prediction record; defaults are deterministic functions of `i`."""
    out: dict[str, Any] = {
        "timestamp": (start + timedelta(seconds=step * i)).isoformat().replace("+00:00", "Z"),
        "request_id": request_id or f"r{i}",
        "model_version": version,
        "features": {
            "x": 10.0 + (i % 7) - 3.0 if x is None else x,
            "colour": COLOURS[i % 3] if colour is None else colour,
        },
        "prediction": i % 2 if prediction is None else prediction,
        "score": score,
        "latency_ms": 5.0 + i % 10 if latency is None else latency,
        "error": error,
    }
    if label is not None:
        out["label"] = label
    return out


def jsonl(records: Iterable[Mapping[str, Any]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def append(path: Path, text: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as handle:
        handle.write(text.encode() if isinstance(text, str) else text)


def write_csv(path: Path, records: Iterable[Mapping[str, Any]], features: Sequence[str]) -> None:
    """Records as CSV with flattened `feature.<name>` columns."""
    columns = [
        "timestamp",
        "request_id",
        "model_version",
        *[f"feature.{f}" for f in features],
        "prediction",
        "score",
        "label",
        "latency_ms",
        "error",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        for r in records:
            row = []
            for column in columns:
                if column.startswith("feature."):
                    value = r["features"].get(column[8:])
                else:
                    value = r.get(column)
                row.append("" if value is None else value)
            writer.writerow(row)


def flat_frame(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Records as a DataFrame with `feature.<name>` columns (for Parquet)."""
    rows = []
    for r in records:
        row = {k: v for k, v in r.items() if k != "features"}
        row |= {f"feature.{k}": v for k, v in r["features"].items()}
        rows.append(row)
    return pd.DataFrame(rows)


def read_report(repo: Path, deployment: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((repo / "reports" / deployment / "latest.json").read_text())
    return data
