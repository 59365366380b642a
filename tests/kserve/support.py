"""Repositories whose versions are real artifacts of each format the kserve target renders."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from tests.support.artifacts import onnx_bytes
from tests.support.repos import KSERVE_PROJECT, SpecRepo

FEATURES = ["a", "b", "c"]


def fitted_classifier(seed: int = 0) -> Any:
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    x = pd.DataFrame(rng.normal(size=(60, 3)), columns=FEATURES)
    y = (x["a"] + x["b"] > 0).astype(int)
    return LogisticRegression().fit(x, y)


def joblib_bytes(seed: int = 0) -> bytes:
    """A pickle that joblib.load reads, of builtins only: today's registration scan calls every
    scikit-learn class in a pickle suspicious, so a fitted estimator could not be registered.
    (A plain pickle stream: joblib.dump's raw array bytes after the stream it cannot parse.)"""
    weights = {"features": FEATURES, "coef": [seed / 10.0, 1.0, -1.0], "intercept": 0.5}
    return pickle.dumps(weights, protocol=4)


def skops_bytes(seed: int = 0) -> bytes:
    import skops.io

    data: bytes = skops.io.dumps(fitted_classifier(seed))
    return data


def artifact(repo: SpecRepo, model: str, version: str, fmt: str) -> dict[str, Any]:
    suffix = {"joblib": "joblib", "pickle": "pkl", "skops": "skops", "onnx": "onnx"}[fmt]
    seed = sum(map(ord, version))
    data = {
        "joblib": lambda: joblib_bytes(seed),
        "pickle": lambda: joblib_bytes(seed),
        "skops": lambda: skops_bytes(seed),
        "onnx": lambda: onnx_bytes(f"{model}@{version}"),
    }[fmt]()
    rel = f"artifacts/{model}/{version}/model.{suffix}"
    repo.artifact(rel, data)
    return {"version": version, "artifact": rel, "format": fmt, "metrics": {"roc_auc": 0.95}}


def kserve_repo(
    root: Path,
    formats: dict[str, str],
    *,
    store: str | None = None,
    deployment: dict[str, Any] | None = None,
) -> SpecRepo:
    """One model per format (`model name -> format`, versions 1.0 and 1.0.0 each, the second a
    canary), each deployed on kserve as `<model>-prod`."""
    repo = SpecRepo(root)
    project: dict[str, Any] = dict(KSERVE_PROJECT)
    if store is not None:
        project["artifact_store"] = store
    repo.write_project(**project)
    for model, fmt in formats.items():
        versions = [artifact(repo, model, v, fmt) for v in ("1.0", "1.0.0")]
        repo.write_model(model, versions)
        spec = {
            "model": model,
            "stage": "production",
            "target": "kserve",
            "version": "1.0",
            "canary": {"version": "1.0.0", "traffic": 10},
            "resources": {"cpu": "1", "memory": "1Gi"},
        } | (deployment or {})
        repo.write_deployment(f"{model}-prod", spec)
    return repo
