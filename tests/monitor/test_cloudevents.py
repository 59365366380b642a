"""KServe payload-logger CloudEvents stored as JSON lines become the prediction records monitor
reads: request and response paired by id, per instance, for V1 and V2, with the version that
answered (from the response, or the endpoint and the version annotations)."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

from mlops_gitops.monitor.cloudevents import (
    MAX_EVENT_BYTES,
    REQUEST,
    RESPONSE,
    convert,
    parse_event,
    records_from_jsonl,
)
from mlops_gitops.monitor.records import check_record

ANNOTATIONS = json.dumps(
    {"mlops-gitops/stable-version": "1.0.0", "mlops-gitops/canary-version": "1.1.0"}
)


def event(
    kind: str, event_id: str, data: Any, time: str, endpoint: str = "default", **extra: Any
) -> dict[str, Any]:
    """An event in the CloudEvents JSON format, as KServe's agent fills it in."""
    return {
        "specversion": "1.0",
        "id": event_id,
        "type": REQUEST if kind == "request" else RESPONSE,
        "source": "http://localhost:9081/",
        "time": time,
        "datacontenttype": "application/json",
        "inferenceservicename": "wine-prod",
        "namespace": "models",
        "component": "predictor",
        "endpoint": endpoint,
        "annotations": ANNOTATIONS,
        "data": data,
        **extra,
    }


def jsonl(*events: dict[str, Any]) -> io.BytesIO:
    return io.BytesIO("".join(json.dumps(e) + "\n" for e in events).encode())


def test_v1_pairs_become_one_record_per_instance_with_the_version_that_answered() -> None:
    handle = jsonl(
        event("response", "a", {"predictions": [1, 0]}, "2026-12-01T10:00:00.250Z", "canary"),
        event(
            "request",
            "a",
            {"instances": [[1.0, 2.0], [3.0, 4.0]]},
            "2026-12-01T10:00:00Z",
            "canary",
        ),
        event("request", "b", {"instances": [{"alcohol": 12.5}]}, "2026-12-01T10:01:00Z"),
        event("response", "b", {"predictions": [2]}, "2026-12-01T10:01:00.010Z"),
    )
    out = records_from_jsonl(handle, names=["alcohol", "ash"])
    assert out.problems == []
    assert out.pending == []
    by_id = {r["request_id"]: r for r in out.records}
    assert set(by_id) == {"a-0", "a-1", "b"}
    assert by_id["a-0"]["model_version"] == "1.1.0"  # the canary endpoint answered
    assert by_id["a-0"]["features"] == {"alcohol": 1.0, "ash": 2.0}
    assert by_id["a-1"]["prediction"] == 0
    assert by_id["a-0"]["latency_ms"] == 125.0  # 250 ms for two instances
    assert by_id["a-0"]["timestamp"] == "2026-12-01T10:00:00+00:00"
    assert by_id["b"]["model_version"] == "1.0.0"
    assert by_id["b"]["features"] == {"alcohol": 12.5}
    assert by_id["b"]["deployment"] == "wine-prod"
    for record in out.records:
        clean, why = check_record(record)  # what monitor's readers accept
        assert clean is not None, why


def test_v2_tensors_and_the_version_the_response_names() -> None:
    request = {
        "inputs": [
            {"name": "alcohol", "shape": [2], "datatype": "FP32", "data": [12.0, 13.0]},
            {"name": "ash", "shape": [2, 1], "datatype": "FP32", "data": [[2.0], [2.5]]},
        ]
    }
    response = {
        "model_name": "wine-prod",
        "model_version": "1.0.0",
        "outputs": [
            {"name": "output-0", "shape": [2], "datatype": "INT64", "data": [1, 2]},
            {"name": "probabilities", "shape": [2, 2], "datatype": "FP64",
             "data": [0.2, 0.8, 0.9, 0.1]},
        ],
    }  # fmt: skip
    single = {"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP64", "data": [5, 6]}]}
    events = [
        parse_event(event("request", "r", request, "2026-12-01T10:00:00Z", "canary")),
        parse_event(event("response", "r", response, "2026-12-01T10:00:01Z", "canary")),
        parse_event(event("request", "s", single, "2026-12-01T10:00:02Z")),
        parse_event(
            event(
                "response",
                "s",
                {"outputs": [{"name": "o", "shape": [1, 1], "datatype": "FP32", "data": [7]}]},
                "2026-12-01T10:00:03Z",
            )
        ),
    ]
    out = convert(events, names=["alcohol", "ash"])
    assert out.problems == []
    first, second, third = out.records
    assert first["features"] == {"alcohol": 12.0, "ash": 2.0}
    assert second["features"] == {"alcohol": 13.0, "ash": 2.5}
    # The response's own model_version wins over the endpoint's annotation.
    assert first["model_version"] == "1.0.0"
    assert (first["prediction"], first["score"]) == (1, 0.8)
    assert (second["prediction"], second["score"]) == (2, 0.1)
    assert third["features"] == {"alcohol": 5, "ash": 6}
    assert third["prediction"] == 7


def test_binary_mode_headers_and_base64_data_are_read() -> None:
    request = {
        "headers": {
            "Ce-Id": "h1",
            "Ce-Type": REQUEST,
            "Ce-Time": "2026-12-01T10:00:00Z",
            "Ce-Endpoint": "default",
            "Ce-Annotations": ANNOTATIONS,
        },
        "body": json.dumps({"inputs": [[1, 2]]}),
    }
    response = {
        "id": "h1",
        "type": RESPONSE,
        "time": "2026-12-01T10:00:00.5Z",
        "endpoint": "default",
        "annotations": ANNOTATIONS,
        "data_base64": base64.b64encode(b'{"predictions": [3]}').decode(),
    }
    out = records_from_jsonl(jsonl(request, response))
    assert out.problems == []
    (record,) = out.records
    assert record["features"] == {"x0": 1, "x1": 2}
    assert (record["model_version"], record["prediction"]) == ("1.0.0", 3)


def test_unpaired_and_malformed_events_are_reported_never_dropped_silently() -> None:
    oversized = b'{"id": "big", "data": "' + b"x" * MAX_EVENT_BYTES + b'"}\n'
    lines = [
        json.dumps(event("request", "waiting", {"instances": [[1]]}, "2026-12-01T10:00:00Z")),
        json.dumps(event("response", "orphan", {"predictions": [1]}, "2026-12-01T10:00:00Z")),
        "not json",
        json.dumps({"id": "x", "type": "dev.example.other"}),
        json.dumps(event("request", "m", {"instances": [[1], [2]]}, "2026-12-01T10:00:00Z")),
        json.dumps(event("response", "m", {"predictions": [1]}, "2026-12-01T10:00:01Z")),
        json.dumps(
            event("request", "nov", {"instances": [[1]]}, "2026-12-01T10:00:00Z")
            | {"annotations": "{}"}
        ),
        json.dumps(
            event("response", "nov", {"predictions": [1]}, "2026-12-01T10:00:01Z")
            | {"annotations": "{}"}
        ),
    ]
    handle = io.BytesIO(("\n".join(lines) + "\n").encode() + oversized)
    out = records_from_jsonl(handle)
    assert out.records == []
    assert [e.id for e in out.pending] == ["waiting"]
    text = "\n".join(out.problems)
    assert "line 3: not JSON" in text
    assert "line 4: type 'dev.example.other' is not a KServe inference" in text
    assert "line 9: longer than" in text
    assert "orphan: a response without its request" in text
    assert "m: 2 instances but 1 predictions" in text
    assert "nov: no model version" in text


def test_pending_requests_pair_with_a_later_batch() -> None:
    first = convert(
        [parse_event(event("request", "p", {"instances": [[1]]}, "2026-12-01T10:00:00Z"))]
    )
    assert first.records == [] and len(first.pending) == 1
    later = convert(
        [parse_event(event("response", "p", {"predictions": [0]}, "2026-12-01T10:00:01Z"))],
        pending=first.pending,
    )
    assert [r["request_id"] for r in later.records] == ["p"]
    assert later.pending == []
