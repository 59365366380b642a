"""KServe's payload logger, read back: CloudEvents stored as JSON lines -> prediction records.

With `monitoring.logger_url` set, the kserve target enables KServe's logger: the agent beside
the model sends each request and each (successful) response as a CloudEvent, both with the
request's id (`ce-id`), the InferenceService's name, the `endpoint` that answered (`default`
or `canary`) and the InferenceService annotations the renderer lists (stable and canary
version). A sink stores the events one per line, in the CloudEvents JSON format (attributes
at the top level, the payload in `data` or `data_base64`) or as the HTTP headers it received
(`ce-id`, `ce-type`, ...) with the body. This module pairs request and response by id and
turns each instance into the record `serve` writes: timestamp, request_id, model_version,
features, prediction, score, latency_ms, error, so cluster deployments are monitored like
local ones. Both protocols are understood: KServe V1 (`instances`/`inputs` ->
`predictions`) and the Open Inference Protocol (typed `inputs` -> `outputs` tensors).

`monitor` reads the files at `monitoring.predictions` through :func:`decode` when the
deployment sets `monitoring.logger_url`. A request and its response are paired within one file
(sinks write both to the stream they append to); a request whose response is not in the file is
reported as malformed with its line, like any record that cannot be used.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

from mlops_gitops.monitor.formats import Decoded, Mark, Span, _checked
from mlops_gitops.monitor.records import Malformed, check_record
from mlops_gitops.safeio import loads

REQUEST = "org.kubeflow.serving.inference.request"
RESPONSE = "org.kubeflow.serving.inference.response"
VERSION_ANNOTATIONS = {
    "default": "mlops-gitops/stable-version",
    "canary": "mlops-gitops/canary-version",
}
MAX_EVENT_BYTES = 16 * 1024 * 1024
"""A longer line is reported, not parsed: a budget on what one logged payload may cost."""
MAX_FILE_BYTES = 512 * 1024 * 1024
"""Bytes of one events file read past its watermark: pairing needs them all at once."""
PROBABILITY_OUTPUTS = ("probabilities", "probability", "predict_proba")


class BadEvent(ValueError):
    """A line that is not a usable inference CloudEvent; the message says why."""


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    time: float | None
    deployment: str | None
    endpoint: str | None
    annotations: dict[str, str]
    data: Any


@dataclass
class Converted:
    records: list[dict[str, Any]] = field(default_factory=list)
    pending: list[Event] = field(default_factory=list)
    """Requests whose response has not been read yet (a later batch may hold it)."""
    problems: list[str] = field(default_factory=list)


def _time(value: Any) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return stamp.timestamp() if stamp.tzinfo else None


def _payload(raw: dict[str, Any]) -> Any:
    if "data_base64" in raw:
        try:
            return loads(base64.b64decode(str(raw["data_base64"]), validate=True))
        except ValueError as exc:
            raise BadEvent(f"data_base64 is not base64 JSON: {exc}") from None
    data = raw.get("data", raw.get("body"))
    if isinstance(data, str):
        try:
            return loads(data)
        except ValueError as exc:
            raise BadEvent(f"data is not JSON: {exc}") from None
    return data


def parse_event(raw: Any) -> Event:
    """One stored event: CloudEvents JSON attributes, or `ce-` headers with a body."""
    if not isinstance(raw, dict):
        raise BadEvent("not a JSON object")
    attrs = {str(k).lower().removeprefix("ce-"): v for k, v in raw.items()}
    headers = attrs.get("headers")
    if isinstance(headers, dict):
        attrs |= {str(k).lower().removeprefix("ce-"): v for k, v in headers.items()}
    event_id, kind = attrs.get("id"), attrs.get("type")
    if not isinstance(event_id, str) or not event_id:
        raise BadEvent("no id (ce-id)")
    if kind not in (REQUEST, RESPONSE):
        raise BadEvent(f"type {kind!r} is not a KServe inference request or response")
    annotations = attrs.get("annotations") or {}
    if isinstance(annotations, str):
        try:
            annotations = loads(annotations)
        except ValueError:
            raise BadEvent("the annotations attribute is not JSON") from None
    if not isinstance(annotations, dict):
        raise BadEvent("the annotations attribute is not an object")
    deployment, endpoint = attrs.get("inferenceservicename"), attrs.get("endpoint")
    return Event(
        id=event_id,
        type=kind,
        time=_time(attrs.get("time")),
        deployment=deployment if isinstance(deployment, str) else None,
        endpoint=endpoint if isinstance(endpoint, str) else None,
        annotations={str(k): str(v) for k, v in annotations.items()},
        data=_payload(raw),
    )


def _flat(data: Any) -> list[Any]:
    if isinstance(data, list):
        return [x for item in data for x in _flat(item)]
    return [data]


def _is_tensor(item: Any) -> bool:
    return isinstance(item, dict) and "data" in item and ("shape" in item or "datatype" in item)


def _tensor_rows(tensor: dict[str, Any]) -> list[list[Any]]:
    """An Open Inference Protocol tensor as rows: [n] and [n, 1] give one value per row."""
    values = _flat(tensor.get("data"))
    shape = tensor.get("shape") or [len(values)]
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise BadEvent(f"tensor {tensor.get('name')!r} has a malformed shape")
    rows = shape[0] if shape else 1
    width = math.prod(shape[1:]) if len(shape) > 1 else 1
    if rows * width != len(values):
        raise BadEvent(f"tensor {tensor.get('name')!r} holds {len(values)} values, not {shape}")
    return [values[i * width : (i + 1) * width] for i in range(rows)]


def _names(width: int, names: list[str] | None) -> list[str]:
    return list(names) if names and len(names) == width else [f"x{j}" for j in range(width)]


def request_features(data: Any, names: list[str] | None = None) -> list[dict[str, Any]]:
    """The instances of a V1 or V2 request body, each as {feature: value}."""
    if not isinstance(data, dict):
        raise BadEvent("the request body is not a JSON object")
    items = data.get("instances", data.get("inputs"))
    if not isinstance(items, list):
        raise BadEvent("the request has neither instances nor inputs")
    if items and all(_is_tensor(t) for t in items):
        tensors = [(str(t.get("name", f"input-{i}")), _tensor_rows(t)) for i, t in enumerate(items)]
        if len(tensors) == 1:
            rows = tensors[0][1]
            columns = _names(len(rows[0]) if rows else 0, names)
            return [dict(zip(columns, row, strict=True)) for row in rows]
        counts = {len(rows) for _, rows in tensors}
        if len(counts) != 1 or any(len(r) != 1 for _, rows in tensors for r in rows):
            raise BadEvent("the request's tensors are not one column per feature")
        return [{name: rows[i][0] for name, rows in tensors} for i in range(counts.pop())]
    out = []
    for instance in items:
        if isinstance(instance, dict):
            out.append(instance)
        elif isinstance(instance, list):
            out.append(dict(zip(_names(len(instance), names), instance, strict=True)))
        else:
            out.append(dict(zip(_names(1, names), [instance], strict=True)))
    return out


def response_outputs(data: Any) -> tuple[list[Any], list[float | None], str | None]:
    """Predictions, scores (the positive class's probability when given) and the version
    a V1 or V2 response body names."""
    if not isinstance(data, dict):
        raise BadEvent("the response body is not a JSON object")
    version = data.get("model_version")
    version = version if isinstance(version, str) and version else None
    if isinstance(data.get("predictions"), list):
        predictions = data["predictions"]
        probabilities = data.get("probabilities")
        scores: list[float | None] = [None] * len(predictions)
        if isinstance(probabilities, list) and len(probabilities) == len(predictions):
            scores = [_positive(p) for p in probabilities]
        return predictions, scores, version
    outputs = data.get("outputs")
    if not isinstance(outputs, list) or not outputs or not all(_is_tensor(t) for t in outputs):
        raise BadEvent("the response has neither predictions nor outputs")
    first = [row[0] if len(row) == 1 else row for row in _tensor_rows(outputs[0])]
    scores = [None] * len(first)
    for tensor in outputs[1:]:
        if str(tensor.get("name", "")).lower() in PROBABILITY_OUTPUTS:
            rows = _tensor_rows(tensor)
            if len(rows) == len(first):
                scores = [_positive(row) for row in rows]
    return first, scores, version


def _positive(probabilities: Any) -> float | None:
    if isinstance(probabilities, list) and len(probabilities) == 2:
        value = probabilities[1]
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


def _version(request: Event, response: Event, named: str | None) -> str | None:
    if named:
        return named
    for event in (response, request):
        key = VERSION_ANNOTATIONS.get(event.endpoint or "default")
        if key and event.annotations.get(key):
            return event.annotations[key]
    return None


def pair_records(
    request: Event, response: Event, names: list[str] | None = None
) -> list[dict[str, Any]]:
    """The prediction records of one request and its response."""
    features = request_features(request.data, names)
    predictions, scores, named = response_outputs(response.data)
    if len(features) != len(predictions):
        raise BadEvent(f"{len(features)} instances but {len(predictions)} predictions")
    version = _version(request, response, named)
    if version is None:
        raise BadEvent("no model version: neither the response nor the annotations name it")
    stamp = request.time if request.time is not None else response.time
    if stamp is None:
        raise BadEvent("no time on the request or the response")
    latency = None
    if request.time is not None and response.time is not None and features:
        latency = round(max(response.time - request.time, 0.0) * 1000.0 / len(features), 3)
    moment = datetime.fromtimestamp(stamp, UTC).isoformat()
    return [
        {
            "timestamp": moment,
            "deployment": request.deployment or response.deployment,
            "request_id": request.id if len(features) == 1 else f"{request.id}-{i}",
            "model_version": version,
            "features": row,
            "prediction": predictions[i],
            "score": scores[i],
            "latency_ms": latency,
            "error": None,
        }
        for i, row in enumerate(features)
    ]


def convert(
    events: Iterable[Event], names: list[str] | None = None, pending: Iterable[Event] = ()
) -> Converted:
    """Pair requests and responses by id, in any order; unmatched requests stay pending."""
    out = Converted()
    requests = {event.id: event for event in pending}
    responses: dict[str, Event] = {}
    for event in events:
        (requests if event.type == REQUEST else responses)[event.id] = event
    for event_id, response in responses.items():
        request = requests.pop(event_id, None)
        if request is None:
            out.problems.append(f"{event_id}: a response without its request")
            continue
        try:
            out.records.extend(pair_records(request, response, names))
        except BadEvent as exc:
            out.problems.append(f"{event_id}: {exc}")
    out.pending = list(requests.values())
    return out


def read_events(handle: IO[bytes]) -> Iterator[tuple[int, Event | BadEvent]]:
    """(line number, event or why the line is not one) for each non-blank line."""
    for number, line in enumerate(_bounded_lines(handle), start=1):
        if isinstance(line, BadEvent):
            yield number, line
            continue
        if not line.strip():
            continue
        try:
            yield number, parse_event(loads(line))
        except BadEvent as exc:
            yield number, exc
        except ValueError as exc:
            yield number, BadEvent(f"not JSON: {exc}")


def _bounded_lines(handle: IO[bytes]) -> Iterator[bytes | BadEvent]:
    while True:
        line = handle.readline(MAX_EVENT_BYTES + 1)
        if not line:
            return
        if len(line) > MAX_EVENT_BYTES and not line.endswith(b"\n"):
            while line and not line.endswith(b"\n"):
                line = handle.readline(MAX_EVENT_BYTES + 1)
            yield BadEvent(f"longer than {MAX_EVENT_BYTES:,} bytes (MAX_EVENT_BYTES)")
            continue
        yield line


def records_from_jsonl(handle: IO[bytes], names: list[str] | None = None) -> Converted:
    """A file of logged CloudEvents, one per line, as prediction records."""
    events: list[Event] = []
    problems: list[str] = []
    for number, item in read_events(handle):
        if isinstance(item, BadEvent):
            problems.append(f"line {number}: {item}")
        else:
            events.append(item)
    converted = convert(events, names)
    converted.problems = problems + converted.problems
    return converted


def decode(
    handle: IO[bytes], mark: Mark, rel: str, bad: Malformed, not_after: float, end: int = -1
) -> Decoded:
    """The events of a file past its watermark as normalised batches, in one span (pairs may
    lie anywhere in it); advances `mark` past the last whole line."""
    handle.seek(mark.offset)
    data = handle.read(MAX_FILE_BYTES + 1 if end < 0 else end - mark.offset)
    if len(data) > MAX_FILE_BYTES:
        bad.add(
            rel, mark.line + 1, f"more than {MAX_FILE_BYTES:,} bytes of events (MAX_FILE_BYTES)"
        )
        return
    cut = data.rfind(b"\n") + 1
    if cut == 0:
        return
    span = Span(mark.offset, mark.offset + cut, mark.line + 1)
    first = mark.line
    mark.offset += cut
    mark.line += data.count(b"\n", 0, cut)
    requests: dict[str, tuple[Event, int]] = {}
    responses: dict[str, tuple[Event, int]] = {}
    for number, item in read_events(io.BytesIO(data[:cut])):
        if isinstance(item, BadEvent):
            bad.add(rel, first + number, str(item))
        else:
            (requests if item.type == REQUEST else responses)[item.id] = (item, first + number)
    records: list[dict[str, Any]] = []
    lines: list[int] = []
    for event_id, (response, line) in responses.items():
        request = requests.pop(event_id, None)
        if request is None:
            bad.add(rel, line, f"{event_id}: a response without its request")
            continue
        try:
            paired = pair_records(request[0], response)
        except BadEvent as exc:
            bad.add(rel, line, f"{event_id}: {exc}")
            continue
        for record in paired:
            clean, why = check_record(record)
            if clean is None:
                bad.add(rel, line, why)
                continue
            records.append(clean)
            lines.append(line)
    for event_id, (_, line) in requests.items():
        bad.add(rel, line, f"{event_id}: a request whose response is not in this file")
    for batch in _checked(records, lines, rel, bad, not_after):
        yield batch, span
