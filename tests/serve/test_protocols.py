"""Protocol conformance, checked with the clients users run: Triton's `tritonclient.http`
(Open Inference Protocol V2) and the KServe SDK's `InferenceRESTClient` (V1 and V2), against
`mlops-gitops serve` on a loopback port.

The repository is example-repo applied (cancer-prod: 1.1.0 with 1.2.0 on a 20% canary;
diabetes-prod: 2.0.0, a regression model).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import tritonclient.http as triton
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig
from tritonclient.utils import InferenceServerException

from tests.serve.helpers import (
    FEATURES,
    CliServer,
    LiveServer,
    bucket,
    instances,
    reference_model,
)
from tests.support.cli import run_cli
from tests.support.repos import EXAMPLE_REPO

STABLE, CANARY = "1.1.0", "1.2.0"


def table(count: int, offset: int = 0) -> np.ndarray[Any, Any]:
    return np.array([[r[f] for f in FEATURES] for r in instances(count, offset)], np.float64)


def expected(version: str, rows: np.ndarray[Any, Any]) -> tuple[Any, Any]:
    model = reference_model("cancer-detector", version)
    frame = pd.DataFrame(rows, columns=FEATURES)
    return model.predict(frame), model.predict_proba(frame)


@pytest.fixture
def client(live: CliServer) -> Iterator[triton.InferenceServerClient]:
    connection = triton.InferenceServerClient(live.url.removeprefix("http://"))
    yield connection
    connection.close()


def request_id_for(version: str) -> str:
    """A request id the documented split sends to `version` of cancer-prod (20% canary)."""
    return next(f"id-{i}" for i in range(1000) if (bucket(f"id-{i}") < 20) == (version == CANARY))


# ---------------------------------------------------------------- tritonclient (V2)


def test_triton_health_metadata_and_readiness(client: triton.InferenceServerClient) -> None:
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("cancer-prod")
    assert client.is_model_ready("cancer-prod", model_version=CANARY)
    assert not client.is_model_ready("no-such-deployment")
    server = client.get_server_metadata()
    assert server["name"] == "mlops-gitops" and "binary_tensor_data" in server["extensions"]
    meta = client.get_model_metadata("cancer-prod")
    assert meta["name"] == "cancer-prod" and meta["versions"] == [STABLE, CANARY]
    assert [i["name"] for i in meta["inputs"]] == FEATURES
    assert {(i["datatype"], tuple(i["shape"])) for i in meta["inputs"]} == {("FP64", (-1,))}
    assert meta["outputs"] == [
        {"name": "predict", "datatype": "INT64", "shape": [-1]},
        {"name": "predict_proba", "datatype": "FP64", "shape": [-1, -1]},
    ]
    regression = client.get_model_metadata("diabetes-prod")
    assert regression["outputs"] == [{"name": "predict", "datatype": "FP64", "shape": [-1]}]
    with pytest.raises(InferenceServerException, match="no deployment 'nope'"):
        client.get_model_metadata("nope")


@pytest.mark.parametrize("binary", [True, False])
def test_triton_infer_matches_the_model_that_served(
    client: triton.InferenceServerClient, binary: bool
) -> None:
    """A 2-D FP64 input, as binary tensor data or JSON; outputs in the same encoding."""
    rows = table(5)
    for version in (STABLE, CANARY):
        tensor = triton.InferInput("input-0", list(rows.shape), "FP64")
        tensor.set_data_from_numpy(rows, binary_data=binary)
        outputs = [
            triton.InferRequestedOutput(name, binary_data=binary)
            for name in ("predict", "predict_proba")
        ]
        result = client.infer(
            "cancer-prod", [tensor], outputs=outputs, request_id=request_id_for(version)
        )
        response = result.get_response()
        assert response["model_version"] == version
        assert response["id"] == request_id_for(version)
        labels, probabilities = expected(version, rows)
        assert result.as_numpy("predict").dtype == np.int64
        np.testing.assert_array_equal(result.as_numpy("predict"), labels)
        np.testing.assert_allclose(result.as_numpy("predict_proba"), probabilities, rtol=1e-12)
        assert ("parameters" in response["outputs"][0]) is binary


def test_triton_columns_by_feature_and_requested_outputs(
    client: triton.InferenceServerClient,
) -> None:
    """One 1-D input per feature (any order), FP32 data, only `predict` asked for."""
    rows = table(4, offset=20)
    tensors = []
    for column, name in reversed(list(enumerate(FEATURES))):
        tensor = triton.InferInput(name, [4], "FP32")
        tensor.set_data_from_numpy(rows[:, column].astype(np.float32))
        tensors.append(tensor)
    outputs = [triton.InferRequestedOutput("predict")]
    result = client.infer("cancer-prod", tensors, outputs=outputs, request_id="columns")
    version = result.get_response()["model_version"]
    labels, _ = expected(version, rows.astype(np.float32).astype(np.float64))
    np.testing.assert_array_equal(result.as_numpy("predict"), labels)
    assert result.as_numpy("predict_proba") is None


def test_triton_pinned_version_and_regression(client: triton.InferenceServerClient) -> None:
    rows = table(3)
    tensor = triton.InferInput("input-0", [3, 10], "FP64")
    tensor.set_data_from_numpy(rows)
    for _ in range(5):  # the split is bypassed: always the version named
        result = client.infer("cancer-prod", [tensor], model_version=CANARY)
        assert result.get_response()["model_version"] == CANARY
    with pytest.raises(InferenceServerException, match=r"does not serve version '9\.9\.9'"):
        client.infer("cancer-prod", [tensor], model_version="9.9.9")
    frame = pd.read_csv(EXAMPLE_REPO / "data/reference/diabetes-progression-2.0.0.csv")
    features = frame.drop(columns=["target"]).head(6)
    tensor = triton.InferInput("input-0", list(features.shape), "FP64")
    tensor.set_data_from_numpy(features.to_numpy(np.float64))
    result = client.infer("diabetes-prod", [tensor])
    want = reference_model("diabetes-progression", "2.0.0").predict(features)
    np.testing.assert_allclose(result.as_numpy("predict"), want, rtol=1e-12)
    assert result.as_numpy("predict").dtype == np.float64


@pytest.mark.parametrize(
    ("tensor", "message"),
    [
        (("input-0", [2, 10], "FP64", [1.0] * 19), "19 elements for shape [2, 10]"),
        (("input-0", [1, 3], "FP64", [1.0] * 3), "3 columns, expected 10"),
        (("input-0", [1, 10], "INT8", [300] * 10), "element 0 is 300, not an integer"),
        (("input-0", [1, 10], "FP32", [1e39] * 10), "not a number that fits FP32"),
        (("input-0", [1, 10], "BOOL", [1] * 10), "not true or false"),
        (("input-0", [1, 10], "FP8", [1] * 10), "datatype 'FP8' is not one of"),
        (("radius", [1], "FP64", [1.0]), "'radius' is not a feature"),
        (("mean_radius", [1], "FP64", [1.0]), "lack features"),
    ],
)
def test_v2_errors_are_400_in_the_v2_error_format(
    live: CliServer, tensor: tuple[str, list[int], str, list[Any]], message: str
) -> None:
    name, shape, datatype, data = tensor
    body = {"inputs": [{"name": name, "shape": shape, "datatype": datatype, "data": data}]}
    with live.client() as http:
        answer = http.post("/v2/models/cancer-prod/infer", json=body)
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/json"
    assert list(answer.json()) == ["error"] and message in answer.json()["error"], answer.json()
    connection = triton.InferenceServerClient(live.url.removeprefix("http://"))
    try:
        tensor_in = triton.InferInput(name, shape, datatype)
        tensor_in._data = data  # as sent, unchecked: the server must refuse it
        with pytest.raises(InferenceServerException, match=re.escape(message)):
            connection.infer("cancer-prod", [tensor_in])
    finally:
        connection.close()


# ---------------------------------------------------------------- KServe SDK (V1 and V2)


def test_kserve_rest_client_v1(live: CliServer) -> None:
    async def scenario() -> None:
        client = InferenceRESTClient(RESTConfig(protocol="v1", timeout=30))
        try:
            assert await client.is_server_live(live.url)
            assert await client.is_model_ready(live.url, "cancer-prod")
            headers = {"X-Request-Id": request_id_for(CANARY)}
            for key in ("instances", "inputs"):
                answer = await client.infer(
                    live.url, {key: instances(3)}, model_name="cancer-prod", headers=headers
                )
                assert answer["model_version"] == CANARY
                labels, probabilities = expected(CANARY, table(3))
                assert answer["predictions"] == labels.tolist()
                np.testing.assert_allclose(answer["probabilities"], probabilities, rtol=1e-12)
            with pytest.raises(httpx.HTTPStatusError, match="no deployment 'nope'"):
                await client.infer(live.url, {"instances": [[1] * 10]}, model_name="nope")
        finally:
            await client.close()

    asyncio.run(scenario())


def test_kserve_rest_client_v2(live: CliServer) -> None:
    rows = table(4, offset=7)

    async def scenario() -> None:
        client = InferenceRESTClient(RESTConfig(protocol="v2", timeout=30))
        try:
            assert await client.is_server_live(live.url)
            assert await client.is_server_ready(live.url)
            assert await client.is_model_ready(live.url, "cancer-prod")
            assert not await client.is_model_ready(live.url, "nope")
            for binary in (False, True):
                tensor = InferInput("input-0", list(rows.shape), "FP64")
                tensor.set_data_from_numpy(rows, binary_data=binary)
                request = InferRequest("cancer-prod", [tensor], request_id=request_id_for(STABLE))
                response = await client.infer(live.url, request, model_name="cancer-prod")
                assert response.id == request_id_for(STABLE)
                labels, probabilities = expected(STABLE, rows)
                outputs = {o.name: o for o in response.outputs}
                assert outputs["predict"].datatype == "INT64"
                np.testing.assert_array_equal(outputs["predict"].as_numpy(), labels)
                got = outputs["predict_proba"].as_numpy().reshape(4, 2)
                np.testing.assert_allclose(got, probabilities, rtol=1e-12)
        finally:
            await client.close()

    asyncio.run(scenario())


# ---------------------------------------------------------------- split, logs, metrics


def test_v1_model_list_and_both_protocols_split_alike(live: CliServer) -> None:
    """The same request id reaches the same version over V1 and V2 (X-Request-Id, or the V2
    body's `id` when the header is absent)."""
    with live.client() as http:
        listed = http.get("/v1/models").json()
        assert listed == {
            "models": ["cancer-prod", "cancer-staging", "diabetes-prod", "diabetes-staging"]
        }
        row = [instances(1)[0][f] for f in FEATURES]
        v2_body = {"inputs": [{"name": "x", "shape": [1, 10], "datatype": "FP64", "data": row}]}
        for i in range(40):
            request_id = f"split-{i}"
            by_v1 = http.post(
                "/v1/models/cancer-prod:predict",
                json={"instances": [row]},
                headers={"X-Request-Id": request_id},
            ).json()["model_version"]
            by_header = http.post(
                "/v2/models/cancer-prod/infer",
                json=v2_body,
                headers={"X-Request-Id": request_id},
            ).json()["model_version"]
            by_id = http.post(
                "/v2/models/cancer-prod/infer", json={**v2_body, "id": request_id}
            ).json()["model_version"]
            assert by_v1 == by_header == by_id == (CANARY if bucket(request_id) < 20 else STABLE)


def test_v2_predictions_are_logged_for_monitor_and_counted(repo: Path) -> None:
    """V1 and V2 requests land in the same prediction log, which `monitor` reads back, and in
    the same request counters; /metrics also counts them by protocol."""
    rows = table(3)
    counts: Counter[str] = Counter()
    with LiveServer(repo) as live:
        client = triton.InferenceServerClient(live.url.removeprefix("http://"))
        try:
            for i in range(20):
                tensor = triton.InferInput("input-0", [3, 10], "FP64")
                tensor.set_data_from_numpy(rows)
                result = client.infer("cancer-prod", [tensor], request_id=f"v2-{i}")
                counts[result.get_response()["model_version"]] += 3
        finally:
            client.close()
        with live.client() as http:
            for i in range(10):
                answer = http.post(
                    "/v1/models/cancer-prod:predict",
                    json={"instances": instances(1)},
                    headers={"X-Request-Id": f"v1-{i}"},
                )
                counts[answer.json()["model_version"]] += 1
            text = http.get("/metrics").text
    assert 'mlops_protocol_requests_total{deployment="cancer-prod",protocol="v2"} 20' in text
    assert 'mlops_protocol_requests_total{deployment="cancer-prod",protocol="v1"} 10' in text
    records = [
        json.loads(line)
        for line in (repo / "logs/cancer-prod/predictions.jsonl").read_text().splitlines()
    ]
    ids = {r["request_id"] for r in records}
    assert {f"v2-{i}-{k}" for i in range(20) for k in range(3)} <= ids
    assert {f"v1-{i}" for i in range(10)} <= ids
    first = next(r for r in records if r["request_id"] == "v2-0-0")
    assert first["features"] == dict(zip(FEATURES, rows[0].tolist(), strict=True))
    argv = ["--repo", str(repo), "monitor", "--no-commit", "--deployment", "cancer-prod"]
    result = run_cli(*argv, "--format", "json", expect=0).json()
    assert result["deployments"][0]["new_records"] == 70
    report = json.loads((repo / "reports/cancer-prod/latest.json").read_text())
    assert {v: d["records"] for v, d in report["versions"].items()} == dict(counts)
