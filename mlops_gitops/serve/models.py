"""Loading served models by format, with the safety rules of registration.

The blob is read once, checked against the size and sha256 recorded at registration and
loaded from those same bytes, so a blob swapped in the store is refused (never served as
the recorded version) and cannot be swapped again between the check and the load. skops
files load through `providers.scan.load_skops` with the version's trusted types, as the
scan; joblib and pickle only when the recorded scan passed; ONNX through onnxruntime;
`python` artifacts are a source file defining `predict(rows)`.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlops_gitops.errors import MlopsError
from mlops_gitops.providers.pickles import OverBudget
from mlops_gitops.providers.scan import load_skops


@dataclass(frozen=True)
class Artifact:
    """What recorded state says one served version is, and where its blob lies."""

    version: str
    format: str
    sha256: str
    path: Path
    size: int | None = None
    scan_verdict: str | None = None
    trusted_types: tuple[str, ...] = ()


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
    dtype: str = "float64"
    """What numbers the model computes in: "float64", "float32" (ONNX) or "any" (`python`
    artifacts get the values as sent). Values that do not fit are the client's error."""
    allow_nan: bool = False
    """Whether the model accepts missing values (NaN, JSON null)."""
    output_datatype: str = "FP64"
    """The Open Inference Protocol datatype of the predictions, for model metadata."""


def load(artifact: Artifact) -> Loaded:
    data = read_verified(artifact)
    fmt, version = artifact.format, artifact.version
    if fmt == "python":
        return _python(data, artifact.sha256, version)
    if fmt == "skops":
        return _sklearn(version, _skops(data, version, artifact.trusted_types))
    if fmt in ("joblib", "pickle"):
        if artifact.scan_verdict != "clean":
            raise MlopsError(f"{fmt} artifact of {version} has no clean scan recorded; refusing")
        import joblib

        return _sklearn(version, joblib.load(io.BytesIO(data)))
    if fmt == "onnx":
        return _onnx(version, data)
    raise MlopsError(f"serving format {fmt!r} is not supported")


def read_verified(artifact: Artifact) -> bytes:
    """The blob's bytes, only if they are a regular file with the recorded size and sha256."""
    version = artifact.version
    try:
        fd = os.open(artifact.path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise MlopsError(
            f"artifact of {version} is missing from the store ({artifact.path})"
        ) from None
    except OSError as exc:
        raise MlopsError(f"artifact of {version} cannot be read: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise MlopsError(f"artifact of {version} is not a regular file ({artifact.path})")
        if artifact.size is not None and info.st_size != artifact.size:
            raise MlopsError(
                f"artifact of {version} in the store has {info.st_size} bytes, "
                f"{artifact.size} recorded: the blob was replaced; refusing to serve it"
            )
        data = handle.read()
    found = hashlib.sha256(data).hexdigest()
    if found != artifact.sha256:
        raise MlopsError(
            f"artifact of {version} in the store has sha256 {found[:12]}..., "
            f"{artifact.sha256[:12]}... recorded: the blob was replaced; refusing to serve it"
        )
    return data


def _skops(data: bytes, version: str, trusted: tuple[str, ...]) -> Any:
    """The verified bytes through the one skops loader of the tool: exactly skops' defaults
    and the version's `trusted_types` (`providers.scan.trusted_types`), as the scan."""
    try:
        return load_skops(data, trusted)
    except (MlopsError, OverBudget) as exc:
        raise MlopsError(f"skops artifact of {version}: {exc}") from None


def _sklearn(version: str, model: Any) -> Loaded:
    if not callable(getattr(model, "predict", None)):
        raise MlopsError(f"the artifact of {version} holds a {type(model).__name__}, no predictor")
    names = getattr(model, "feature_names_in_", None)
    features = list(names) if names is not None else None
    transforms, final = _unpipe(model)
    allow_nan = _allows_nan(model)
    datatype = _output_datatype(getattr(final, "classes_", None))
    if not transforms or not callable(getattr(final, "predict", None)):
        proba = model.predict_proba if hasattr(model, "predict_proba") else None
        return Loaded(
            version, model.predict, proba, features, allow_nan=allow_nan, output_datatype=datatype
        )

    def prepare(x: Any) -> Any:
        for step in transforms:
            x = step.transform(x)
        return x

    proba = final.predict_proba if hasattr(final, "predict_proba") else None
    return Loaded(
        version,
        final.predict,
        proba,
        features,
        prepare=prepare,
        allow_nan=allow_nan,
        output_datatype=datatype,
    )


def _allows_nan(model: Any) -> bool:
    try:
        from sklearn.utils import get_tags

        return bool(get_tags(model).input_tags.allow_nan)
    except Exception:  # not a scikit-learn estimator, or an older scikit-learn
        return False


def _output_datatype(classes: Any) -> str:
    """Classes' dtype for a classifier; a regressor's predictions are FP64."""
    if classes is None:
        return "FP64"
    kind = np.asarray(classes).dtype.kind
    return {"b": "BOOL", "i": "INT64", "u": "UINT64", "f": "FP64"}.get(kind, "BYTES")


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


ONNX_TYPES = {"tensor(float)": "FP32", "tensor(double)": "FP64", "tensor(int64)": "INT64"}


def _onnx(version: str, data: bytes) -> Loaded:
    try:
        import onnxruntime as ort
    except ImportError:
        raise MlopsError("serving ONNX needs onnxruntime: install mlops-gitops[onnx]") from None
    try:
        session = ort.InferenceSession(data)
    except Exception as exc:
        raise MlopsError(f"ONNX artifact of {version} does not load: {exc}") from None
    name = session.get_inputs()[0].name

    def predict(x: Any) -> Any:
        return session.run(None, {name: np.asarray(x, dtype=np.float32)})[0]

    output = ONNX_TYPES.get(session.get_outputs()[0].type, "FP32")
    return Loaded(version, predict, None, None, dtype="float32", output_datatype=output)


def _python(data: bytes, sha256: str, version: str) -> Loaded:
    """A Python source whose `predict(rows)` returns one prediction per row."""
    import types

    module = types.ModuleType(f"mlops_served_{sha256[:16]}")
    module.__file__ = f"<artifact {version}>"
    try:
        exec(compile(data, module.__file__, "exec"), module.__dict__)
    except Exception as exc:
        raise MlopsError(f"python artifact of {version} failed to import: {exc}") from None
    func = getattr(module, "predict", None)
    if not callable(func):
        raise MlopsError(f"python artifact of {version} has no predict(rows) function")
    proba = getattr(module, "predict_proba", None)
    features = getattr(module, "FEATURES", None)
    datatype = getattr(module, "OUTPUT_DATATYPE", "FP64")
    return Loaded(
        version,
        func,
        proba if callable(proba) else None,
        list(features) if features is not None else None,
        rows_as="rows",
        dtype="any",
        output_datatype=datatype if isinstance(datatype, str) else "FP64",
    )
