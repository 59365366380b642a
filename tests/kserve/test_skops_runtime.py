"""The project's skops runtime, started as the image starts it (`python -m
mlops_gitops.serve.kserve_runtime`, kserve.ModelServer on loopback), answers KServe V1 and the
Open Inference Protocol for the example models, and refuses what was not audited."""

from __future__ import annotations

import csv
import functools
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mlops_gitops.providers.scan import load_skops, trusted_types
from mlops_gitops.safeio import dumps
from mlops_gitops.spec import models as spec_models
from mlops_gitops.spec.check import load as load_specs
from tests.kserve.crd import PROJECT

EXAMPLE = PROJECT / "example-repo"
MODELS = {
    "cancer": ("cancer-detector", "1.2.0"),
    "diabetes": ("diabetes-progression", "2.0.0"),
}

pytestmark = pytest.mark.slow


@functools.cache
def audited_types(model: str, version: str) -> list[str]:
    """The trusted types the example's spec lists for the version (what the scan audited)."""
    for (kind, _), item in load_specs(EXAMPLE).objects.items():
        if (
            kind == "Model"
            and isinstance(item.obj, spec_models.Model)
            and item.obj.metadata.name == model
        ):
            for entry in item.obj.spec.versions:
                if entry.version == version:
                    return list(trusted_types(entry))
    raise AssertionError(f"no version {version} of {model} in the example")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def layout(tmp_path: Path, model: str, version: str) -> Path:
    folder = tmp_path / "mnt" / model
    folder.mkdir(parents=True)
    shutil.copy(EXAMPLE / "artifacts" / model / version / "model.skops", folder / "model.skops")
    return folder


def reference_rows(model: str, version: str, count: int = 3) -> tuple[list[str], list[list[float]]]:
    path = EXAMPLE / "data" / "reference" / f"{model}-{version}.csv"
    with path.open() as handle:
        reader = csv.DictReader(handle)
        rows = [row for _, row in zip(range(count), reader, strict=False)]
    estimator = load_skops(
        EXAMPLE / "artifacts" / model / version / "model.skops", audited_types(model, version)
    )
    features = [str(n) for n in estimator.feature_names_in_]
    return features, [[float(row[name]) for name in features] for row in rows]


class Runtime:
    def __init__(self, process: subprocess.Popen[str], url: str, log: Path) -> None:
        self.process, self.url, self.log = process, url, log


def start(name: str, model_dir: Path, env: dict[str, str], log: Path) -> Runtime:
    port = free_port()
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlops_gitops.serve.kserve_runtime",
                f"--model_name={name}",
                f"--model_dir={model_dir}",
                f"--http_port={port}",
                f"--grpc_port={free_port()}",
                "--enable_grpc=false",
                "--workers=1",
            ],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    return Runtime(process, f"http://127.0.0.1:{port}", log)


def wait_ready(runtime: Runtime, name: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if runtime.process.poll() is not None:
            raise AssertionError(f"the runtime exited:\n{runtime.log.read_text()}")
        try:
            if httpx.get(f"{runtime.url}/v2/models/{name}/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"the runtime never got ready:\n{runtime.log.read_text()}")


def stop(runtime: Runtime) -> None:
    runtime.process.terminate()
    try:
        runtime.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        runtime.process.kill()
        runtime.process.wait()


@pytest.fixture(params=sorted(MODELS))
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Runtime]]:
    model, version = MODELS[request.param]
    folder = layout(tmp_path, model, version)
    digest = hashlib.sha256((folder / "model.skops").read_bytes()).hexdigest()
    env = {
        "MLOPS_GITOPS_SHA256": digest,
        "MLOPS_GITOPS_TRUSTED_TYPES": dumps(audited_types(model, version)),
    }
    name = f"{request.param}-prod"
    runtime = start(name, folder, env, tmp_path / "runtime.log")
    try:
        wait_ready(runtime, name)
        yield request.param, runtime
    finally:
        stop(runtime)


def test_the_runtime_answers_v1_and_v2_like_the_audited_model(
    served: tuple[str, Runtime],
) -> None:
    key, runtime = served
    model, version = MODELS[key]
    name = f"{key}-prod"
    features, rows = reference_rows(model, version)
    estimator = load_skops(
        EXAMPLE / "artifacts" / model / version / "model.skops", audited_types(model, version)
    )
    import pandas as pd

    expected = estimator.predict(pd.DataFrame(rows, columns=features)).tolist()

    v1 = httpx.post(f"{runtime.url}/v1/models/{name}:predict", json={"instances": rows}, timeout=30)
    assert v1.status_code == 200, v1.text
    assert v1.json()["predictions"] == pytest.approx(expected)

    v2 = httpx.post(
        f"{runtime.url}/v2/models/{name}/infer",
        json={
            "inputs": [
                {
                    "name": "input-0",
                    "shape": [len(rows), len(features)],
                    "datatype": "FP64",
                    "data": [x for row in rows for x in row],
                },
            ]
        },
        timeout=30,
    )
    assert v2.status_code == 200, v2.text
    body = v2.json()
    assert body["model_name"] == name
    (output,) = body["outputs"]
    assert output["shape"][0] == len(rows)
    assert output["data"] == pytest.approx(expected)

    models = httpx.get(f"{runtime.url}/v1/models", timeout=10).json()
    assert models["models"] == [name]
    wrong = httpx.post(
        f"{runtime.url}/v1/models/{name}:predict", json={"instances": [[1.0, 2.0]]}, timeout=10
    )
    assert wrong.status_code in (400, 500)
    assert f"needs {len(features)} values" in wrong.text


def test_the_runtime_refuses_bytes_other_than_the_audited_ones(tmp_path: Path) -> None:
    folder = layout(tmp_path, "cancer-detector", "1.2.0")
    env = {"MLOPS_GITOPS_SHA256": "0" * 64, "MLOPS_GITOPS_TRUSTED_TYPES": "[]"}
    runtime = start("cancer", folder, env, tmp_path / "runtime.log")
    try:
        assert runtime.process.wait(timeout=90) != 0
    finally:
        stop(runtime)
    log = runtime.log.read_text()
    assert "not the audited " + "0" * 64 in log


def test_the_runtime_refuses_types_the_scan_did_not_accept(tmp_path: Path) -> None:
    """A skops file holding a type outside the audited list is refused before it is built."""
    import skops.io

    from mlops_gitops.errors import MlopsError
    from mlops_gitops.serve.kserve_runtime import SkopsModel

    folder = tmp_path / "mnt"
    folder.mkdir()
    skops.io.dump({"when": __import__("datetime").date(2026, 1, 1)}, folder / "model.skops")
    with pytest.raises(MlopsError, match=r"untrusted types: datetime\.date"):
        SkopsModel("m", str(folder), environ={}).load()
    with pytest.raises(MlopsError, match="must be a JSON list"):
        SkopsModel("m", str(folder), environ={"MLOPS_GITOPS_TRUSTED_TYPES": "datetime.date"}).load()
    # Trusting it (as the version's trusted_types would) loads it, and a dict is no predictor.
    with pytest.raises(MlopsError, match="holds a dict, not a predictor"):
        SkopsModel(
            "m", str(folder), environ={"MLOPS_GITOPS_TRUSTED_TYPES": json.dumps(["datetime.date"])}
        ).load()


def test_the_runtime_wants_exactly_one_skops_file(tmp_path: Path) -> None:
    from kserve.errors import ModelMissingError

    from mlops_gitops.errors import MlopsError
    from mlops_gitops.serve.kserve_runtime import SkopsModel

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelMissingError):
        SkopsModel("m", str(empty), environ={}).load()
    two = layout(tmp_path, "cancer-detector", "1.2.0")
    shutil.copy(two / "model.skops", two / "other.skops")
    with pytest.raises(MlopsError, match=r"more than one \.skops file"):
        SkopsModel("m", str(two), environ={}).load()
