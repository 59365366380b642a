"""KServe's V1 protocol: `{"instances": [...]}` or `{"inputs": [...]}` in, predictions out.

An instance is an object keyed by feature name or an array in the model's feature order.
"""

from __future__ import annotations

import json
from typing import Any

from mlops_gitops.serve.batch import Outcome
from mlops_gitops.serve.limits import json_values
from mlops_gitops.serve.models import Loaded
from mlops_gitops.serve.server import HttpError
from mlops_gitops.serve.values import BadValue, check_rows


def decode(body: bytes, max_values: int) -> Any:
    count = json_values(body)
    if count > max_values:
        raise HttpError(413, too_many(count, max_values))
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise HttpError(400, f"the body is not valid JSON: {_short(exc)}") from None


def too_many(count: int, limit: int) -> str:
    return f"the body holds up to {count} values; at most {limit} are accepted per request"


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "..."


def instances_of(payload: Any) -> list[Any]:
    if not isinstance(payload, dict) or not ("instances" in payload or "inputs" in payload):
        raise HttpError(400, 'the body must be a JSON object with "instances" (or "inputs")')
    if "instances" in payload and "inputs" in payload:
        raise HttpError(400, 'give "instances" or "inputs", not both')
    found = payload["instances"] if "instances" in payload else payload["inputs"]
    if not isinstance(found, list) or not found:
        raise HttpError(400, '"instances" must be a non-empty list')
    return found


def rows(payload: Any, model: Loaded, max_instances: int) -> list[list[Any]]:
    """The request's rows in the model's feature order, each value checked against it."""
    instances = instances_of(payload)
    if len(instances) > max_instances:
        raise HttpError(
            413, f"{len(instances)} instances in one request; at most {max_instances} are accepted"
        )
    features = model.features
    out = []
    for index, item in enumerate(instances):
        if isinstance(item, dict):
            if features is None:
                raise HttpError(400, "this model takes instances as arrays in its feature order")
            missing = [f for f in features if f not in item]
            if missing:
                raise HttpError(400, f"instance {index} lacks features {missing[:5]}")
            out.append([item[f] for f in features])
        elif isinstance(item, list):
            if features is not None and len(item) != len(features):
                raise HttpError(
                    400, f"instance {index} has {len(item)} values, expected {len(features)}"
                )
            out.append(item)
        else:
            raise HttpError(400, f"instance {index} must be an object or an array")
    try:
        check_rows(out, model)
    except BadValue as exc:
        raise HttpError(400, f"the instances do not fit the model: {exc}") from None
    return out


def answer(outcome: Outcome, model: Loaded) -> dict[str, Any]:
    out: dict[str, Any] = {"predictions": outcome.predictions, "model_version": model.version}
    if outcome.probabilities is not None:
        out["probabilities"] = outcome.probabilities
    return out
