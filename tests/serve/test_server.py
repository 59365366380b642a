"""`mlops-gitops serve` against a real server on a loopback port.

The repository is example-repo applied (cancer-prod: 1.1.0 with 1.2.0 on a 20% canary;
cancer-staging: the same on 50%; diabetes-prod: 2.0.0, a regression model).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.serve.helpers import (
    FEATURES,
    CliServer,
    LiveServer,
    bucket,
    instances,
    post_all,
    predict_body,
    reference_model,
)
from tests.support.cli import run_cli
from tests.support.git import commit_all
from tests.support.repos import EXAMPLE_REPO

pytestmark = pytest.mark.slow

PROD = "/v1/models/cancer-prod:predict"
STAGING = "/v1/models/cancer-staging:predict"
DIABETES = "/v1/models/diabetes-prod:predict"
STABLE, CANARY = "1.1.0", "1.2.0"


def metric_values(text: str) -> dict[str, float]:
    """Prometheus text exposition as {'name{labels}': value}; checks each line's syntax."""
    values = {}
    for line in text.splitlines():
        if line.startswith("#"):
            assert re.fullmatch(r"# (HELP|TYPE) \w+ .+", line), line
            continue
        match = re.fullmatch(r'(\w+(?:\{(?:\w+="[^"]*",?)+\})?) (\S+)', line)
        assert match, f"not Prometheus text: {line!r}"
        values[match.group(1)] = float(match.group(2))
    return values


# ---------------------------------------------------------------- protocol


def test_readiness_and_health(live: CliServer) -> None:
    with live.client() as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        for name in ("cancer-prod", "cancer-staging", "diabetes-prod"):
            answer = client.get(f"/v1/models/{name}")
            assert answer.status_code == 200
            assert answer.json() == {"name": name, "ready": True}


def test_predict_objects_and_arrays_match_the_models(live: CliServer) -> None:
    rows = instances(5)
    arrays = [[row[f] for f in FEATURES] for row in rows]
    with live.client() as client:
        by_object = client.post(PROD, json={"instances": rows}, headers={"X-Request-Id": "a"})
        by_array = client.post(PROD, json={"instances": arrays}, headers={"X-Request-Id": "a"})
    assert by_object.status_code == by_array.status_code == 200
    assert by_object.headers["content-type"] == "application/json"
    result = by_object.json()
    assert result == by_array.json()
    version = result["model_version"]
    assert version == (CANARY if bucket("a") < 20 else STABLE)
    model = reference_model("cancer-detector", version)
    frame = pd.DataFrame(arrays, columns=FEATURES)
    assert result["predictions"] == model.predict(frame).tolist()
    assert len(result["probabilities"]) == 5
    np.testing.assert_allclose(result["probabilities"], model.predict_proba(frame), rtol=1e-12)
    assert all(abs(sum(p) - 1) < 1e-9 for p in result["probabilities"])


def test_both_versions_of_a_canary_answer(live: CliServer) -> None:
    ids = {"canary": next(f"c{i}" for i in range(1000) if bucket(f"c{i}") < 20)}
    ids["stable"] = next(f"s{i}" for i in range(1000) if bucket(f"s{i}") >= 20)
    rows = instances(3, offset=10)
    frame = pd.DataFrame([[r[f] for f in FEATURES] for r in rows], columns=FEATURES)
    with live.client() as client:
        for role, version in (("canary", CANARY), ("stable", STABLE)):
            answer = client.post(
                PROD, json={"instances": rows}, headers={"X-Request-Id": ids[role]}
            )
            assert answer.json()["model_version"] == version
            expected = reference_model("cancer-detector", version).predict_proba(frame)
            np.testing.assert_allclose(answer.json()["probabilities"], expected, rtol=1e-12)


def test_regression_deployment_returns_numbers_without_probabilities(live: CliServer) -> None:
    frame = pd.read_csv(EXAMPLE_REPO / "data/reference/diabetes-progression-2.0.0.csv")
    features = frame.drop(columns=["target"]).head(4)
    with live.client() as client:
        answer = client.post(DIABETES, json={"instances": features.to_dict("records")})
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert set(result) == {"predictions", "model_version"}
    assert result["model_version"] == "2.0.0"
    expected = reference_model("diabetes-progression", "2.0.0").predict(features)
    np.testing.assert_allclose(result["predictions"], expected, rtol=1e-12)


def test_metrics_count_requests_errors_and_latency(live: CliServer) -> None:
    with live.client() as client:
        before = metric_values(client.get("/metrics").text)
        jobs = [(STAGING, predict_body(instances(1, offset=i)), f"m-{i}") for i in range(40)]
        answers = post_all(live.url, jobs, workers=4)
        assert client.post(STAGING, content=b"{").status_code == 400
        assert client.post(STAGING, json={"instances": [[1.0]]}).status_code == 400
        scraped = client.get("/metrics")
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    text = scraped.text
    for kind in ("counter", "histogram"):
        assert (
            f"# TYPE mlops_request{'s_total' if kind == 'counter' else '_seconds'} {kind}" in text
        )
    after = metric_values(text)
    served = Counter(answer["model_version"] for _, answer in answers)
    assert sum(served.values()) == 40 and set(served) == {STABLE, CANARY}
    for version, count in served.items():
        labels = f'deployment="cancer-staging",version="{version}"'
        for name in ("mlops_requests_total", "mlops_request_seconds_count"):
            key = f"{name}{{{labels}}}"
            assert after[key] - before.get(key, 0) == count
        inf = f'mlops_request_seconds_bucket{{{labels},le="+Inf"}}'
        assert after[inf] == after[f"mlops_request_seconds_count{{{labels}}}"]
        buckets = [
            v for k, v in after.items() if k.startswith(f"mlops_request_seconds_bucket{{{labels}")
        ]
        assert buckets == sorted(buckets), "histogram buckets are cumulative"
        assert after[f"mlops_request_seconds_sum{{{labels}}}"] > 0
    bad = 'mlops_bad_requests_total{deployment="cancer-staging"}'
    assert after[bad] - before.get(bad, 0) == 2


# ---------------------------------------------------------------- traffic split


def test_traffic_split_follows_the_recorded_percentage(live: CliServer) -> None:
    """2,000 requests without a request id: 20% +- 3% reach the canary."""
    body = predict_body(instances(1))
    answers = post_all(live.url, [(PROD, body, None)] * 2000, workers=8)
    assert all(status == 200 for status, _ in answers)
    share = Counter(a["model_version"] for _, a in answers)[CANARY] / len(answers)
    assert 0.17 <= share <= 0.23, share


def test_traffic_split_by_request_id_is_deterministic(live: CliServer) -> None:
    """By X-Request-Id: the same id always gets the same version, 20% +- 3% of ids reach the
    canary, and raising the canary's share (cancer-staging: 50%) only adds ids to it."""
    ids = [f"user-{i}" for i in range(2000)]
    body = predict_body(instances(1))
    prod = post_all(live.url, [(PROD, body, i) for i in ids], workers=8)
    versions = {i: answer["model_version"] for i, (_, answer) in zip(ids, prod, strict=True)}
    share = sum(v == CANARY for v in versions.values()) / len(ids)
    assert 0.17 <= share <= 0.23, share
    assert all((v == CANARY) == (bucket(i) < 20) for i, v in versions.items())
    again = post_all(live.url, [(PROD, body, i) for i in ids[:300]], workers=8)
    assert [a["model_version"] for _, a in again] == [versions[i] for i in ids[:300]]
    staging = post_all(live.url, [(STAGING, body, i) for i in ids[:500]], workers=8)
    for request_id, (_, answer) in zip(ids, staging, strict=False):
        if versions[request_id] == CANARY:
            assert answer["model_version"] == CANARY, request_id


# ---------------------------------------------------------------- malformed requests


MALFORMED: list[tuple[str, str, bytes, int, str]] = [
    ("POST", PROD, b"{not json", 400, "not valid JSON"),
    ("POST", PROD, b"\xff\xfe", 400, "not valid JSON"),
    ("POST", PROD, b"[1, 2]", 400, '"instances"'),
    ("POST", PROD, b'{"rows": [[1]]}', 400, '"instances" (or "inputs")'),
    ("POST", PROD, b'{"inputs": [[1]], "instances": [[1]]}', 400, "not both"),
    ("POST", PROD, b'{"instances": []}', 400, "non-empty list"),
    ("POST", PROD, b'{"instances": "all"}', 400, "non-empty list"),
    ("POST", PROD, b'{"instances": [42]}', 400, "object or an array"),
    ("POST", PROD, b'{"instances": [[1, 2, 3]]}', 400, "expected 10"),
    ("POST", PROD, b'{"instances": [{"mean_radius": 12}]}', 400, "lacks features"),
    ("POST", PROD, predict_body([["x"] * 10]), 400, "do not fit the model"),
    ("POST", PROD, predict_body([[[1, 2]] + [1] * 9]), 400, "a JSON array where a number"),
    ("POST", "/v1/models/nope:predict", predict_body([[1] * 10]), 404, "no deployment"),
    ("GET", "/v1/models/nope", b"", 404, "no deployment"),
    ("POST", "/v1/models/cancer-prod", predict_body([[1] * 10]), 405, ":predict"),
    ("GET", "/v1/models/cancer-prod:predict", b"", 405, "POST"),
    ("GET", "/v1/models/nope:predict", b"", 405, "POST"),
    ("POST", "/v1/models/cancer-prod:explain", predict_body([[1] * 10]), 404, ":predict"),
    ("GET", "/v2/models", b"", 404, "Not Found"),
    ("PUT", "/v1/models/cancer-prod", b"{}", 405, "Method Not Allowed"),
    ("GET", "/v2/models/cancer-prod/infer", b"", 405, "Method Not Allowed"),
]


def test_malformed_requests_get_a_json_error(live: CliServer) -> None:
    with live.client() as client:
        for method, path, body, status, message in MALFORMED:
            answer = client.request(method, path, content=body)
            assert answer.status_code == status, (path, body, answer.text)
            assert answer.headers["content-type"] == "application/json", (path, body)
            assert message in answer.json()["error"], (path, body, answer.json())
        assert client.post(PROD, json={"instances": instances(1)}).status_code == 200


def test_a_bad_request_in_a_batch_fails_alone(live: CliServer) -> None:
    """Concurrent requests share one call into the model; one that cannot be predicted is a
    400 and every other request of its batch still gets its answer."""
    good = predict_body(instances(1))
    bad = predict_body([["x"] * 10])
    jobs = [(STAGING, bad if i % 25 == 7 else good, f"b-{i}") for i in range(200)]
    answers = post_all(live.url, jobs, workers=16)
    for (_, body, _), (status, answer) in zip(jobs, answers, strict=True):
        if body is bad:
            assert status == 400 and "do not fit the model" in answer["error"]
        else:
            assert status == 200 and len(answer["predictions"]) == 1


# ---------------------------------------------------------------- logs read back by monitor


def test_prediction_logs_are_read_back_by_monitor(repo: Path) -> None:
    """Every instance is logged (what is still buffered is flushed at shutdown), and
    `monitor` counts the same records per version as the responses said."""
    single = [(PROD, predict_body(instances(1, offset=i)), f"log-{i}") for i in range(60)]
    multi = [(PROD, predict_body(instances(3, offset=i)), f"multi-{i}") for i in range(10)]
    staging = [(STAGING, predict_body(instances(1, offset=i)), f"st-{i}") for i in range(30)]
    with LiveServer(repo) as server:
        answers = post_all(server.url, [*single, *multi, *staging], workers=4)
    assert all(status == 200 for status, _ in answers)
    expected: dict[str, Counter[str]] = {"cancer-prod": Counter(), "cancer-staging": Counter()}
    for (path, body, _), (_, answer) in zip([*single, *multi, *staging], answers, strict=True):
        name = "cancer-prod" if path == PROD else "cancer-staging"
        expected[name][answer["model_version"]] += len(json.loads(body)["instances"])
    records = [
        json.loads(line)
        for line in (repo / "logs/cancer-prod/predictions.jsonl").read_text().splitlines()
    ]
    assert len(records) == 60 + 30
    ids = {r["request_id"] for r in records}
    assert {f"log-{i}" for i in range(60)} <= ids
    assert {f"multi-{i}-{k}" for i in range(10) for k in range(3)} <= ids
    first = next(r for r in records if r["request_id"] == "log-0")
    assert first["features"] == instances(1)[0]
    assert first["error"] is None and first["latency_ms"] > 0
    assert 0 <= first["score"] <= 1 and first["prediction"] in (0, 1)

    result = run_cli("--repo", repo, "monitor", "--no-commit", "--format", "json", expect=0).json()
    reasons = {d["deployment"]: d for d in result["deployments"]}
    for name, counts in expected.items():
        assert reasons[name]["new_records"] == sum(counts.values()), reasons[name]
        report = json.loads((repo / "reports" / name / "latest.json").read_text())
        assert report["window"]["records"] == sum(counts.values())
        got = {v: data["records"] for v, data in report["versions"].items()}
        assert got == dict(counts), name


# ---------------------------------------------------------------- reload under load


def test_reload_during_load_fails_no_request(repo: Path) -> None:
    """A spec change moving the canary 20% -> 50% is applied while clients keep sending:
    the server swaps in the new state and no request fails."""
    moved = next(f"r{i}" for i in range(1000) if 20 <= bucket(f"r{i}") < 50)
    outcomes: list[tuple[float, int | str]] = []
    stop = threading.Event()

    def client(worker: int) -> None:
        with httpx.Client(base_url=live.url, timeout=30, trust_env=False) as http:
            n = 0
            while not stop.is_set():
                try:
                    answer = http.post(
                        PROD,
                        content=predict_body(instances(1, offset=n)),
                        headers={"X-Request-Id": f"w{worker}-{n}"},
                    )
                    outcomes.append((time.monotonic(), answer.status_code))
                except httpx.HTTPError as exc:
                    outcomes.append((time.monotonic(), repr(exc)))
                n += 1

    with LiveServer(repo) as live:
        workers = [threading.Thread(target=client, args=(i,)) for i in range(4)]
        for worker in workers:
            worker.start()
        time.sleep(0.5)
        spec = repo / "deployments/cancer-prod.yaml"
        text = spec.read_text()
        assert "traffic: 20 " in text
        spec.write_text(text.replace("traffic: 20 ", "traffic: 50 "))
        commit_all(repo, "cancer-prod: canary to 50%")
        run_cli("--repo", repo, "apply", expect=0)
        deadline = time.monotonic() + 30
        while live.server.registry.deployments["cancer-prod"].canary_traffic != 50:
            assert time.monotonic() < deadline, "the server did not reload in 30 s"
            time.sleep(0.05)
        swapped = time.monotonic()
        time.sleep(0.5)
        with live.client() as http:
            answer = http.post(
                PROD, json={"instances": instances(1)}, headers={"X-Request-Id": moved}
            )
        stop.set()
        for worker in workers:
            worker.join(30)
    assert answer.json()["model_version"] == CANARY
    failed = [o for o in outcomes if o[1] != 200]
    assert not failed, failed[:5]
    assert sum(t < swapped for t, _ in outcomes) > 10
    assert sum(t > swapped for t, _ in outcomes) > 10


# ---------------------------------------------------------------- broken model


def test_a_broken_model_is_isolated(repo: Path) -> None:
    """diabetes-prod's artifact is corrupted in the store: that deployment is not ready
    (503 with the reason) and the cancer deployments keep serving."""
    state = json.loads((repo / ".mlops/state/deployments/diabetes-prod.json").read_text())
    blob = repo / state["serving"]["stable"]["uri"]
    blob.chmod(0o644)
    blob.write_bytes(b"PK\x03\x04 this is not a skops file")
    with LiveServer(repo) as live, live.client() as client:
        ready = client.get("/v1/models/diabetes-prod")
        assert ready.status_code == 503
        assert ready.json()["ready"] is False and ready.json()["error"]
        refused = client.post(DIABETES, json={"instances": [[0.0] * 10]})
        assert refused.status_code == 503
        assert "not ready" in refused.json()["error"]
        assert client.get("/healthz").status_code == 200
        for name in ("cancer-prod", "cancer-staging"):
            assert client.get(f"/v1/models/{name}").json()["ready"] is True
            answer = client.post(f"/v1/models/{name}:predict", json={"instances": instances(2)})
            assert answer.status_code == 200 and len(answer.json()["predictions"]) == 2


@pytest.mark.parametrize("damage", ["missing", "untrusted"])
def test_a_model_that_cannot_load_safely_is_not_ready(repo: Path, damage: str) -> None:
    """A missing blob, or another file in its place (here a skops file holding types nobody
    trusted) is refused before it is loaded."""
    state = json.loads((repo / ".mlops/state/deployments/diabetes-prod.json").read_text())
    blob = repo / state["serving"]["stable"]["uri"]
    blob.chmod(0o644)
    if damage == "missing":
        blob.unlink()
    else:
        import skops.io

        blob.write_bytes(skops.io.dumps(Counter({"a": 1})))
    with LiveServer(repo) as live, live.client() as client:
        ready = client.get("/v1/models/diabetes-prod").json()
        assert ready["ready"] is False
        assert ("missing" if damage == "missing" else "was replaced") in ready["error"]
        assert client.get("/v1/models/cancer-prod").json()["ready"] is True
