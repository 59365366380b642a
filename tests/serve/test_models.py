"""Loading served models by format, with the safety rules of registration.

Artifacts are served from the store's content-addressed copies, which have no file suffix;
each case below loads such a copy.
"""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops_gitops.errors import MlopsError
from mlops_gitops.serve.batch import infer_groups
from mlops_gitops.serve.models import Artifact, load
from tests.serve.helpers import FEATURES
from tests.support.repos import EXAMPLE_REPO

TRAIN = EXAMPLE_REPO / "data" / "train" / "cancer.csv"


def blob(tmp_path: Path, data: bytes, name: str = "f5e87f0112c1543df6abcb2367") -> Path:
    path = tmp_path / ".mlops" / "artifacts" / "sha256" / name[:2] / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def artifact(
    path: Path,
    fmt: str,
    version: str = "9.9.9",
    verdict: str | None = None,
    trusted: list[str] | tuple[str, ...] = (),
) -> Artifact:
    """A version as registration records it: the blob's sha256 and size at that time."""
    data = path.read_bytes() if path.exists() else b""
    return Artifact(
        version=version,
        format=fmt,
        sha256=hashlib.sha256(data).hexdigest(),
        path=path,
        size=len(data),
        scan_verdict=verdict,
        trusted_types=tuple(trusted),
    )


def test_skops_predicts_from_named_features(tmp_path: Path) -> None:
    source = EXAMPLE_REPO / "artifacts/cancer-detector/1.1.0/model.skops"
    path = blob(tmp_path, source.read_bytes())
    loaded = load(artifact(path, "skops", "1.1.0", "clean", ()))
    assert loaded.features == FEATURES and loaded.proba is not None
    rows = pd.read_csv(TRAIN)[FEATURES].head(3).to_numpy().tolist()
    (outcome,) = infer_groups(loaded, [rows])
    assert outcome.error is None and len(outcome.predictions) == 3
    assert outcome.probabilities is not None and len(outcome.probabilities[0]) == 2


def test_skops_with_untrusted_types_is_refused_unless_trusted(tmp_path: Path) -> None:
    import skops.io
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    frame = pd.read_csv(TRAIN).head(100)
    model = make_pipeline(FunctionTransformer(func=abs), LogisticRegression(max_iter=500))
    model.fit(frame[FEATURES], frame["target"])  # abs: a function skops does not trust
    path = blob(tmp_path, skops.io.dumps(model))
    with pytest.raises(MlopsError, match="untrusted types"):
        load(artifact(path, "skops", "9.9.9", "clean", ()))
    untrusted = skops.io.get_untrusted_types(file=path)
    assert untrusted == ["builtins.abs"]
    loaded = load(artifact(path, "skops", "9.9.9", "clean", untrusted))
    (outcome,) = infer_groups(loaded, [frame[FEATURES].head(2).to_numpy().tolist()])
    assert outcome.predictions == model.predict(frame[FEATURES].head(2)).tolist()


def test_skops_without_a_predictor_is_refused(tmp_path: Path) -> None:
    import skops.io
    from sklearn.preprocessing import StandardScaler

    path = blob(tmp_path, skops.io.dumps(StandardScaler()))
    with pytest.raises(MlopsError, match="StandardScaler, no predictor"):
        load(artifact(path, "skops", "9.9.9", "clean", ()))


def test_python_artifact_from_the_store(tmp_path: Path) -> None:
    """`predict(rows)` gets a list of rows in FEATURES order (objects are reordered)."""
    code = (
        'FEATURES = ["a", "b"]\n\n\n'
        "def predict(rows):\n"
        "    assert isinstance(rows, list)\n"
        "    return [r[0] * 10 + r[1] for r in rows]\n\n\n"
        "def predict_proba(rows):\n"
        "    return [[0.25, 0.75] for _ in rows]\n"
    )
    path = blob(tmp_path, code.encode())
    loaded = load(artifact(path, "python", "9.9.9", None, ()))
    assert loaded.features == ["a", "b"]
    (outcome,) = infer_groups(loaded, [[[1, 2], [3, 4]]])
    assert outcome.predictions == [12, 34] and outcome.probabilities == [[0.25, 0.75]] * 2


@pytest.mark.parametrize(
    ("code", "message"),
    [("def predict(:\n", "failed to import"), ("PREDICT = 1\n", "no predict")],
)
def test_broken_python_artifacts_are_refused(tmp_path: Path, code: str, message: str) -> None:
    with pytest.raises(MlopsError, match=message):
        load(artifact(blob(tmp_path, code.encode()), "python"))


def test_joblib_only_with_a_clean_recorded_scan(tmp_path: Path) -> None:
    import joblib
    from sklearn.linear_model import LogisticRegression

    frame = pd.read_csv(TRAIN)
    model = LogisticRegression(max_iter=500).fit(frame[FEATURES[:2]], frame["target"])
    saved = tmp_path / "model.joblib"
    joblib.dump(model, saved)
    path = blob(tmp_path, saved.read_bytes())
    for verdict in (None, "unsafe", "error", "not-needed"):
        with pytest.raises(MlopsError, match="no clean scan"):
            load(artifact(path, "joblib", "9.9.9", verdict, ()))
    loaded = load(artifact(path, "joblib", "9.9.9", "clean", ()))
    assert loaded.features == FEATURES[:2]
    (outcome,) = infer_groups(loaded, [[[12.0, 20.0]]])
    assert (
        outcome.predictions
        == model.predict(pd.DataFrame([[12.0, 20.0]], columns=FEATURES[:2])).tolist()
    )


@pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is not None, reason="installed")
def test_onnx_without_onnxruntime_says_which_extra(tmp_path: Path) -> None:
    with pytest.raises(MlopsError, match=r"mlops-gitops\[onnx\]"):
        load(artifact(blob(tmp_path, b"onnx"), "onnx", "9.9.9", "not-needed", ()))


def test_missing_artifact_and_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(MlopsError, match="missing from the store"):
        load(artifact(tmp_path / "gone", "skops", "9.9.9", "clean", ()))
    with pytest.raises(MlopsError, match="not supported"):
        load(artifact(blob(tmp_path, b"x"), "safetensors", "9.9.9", "not-needed", ()))


def test_a_failing_model_fails_only_its_own_request_in_a_batch(tmp_path: Path) -> None:
    """A joint call that fails is retried request by request; a ValueError or TypeError is
    the request's bad input, any other exception the model's error."""
    code = (
        "def predict(rows):\n"
        "    out = []\n"
        "    for r in rows:\n"
        "        if r[0] == 'boom':\n"
        "            raise KeyError('model bug')\n"
        "        out.append(float(r[0]))\n"
        "    return out\n"
    )
    loaded = load(artifact(blob(tmp_path, code.encode()), "python"))
    good, bad, bug = [[1]], [["x"]], [["boom"]]
    outcomes = infer_groups(loaded, [good, bad, good, bug])
    assert [o.predictions for o in outcomes] == [[1.0], [None], [1.0], [None]]
    assert [o.bad_input for o in outcomes] == [False, True, False, False]
    assert outcomes[3].error is not None and "KeyError" in outcomes[3].error
    np.testing.assert_equal(outcomes[1].probabilities, None)
    shutil.rmtree(tmp_path / ".mlops")
