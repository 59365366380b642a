"""The artifact store at an s3:// URI, end to end against a real S3 API (moto's server on
loopback): apply registers content-addressed blobs and lays out each served version; every
rendered storageUri is downloaded with KServe's own storage library and loaded the way the
runtime it names loads it."""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.kserve.crd import assert_valid
from tests.kserve.support import FEATURES, joblib_bytes, kserve_repo
from tests.support.cli import run_in
from tests.support.git import init_git
from tests.support.s3 import S3Bucket

NOW = "2026-06-01T12:00:00+00:00"
FORMATS = {"jobs": "joblib", "pickles": "pickle", "skopsy": "skops", "onnxy": "onnx"}
SKLEARN_SERVER_EXTENSIONS = (".joblib", ".pkl", ".pickle")
"""What KServe's sklearn server lists the model folder for (sklearnserver/model.py)."""

pytestmark = pytest.mark.slow


@pytest.fixture
def applied(tmp_path: Path, s3: S3Bucket) -> Path:
    root = tmp_path / "repo"
    kserve_repo(root, FORMATS, store=f"{s3.uri}/mlops")
    init_git(root)
    done = run_in(root, "apply", "--now", NOW)
    assert done.code == 0, done.seen
    assert "local folder" not in done.out
    return root


def manifest(root: Path, name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((root / f"rendered/kserve/{name}.yaml").read_text())
    return data


def test_apply_stores_content_addressed_blobs_and_layouts_in_s3(
    applied: Path, s3: S3Bucket
) -> None:
    keys = s3.keys("mlops/")
    blobs = [k for k in keys if k.startswith("mlops/sha256/")]
    # Two versions of four models: the joblib and pickle models hold the same bytes per
    # version, so content addressing keeps one blob for both.
    assert len(blobs) == 6
    for key in blobs:
        digest = key.removeprefix("mlops/sha256/").replace("/", "")
        assert hashlib.sha256(s3.get(key)).hexdigest() == digest
    layouts = sorted(k for k in keys if k.startswith("mlops/kserve/"))
    assert "mlops/kserve/jobs/1.0/model.joblib" in layouts
    assert "mlops/kserve/pickles/1.0.0/model.pkl" in layouts
    assert "mlops/kserve/skopsy/1.0/model.skops" in layouts
    assert "mlops/kserve/onnxy/1.0.0/onnxy/1/model.onnx" in layouts
    assert "mlops/kserve/onnxy/1.0.0/onnxy/config.pbtxt" in layouts
    assert len(layouts) == 10
    state = json.loads((applied / ".mlops/state/models/jobs.json").read_text())
    record = state["versions"]["1.0"]
    assert s3.get(f"mlops/{record['blob']}") == s3.get("mlops/kserve/jobs/1.0/model.joblib")
    for model in FORMATS:
        rendered = manifest(applied, f"{model}-prod")
        assert_valid(rendered)
        uri = rendered["spec"]["predictor"]["model"]["storageUri"]
        assert uri == f"{s3.uri}/mlops/kserve/{model}/1.0.0/"


def download(uri: str, out: Path) -> Path:
    from kserve_storage import Storage

    return Path(Storage.download(uri, str(out)))


def files_under(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def sklearn_server_load(model_dir: Path) -> Any:
    """KServe's sklearn server's load rule: exactly one file with one of its extensions in the
    folder (any other count is an error), read with joblib.load."""
    import joblib

    found = [
        p for p in model_dir.iterdir() if p.is_file() and p.name.endswith(SKLEARN_SERVER_EXTENSIONS)
    ]
    assert len(found) == 1, found
    return joblib.load(found[0])


@pytest.mark.parametrize("version", ["1.0", "1.0.0"])
def test_each_storage_uri_downloads_exactly_its_version_and_loads(
    applied: Path, s3: S3Bucket, tmp_path: Path, version: str
) -> None:
    """1.0 and 1.0.0 share a key prefix: each download holds its own files and no other's."""
    import numpy as np
    import onnxruntime

    from mlops_gitops.serve.kserve_runtime import SkopsModel

    for model, fmt in FORMATS.items():
        rendered = manifest(applied, f"{model}-prod")
        uri = (
            rendered["spec"]["predictor"]["model"]["storageUri"]
            if version == "1.0.0"
            else rendered["metadata"]["annotations"]["mlops-gitops/stable-storage-uri"]
        )
        folder = download(uri, tmp_path / model / version)
        if fmt in ("joblib", "pickle"):
            assert len(files_under(folder)) == 1
            loaded = sklearn_server_load(folder)
            assert loaded == pickle.loads(joblib_bytes(sum(map(ord, version))))
        elif fmt == "onnx":
            assert files_under(folder) == [f"{model}/1/model.onnx", f"{model}/config.pbtxt"]
            assert f'name: "{model}"' in (folder / model / "config.pbtxt").read_text()
            session = onnxruntime.InferenceSession(str(folder / model / "1" / "model.onnx"))
            (out,) = session.run(None, {"input": np.ones((2, 3), dtype=np.float32)})
            assert out.shape == (2, 1)
        else:
            assert files_under(folder) == ["model.skops"]
            env = {e["name"]: e["value"] for e in rendered["spec"]["predictor"]["model"]["env"]}
            if version == "1.0":
                env = {}  # the stable revision's manifest is gone; load without the checks
            served = SkopsModel(model, str(folder), environ=env)
            assert served.load()
            assert served.features == FEATURES
            assert served.estimator.predict(
                __import__("pandas").DataFrame([[1.0, 1.0, 0.0]], columns=FEATURES)
            ).tolist() in ([0], [1])


def test_the_skops_runtime_downloads_a_storage_uri_itself(applied: Path, s3: S3Bucket) -> None:
    from mlops_gitops.serve.kserve_runtime import SkopsModel

    rendered = manifest(applied, "skopsy-prod")
    model = rendered["spec"]["predictor"]["model"]
    env = {e["name"]: e["value"] for e in model["env"]}
    served = SkopsModel("skopsy-prod", model["storageUri"], environ=env)
    assert served.load()
