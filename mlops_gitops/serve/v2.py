"""The Open Inference Protocol (V2) on the REST side: typed tensors in and out.

A request carries either one 2-D input `[N, F]` (rows in the model's feature order) or one
1-D input `[N]` per feature, named by feature. Data is row-major, flat or nested; with the
binary tensor data extension (header `Inference-Header-Content-Length`) an input's bytes
follow the JSON. Every element is checked against its declared datatype, then against the
model (values.check_rows). Outputs: `predict` (typed by the model's predictions) and, for
classifiers, `predict_proba` (FP64 `[N, classes]`), as JSON or as binary when asked.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlops_gitops.safeio import dumps, finite
from mlops_gitops.serve.batch import Outcome
from mlops_gitops.serve.limits import json_values
from mlops_gitops.serve.models import Loaded
from mlops_gitops.serve.registry import Served
from mlops_gitops.serve.server import HttpError
from mlops_gitops.serve.v1 import too_many
from mlops_gitops.serve.values import BadValue, check_rows

HEADER_LENGTH = "inference-header-content-length"
NUMPY = {
    "BOOL": "?",
    "UINT8": "<u1",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
    "INT8": "<i1",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "FP16": "<f2",
    "FP32": "<f4",
    "FP64": "<f8",
}
INT_RANGE = {
    name: (int(np.iinfo(code).min), int(np.iinfo(code).max))
    for name, code in NUMPY.items()
    if name.startswith(("INT", "UINT"))
}
FLOAT_MAX = {"FP16": 65504.0, "FP32": 3.4028234663852886e38, "FP64": math.inf}
MAX_RANK = 8


@dataclass
class Tensor:
    name: str
    shape: list[int]
    datatype: str
    data: list[Any]
    """The elements, flat in row-major order, as Python values."""


@dataclass
class InferRequest:
    id: str | None
    inputs: list[Tensor]
    outputs: list[tuple[str, bool | None]] | None
    """Requested outputs: name and whether as binary (None: the request's default)."""
    binary_output: bool


def bad(message: str) -> HttpError:
    return HttpError(400, message)


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad(f"{what} must be a JSON object")
    return value


def decode(body: bytes, header_length: str | None, max_values: int) -> InferRequest:
    """The request's JSON and binary parts as tensors, each checked against its datatype."""
    binary = b""
    if header_length is not None:
        try:
            split = int(header_length)
        except ValueError:
            split = -1
        if not 0 <= split <= len(body):
            raise bad(f"Inference-Header-Content-Length {header_length!r} is not in the body")
        body, binary = body[:split], body[split:]
    count = json_values(body)
    if count > max_values:
        raise HttpError(413, too_many(count, max_values))
    try:
        payload = _object(json.loads(body), "the body")
    except (ValueError, RecursionError) as exc:
        raise bad(f"the body is not valid JSON: {str(exc)[:200]}") from None
    request_id = payload.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise bad('"id" must be a string')
    parameters = _object(payload.get("parameters", {}), '"parameters"')
    inputs = payload.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise bad('"inputs" must be a non-empty list of tensors')
    offset = 0
    tensors = []
    for index, item in enumerate(inputs):
        tensor, used = _tensor(_object(item, f"input {index}"), index, binary, offset)
        if used:  # binary elements count against the same budget, before they are decoded
            count += math.prod(tensor.shape)
            if count > max_values:
                raise HttpError(413, too_many(count, max_values))
            tensor.data = _from_binary(binary[offset : offset + used], tensor)
        tensors.append(tensor)
        offset += used
    if offset != len(binary):
        raise bad(f"{len(binary) - offset} bytes of binary data belong to no input")
    return InferRequest(
        request_id,
        tensors,
        _requested(payload.get("outputs")),
        parameters.get("binary_data_output") is True,
    )


def _requested(outputs: Any) -> list[tuple[str, bool | None]] | None:
    if outputs is None:
        return None
    if not isinstance(outputs, list):
        raise bad('"outputs" must be a list')
    found = []
    for index, item in enumerate(outputs):
        item = _object(item, f"output {index}")
        name = item.get("name")
        if not isinstance(name, str):
            raise bad(f"output {index} needs a name")
        binary = _object(item.get("parameters", {}), f"output {name!r} parameters")
        flag = binary.get("binary_data")
        found.append((name, flag if isinstance(flag, bool) else None))
    return found


def _tensor(item: dict[str, Any], index: int, binary: bytes, offset: int) -> tuple[Tensor, int]:
    """The tensor and how many binary bytes it takes (its data is then still to decode)."""
    name, shape, datatype = item.get("name"), item.get("shape"), item.get("datatype")
    if not isinstance(name, str) or not name:
        raise bad(f"input {index} needs a name")
    where = f"input {name!r}"
    if (
        not isinstance(shape, list)
        or not 1 <= len(shape) <= MAX_RANK
        or not all(type(d) is int and d >= 0 for d in shape)
    ):
        raise bad(f"{where}: shape must be a list of 1 to {MAX_RANK} non-negative integers")
    if datatype not in NUMPY and datatype != "BYTES":
        raise bad(f"{where}: datatype {datatype!r} is not one of {[*NUMPY, 'BYTES']}")
    count = math.prod(shape)
    parameters = _object(item.get("parameters", {}), f"{where} parameters")
    size = parameters.get("binary_data_size")
    if size is not None:
        if type(size) is not int or size < 0 or offset + size > len(binary):
            raise bad(f"{where}: binary_data_size {size!r} does not fit the binary data")
        return Tensor(name, shape, datatype, []), size
    if "data" not in item:
        raise bad(f"{where} has no data")
    data = _flat(item["data"], len(shape), where)
    if len(data) != count:
        raise bad(f"{where}: {len(data)} elements for shape {shape} ({count})")
    _check_elements(data, datatype, where)
    return Tensor(name, shape, datatype, data), 0


def _flat(data: Any, rank: int, where: str) -> list[Any]:
    """Row-major elements of flat or nested data (nested no deeper than the shape)."""
    if not isinstance(data, list):
        return [data]
    out: list[Any] = []
    stack: list[tuple[list[Any], int, int]] = [(data, 0, 1)]
    while stack:
        items, start, depth = stack.pop()
        for position in range(start, len(items)):
            value = items[position]
            if isinstance(value, list):
                if depth >= rank:
                    raise bad(f"{where}: data is nested deeper than its shape")
                stack.append((items, position + 1, depth))
                stack.append((value, 0, depth + 1))
                break
            out.append(value)
    return out


def _check_elements(data: list[Any], datatype: str, where: str) -> None:
    if datatype == "BYTES":
        wrong = next((i for i, v in enumerate(data) if type(v) is not str), None)
        expected = "a string"
    elif datatype == "BOOL":
        wrong = next((i for i, v in enumerate(data) if type(v) is not bool), None)
        expected = "true or false"
    elif datatype in INT_RANGE:
        low, high = INT_RANGE[datatype]
        wrong = next(
            (i for i, v in enumerate(data) if type(v) is not int or not low <= v <= high), None
        )
        expected = f"an integer from {low} to {high}"
    else:
        top = FLOAT_MAX[datatype]
        wrong = next((i for i, v in enumerate(data) if not _fits_float(v, top)), None)
        expected = f"a number that fits {datatype}"
    if wrong is not None:
        shown = repr(data[wrong])
        shown = shown if len(shown) <= 40 else f"{shown[:24]}... ({len(shown)} characters)"
        raise bad(f"{where}: element {wrong} is {shown}, not {expected}")


def _fits_float(value: Any, top: float) -> bool:
    kind = type(value)
    if kind is float:
        return not math.isfinite(value) or abs(value) <= top
    if kind is int:
        try:
            return abs(float(value)) <= top
        except OverflowError:
            return False
    return False


def _from_binary(raw: bytes, tensor: Tensor) -> list[Any]:
    datatype, count, where = tensor.datatype, math.prod(tensor.shape), f"input {tensor.name!r}"
    if datatype == "BYTES":
        items, position = [], 0
        while position < len(raw):
            if position + 4 > len(raw):
                raise bad(f"{where}: truncated BYTES element")
            (length,) = struct.unpack_from("<I", raw, position)
            position += 4
            if position + length > len(raw):
                raise bad(f"{where}: truncated BYTES element")
            try:
                items.append(raw[position : position + length].decode("utf-8"))
            except UnicodeDecodeError:
                raise bad(f"{where}: BYTES element {len(items)} is not UTF-8") from None
            position += length
        if len(items) != count:
            raise bad(f"{where}: {len(items)} elements for {count}")
        return items
    dtype = np.dtype(NUMPY[datatype])
    if len(raw) != count * dtype.itemsize:
        raise bad(f"{where}: {len(raw)} bytes for {count} elements of {datatype}")
    values: list[Any] = np.frombuffer(raw, dtype=dtype).tolist()
    return values


def rows(request: InferRequest, model: Loaded, max_instances: int) -> list[list[Any]]:
    """The request's rows in the model's feature order, each value checked against it."""
    _check_outputs(request, model)
    inputs = request.inputs
    if len(inputs) == 1 and len(inputs[0].shape) == 2:
        count, width = inputs[0].shape
        _check_count(count, max_instances)
        data = inputs[0].data
        table = [data[i * width : (i + 1) * width] for i in range(count)]
        if model.features is not None and width != len(model.features):
            raise bad(
                f"input {inputs[0].name!r} has {width} columns, expected {len(model.features)}"
            )
    else:
        table = _columns(inputs, model, max_instances)
    try:
        check_rows(table, model)
    except BadValue as exc:
        raise bad(f"the inputs do not fit the model: {exc}") from None
    return table


def _check_count(count: int, max_instances: int) -> None:
    if count == 0:
        raise bad("the inputs hold no instances")
    if count > max_instances:
        raise HttpError(
            413, f"{count} instances in one request; at most {max_instances} are accepted"
        )


def _columns(inputs: list[Tensor], model: Loaded, max_instances: int) -> list[list[Any]]:
    """One 1-D input per feature, named by feature, assembled into rows."""
    features = model.features
    if features is None:
        raise bad("this model takes one input of shape [N, features]")
    by_name: dict[str, Tensor] = {}
    for tensor in inputs:
        if tensor.name not in features:
            raise bad(f"input {tensor.name!r} is not a feature of the model")
        if tensor.name in by_name:
            raise bad(f"input {tensor.name!r} is given twice")
        if len(tensor.shape) > 2 or (len(tensor.shape) == 2 and tensor.shape[1] != 1):
            raise bad(f"input {tensor.name!r}: a feature's shape is [N] or [N, 1]")
        by_name[tensor.name] = tensor
    missing = [f for f in features if f not in by_name]
    if missing:
        raise bad(f"the inputs lack features {missing[:5]}")
    counts = {by_name[f].shape[0] for f in features}
    if len(counts) != 1:
        raise bad(f"the features' inputs differ in length: {sorted(counts)}")
    _check_count(counts.pop(), max_instances)
    return [list(values) for values in zip(*(by_name[f].data for f in features), strict=True)]


def output_names(model: Loaded) -> list[str]:
    return ["predict", "predict_proba"] if model.proba is not None else ["predict"]


def _check_outputs(request: InferRequest, model: Loaded) -> None:
    for name, _ in request.outputs or []:
        if name not in output_names(model):
            raise bad(f"output {name!r} is not one of {output_names(model)}")


def encode(
    request: InferRequest, deployment: str, model: Loaded, outcome: Outcome
) -> tuple[bytes, dict[str, str]]:
    """The response body and its headers (binary outputs follow the JSON)."""
    arrays = {"predict": _typed(outcome.predictions)}
    if outcome.probabilities is not None:
        arrays["predict_proba"] = (np.asarray(outcome.probabilities, dtype=np.float64), "FP64")
    wanted = request.outputs or [(name, None) for name in arrays]
    outputs, raw = [], []
    for name, flag in wanted:
        array, datatype = arrays[name]
        tensor: dict[str, Any] = {"name": name, "shape": list(array.shape), "datatype": datatype}
        if flag if flag is not None else request.binary_output:
            data = _to_binary(array, datatype)
            tensor["parameters"] = {"binary_data_size": len(data)}
            raw.append(data)
        else:
            tensor["data"] = array.ravel().tolist()
        outputs.append(tensor)
    body: dict[str, Any] = {
        "model_name": deployment,
        "model_version": model.version,
        "outputs": outputs,
    }
    if request.id is not None:
        body["id"] = request.id
    try:
        text = dumps(body, separators=(",", ":"), default=str).encode()
    except ValueError:  # NaN or infinity in the outputs: null, as JSON has no such number
        text = dumps(finite(body), separators=(",", ":"), default=str).encode()
    if not raw:
        return text, {"content-type": "application/json"}
    headers = {"content-type": "application/octet-stream", HEADER_LENGTH: str(len(text))}
    return b"".join([text, *raw]), headers


def _typed(values: list[Any]) -> tuple[np.ndarray[Any, Any], str]:
    array = np.asarray(values)
    kind = array.dtype.kind
    if kind == "b":
        return array, "BOOL"
    if kind in "iu":
        return array.astype(np.int64 if kind == "i" else np.uint64), (
            "INT64" if kind == "i" else "UINT64"
        )
    if kind == "f":
        return array.astype(np.float64), "FP64"
    return np.asarray([str(v) for v in array.ravel()], dtype=object).reshape(array.shape), "BYTES"


def _to_binary(array: np.ndarray[Any, Any], datatype: str) -> bytes:
    if datatype == "BYTES":
        parts = [str(v).encode() for v in array.ravel()]
        return b"".join(struct.pack("<I", len(p)) + p for p in parts)
    return array.astype(NUMPY[datatype]).tobytes()


def metadata(served: Served, model: Loaded) -> dict[str, Any]:
    datatype = "FP32" if model.dtype == "float32" else "FP64"
    if model.features is not None:
        inputs = [{"name": f, "datatype": datatype, "shape": [-1]} for f in model.features]
    else:
        inputs = [{"name": "input-0", "datatype": datatype, "shape": [-1, -1]}]
    outputs = [{"name": "predict", "datatype": model.output_datatype, "shape": [-1]}]
    if model.proba is not None:
        outputs.append({"name": "predict_proba", "datatype": "FP64", "shape": [-1, -1]})
    return {
        "name": served.name,
        "versions": [m.version for m in served.versions],
        "platform": "mlops-gitops",
        "inputs": inputs,
        "outputs": outputs,
    }
