"""Loading served models by format, with the safety rules of registration.

skops files load trusting exactly skops' defaults and the version's trusted_types; joblib
and pickle only when the recorded scan passed; ONNX through onnxruntime; `python` artifacts
are a `module:function` entrypoint (or a file `path.py:function`) importable from the
repository.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlops_gitops.errors import MlopsError
from mlops_gitops.providers.scan import load_skops


@dataclass
class Loaded:
    version: str
    predict: Callable[[Any], Any]
    proba: Callable[[Any], Any] | None
    features: list[str] | None
    """Feature order for instances given as objects."""
    prepare: Callable[[Any], Any] | None = None
    """Run once on the input before predict and proba (a Pipeline's transformers)."""
    rows_as: str = "frame"
    """What predict is given: "frame" (a DataFrame when features are named, else an array),
    or "rows" (a list of lists, for `python` artifacts)."""


def load(
    repo_root: Path, entry: dict[str, Any], scan_verdict: str | None, trusted: Sequence[str]
) -> Loaded:
    """`trusted`: the version's `providers.scan.trusted_types` (skops files only)."""
    fmt = entry["format"]
    version = entry["version"]
    path = Path(entry["uri"])
    path = path if path.is_absolute() else repo_root / path
    if not path.exists():
        raise MlopsError(f"artifact of {version} is missing from the store ({entry['uri']})")
    if fmt == "python":
        return _python(path, version)
    if fmt == "skops":
        try:
            model = load_skops(path, trusted)
        except MlopsError as exc:
            raise MlopsError(f"skops artifact of {version}: {exc}") from None
        return _sklearn(version, model)
    if fmt in ("joblib", "pickle"):
        if scan_verdict != "clean":
            raise MlopsError(f"{fmt} artifact of {version} has no clean scan recorded; refusing")
        import joblib

        return _sklearn(version, joblib.load(path))
    if fmt == "onnx":
        return _onnx(version, path)
    raise MlopsError(f"serving format {fmt!r} is not supported")


def _sklearn(version: str, model: Any) -> Loaded:
    if not callable(getattr(model, "predict", None)):
        raise MlopsError(f"the artifact of {version} holds a {type(model).__name__}, no predictor")
    names = getattr(model, "feature_names_in_", None)
    features = list(names) if names is not None else None
    transforms, final = _unpipe(model)
    if not transforms or not callable(getattr(final, "predict", None)):
        proba = model.predict_proba if hasattr(model, "predict_proba") else None
        return Loaded(version, model.predict, proba, features)

    def prepare(x: Any) -> Any:
        for step in transforms:
            x = step.transform(x)
        return x

    proba = final.predict_proba if hasattr(final, "predict_proba") else None
    return Loaded(version, final.predict, proba, features, prepare=prepare)


def _unpipe(model: Any) -> tuple[list[Any], Any]:
    """A (nested) scikit-learn Pipeline as its transformers and its final estimator.

    Pipeline.predict and Pipeline.predict_proba each run every transformer; serving asks
    for both, so the transformers run once and the final estimator gets their output,
    exactly as the Pipeline would pass it.
    """
    try:
        from sklearn.pipeline import Pipeline
    except ImportError:
        return [], model
    transforms: list[Any] = []
    while isinstance(model, Pipeline):
        transforms += [t for _, t in model.steps[:-1] if t is not None and t != "passthrough"]
        model = model.steps[-1][1]
    return transforms, model


def _onnx(version: str, path: Path) -> Loaded:
    try:
        import onnxruntime as ort
    except ImportError:
        raise MlopsError("serving ONNX needs onnxruntime: install mlops-gitops[onnx]") from None
    session = ort.InferenceSession(str(path))
    name = session.get_inputs()[0].name

    def predict(x: Any) -> Any:
        return session.run(None, {name: np.asarray(x, dtype=np.float32)})[0]

    return Loaded(version, predict, None, None)


def _python(path: Path, version: str) -> Loaded:
    """A Python file whose `predict(rows)` returns one prediction per row.

    The file is the store's content-addressed copy, which has no `.py` suffix, so the
    source loader is named explicitly (a suffix-based lookup would find no loader).
    """
    import importlib.machinery
    import importlib.util

    name = f"mlops_served_{hashlib.sha256(str(path).encode()).hexdigest()[:16]}"
    loader = importlib.machinery.SourceFileLoader(name, str(path))
    spec = importlib.util.spec_from_loader(name, loader)
    if spec is None:
        raise MlopsError(f"cannot load python artifact of {version}")
    module = importlib.util.module_from_spec(spec)
    try:
        loader.exec_module(module)
    except Exception as exc:
        raise MlopsError(f"python artifact of {version} failed to import: {exc}") from None
    func = getattr(module, "predict", None)
    if not callable(func):
        raise MlopsError(f"python artifact of {version} has no predict(rows) function")
    proba = getattr(module, "predict_proba", None)
    features = getattr(module, "FEATURES", None)
    return Loaded(
        version,
        func,
        proba if callable(proba) else None,
        list(features) if features is not None else None,
        rows_as="rows",
    )
