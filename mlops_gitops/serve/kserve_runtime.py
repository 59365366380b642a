"""mlops-gitops' KServe runtime for skops artifacts, built on KServe's Python SDK.

KServe's sklearn server loads only joblib and pickle files (code runs while they load), and
MLServer has no skops support, so skops versions are served by this runtime
(`deploy/kserve/clusterservingruntime-skops.yaml`, image `deploy/runtime/Dockerfile`). It loads
through the same function the registration scan audits with (`providers.scan.load_skops`),
with the trusted types and sha256 the rendered InferenceService passes in its environment:
the cluster runs exactly the bytes and the types that were audited.

Run: `python -m mlops_gitops.serve.kserve_runtime --model_name NAME --model_dir DIR`
(plus `kserve.ModelServer`'s options such as `--http_port`). It answers KServe's V1
(`/v1/models/NAME:predict`) and the Open Inference Protocol (`/v2/models/NAME/infer`).
"""

from __future__ import annotations

import argparse
import hashlib
import os
from pathlib import Path
from typing import Any

import kserve
import numpy as np
from kserve.errors import InferenceError, ModelMissingError
from kserve.utils.utils import get_predict_input, get_predict_response

from mlops_gitops.errors import MlopsError
from mlops_gitops.providers.scan import load_skops
from mlops_gitops.safeio import loads

SHA256_ENV = "MLOPS_GITOPS_SHA256"
TRUSTED_TYPES_ENV = "MLOPS_GITOPS_TRUSTED_TYPES"
SUFFIX = ".skops"
CHUNK = 1024 * 1024


def find_model_file(model_dir: Path) -> Path:
    """Exactly one `*.skops` file in the folder (the rendered layout holds `model.skops`)."""
    found = sorted(p for p in model_dir.iterdir() if p.is_file() and p.name.endswith(SUFFIX))
    if not found:
        raise ModelMissingError(str(model_dir))
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise MlopsError(f"more than one {SUFFIX} file in {model_dir} ({names}); expected one")
    return found[0]


def trusted_types_from_env(environ: dict[str, str]) -> list[str]:
    raw = environ.get(TRUSTED_TYPES_ENV, "[]")
    try:
        value = loads(raw)
    except ValueError:
        value = None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise MlopsError(f"{TRUSTED_TYPES_ENV} must be a JSON list of type names, not {raw!r}")
    return value


def check_sha256(path: Path, expected: str) -> None:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    if digest.hexdigest() != expected.lower():
        raise MlopsError(
            f"{path.name} has sha256 {digest.hexdigest()}, not the audited {expected};"
            " refusing to load it"
        )


def local_model_dir(model_dir: str) -> Path:
    """The folder to load from: KServe's storage initializer has usually filled it already;
    a URI is downloaded with KServe's storage library, as the initializer would."""
    if Path(model_dir).is_dir():
        return Path(model_dir)
    from kserve_storage import Storage

    return Path(Storage.download(model_dir))


class SkopsModel(kserve.Model):  # type: ignore[misc]
    """A scikit-learn estimator saved with skops, loaded with the audited trusted types."""

    def __init__(self, name: str, model_dir: str, environ: dict[str, str] | None = None) -> None:
        super().__init__(name)
        self.model_dir = model_dir
        self.environ = dict(os.environ if environ is None else environ)
        self.estimator: Any = None
        self.features: list[str] | None = None
        self.ready = False

    def load(self) -> bool:
        path = find_model_file(local_model_dir(self.model_dir))
        expected = self.environ.get(SHA256_ENV)
        if expected:
            check_sha256(path, expected)
        estimator = load_skops(path, trusted_types_from_env(self.environ))
        if not callable(getattr(estimator, "predict", None)):
            raise MlopsError(f"{path.name} holds a {type(estimator).__name__}, not a predictor")
        self.estimator = estimator
        names = getattr(estimator, "feature_names_in_", None)
        self.features = [str(n) for n in names] if names is not None else None
        self.ready = True
        return self.ready

    def _frame(self, inputs: Any) -> Any:
        """Rows as the estimator was fitted: with its feature names when it has them."""
        if self.features is None or not isinstance(inputs, np.ndarray) or inputs.ndim != 2:
            return inputs
        if inputs.shape[1] != len(self.features):
            raise InferenceError(
                f"each instance needs {len(self.features)} values ({', '.join(self.features)}),"
                f" got {inputs.shape[1]}"
            )
        import pandas as pd

        return pd.DataFrame(inputs, columns=self.features)

    def predict(
        self,
        payload: Any,
        headers: dict[str, str] | None = None,
        response_headers: dict[str, str] | None = None,
    ) -> Any:
        try:
            inputs = self._frame(get_predict_input(payload, columns=self.features))
            result = self.estimator.predict(inputs)
        except InferenceError:
            raise
        except Exception as exc:
            raise InferenceError(str(exc)) from exc
        return get_predict_response(payload, result, self.name)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(parents=[kserve.model_server.parser])
    parser.add_argument("--model_dir", default="/mnt/models", help="Folder or URI of the model.")
    args, _ = parser.parse_known_args(argv)
    model = SkopsModel(args.model_name, args.model_dir)
    model.load()
    kserve.ModelServer().start([model])


if __name__ == "__main__":
    main()
