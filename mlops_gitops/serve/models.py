"""Loading served models by format, with the safety rules of registration.

skops files load with the types their recorded scan allowed; joblib and pickle only when
the recorded scan passed; ONNX through onnxruntime; `python` artifacts are a
`module:function` entrypoint (or a file `path.py:function`) importable from the repository.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlops_gitops.errors import MlopsError


@dataclass
class Loaded:
    version: str
    predict: Callable[[Any], Any]
    proba: Callable[[Any], Any] | None
    features: list[str] | None
    """Feature order for instances given as objects."""


def load(
    repo_root: Path, entry: dict[str, Any], scan_verdict: str | None, trusted: list[str]
) -> Loaded:
    fmt = entry["format"]
    version = entry["version"]
    path = Path(entry["uri"])
    path = path if path.is_absolute() else repo_root / path
    if not path.exists():
        raise MlopsError(f"artifact of {version} is missing from the store ({entry['uri']})")
    if fmt == "python":
        return _python(path, version)
    if fmt == "skops":
        from skops.io import get_untrusted_types
        from skops.io import load as skops_load

        untrusted = get_untrusted_types(file=path)
        allowed = [
            t for t in untrusted if t.startswith(("sklearn.", "numpy.", "scipy.")) or t in trusted
        ]
        if len(allowed) != len(untrusted):
            raise MlopsError(f"skops artifact of {version} holds untrusted types")
        return _sklearn(version, skops_load(path, trusted=allowed))
    if fmt in ("joblib", "pickle"):
        if scan_verdict != "clean":
            raise MlopsError(f"{fmt} artifact of {version} has no clean scan recorded; refusing")
        import joblib

        return _sklearn(version, joblib.load(path))
    if fmt == "onnx":
        return _onnx(version, path)
    raise MlopsError(f"serving format {fmt!r} is not supported")


def _sklearn(version: str, model: Any) -> Loaded:
    names = getattr(model, "feature_names_in_", None)
    proba = model.predict_proba if hasattr(model, "predict_proba") else None
    return Loaded(version, model.predict, proba, list(names) if names is not None else None)


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
    """A Python file whose `predict(rows)` returns one prediction per row."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"mlops_served_{abs(hash(path))}", path)
    if spec is None or spec.loader is None:
        raise MlopsError(f"cannot load python artifact of {version}")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise MlopsError(f"python artifact of {version} failed to import: {exc}") from None
    func = getattr(module, "predict", None)
    if not callable(func):
        raise MlopsError(f"python artifact of {version} has no predict(rows) function")
    proba = getattr(module, "predict_proba", None)
    return Loaded(
        version, func, proba if callable(proba) else None, getattr(module, "FEATURES", None)
    )
