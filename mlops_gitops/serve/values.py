"""Request values checked against what the model computes in, before it runs.

A number the model's dtype cannot hold (a 400-digit integer, 1e39 for a float32 model),
NaN where the model allows no missing values, infinity, or a nested value where a number
is due is the client's error: a 400 naming the instance, the feature and the problem,
never a failure counted against the model.
"""

from __future__ import annotations

import math
from typing import Any

from mlops_gitops.serve.models import Loaded

FLOAT32_MAX = 3.4028234663852886e38
SHOWN_DIGITS = 12


class BadValue(ValueError):
    """A value of the request the model cannot take; the message names it."""


def check_rows(rows: list[list[Any]], model: Loaded) -> None:
    """Raise BadValue for the first value the model cannot take."""
    limit = FLOAT32_MAX if model.dtype == "float32" else None
    numbers_only = model.dtype == "float32"
    scalars_only = model.dtype != "any"
    null_ok = model.allow_nan or not scalars_only  # `python` artifacts take JSON's null
    for index, row in enumerate(rows):
        for column, value in enumerate(row):
            kind = type(value)
            if kind is float:
                if math.isfinite(value):
                    if limit is not None and abs(value) > limit:
                        _bad(index, column, model, f"{value!r} does not fit {model.dtype}")
                    continue
                if math.isnan(value) and model.allow_nan:
                    continue
                _bad(index, column, model, f"{_non_finite(value)} is not allowed by this model")
            elif kind is int:
                _check_int(value, index, column, model, limit)
            elif kind is bool:
                continue
            elif value is None:
                if not null_ok:
                    _bad(index, column, model, "a missing value (null) is not allowed")
            elif kind is str:
                if numbers_only:
                    _bad(index, column, model, "a string where a number is due")
            elif scalars_only:
                _bad(index, column, model, f"a {_json_type(value)} where a number is due")


def _check_int(value: int, index: int, column: int, model: Loaded, limit: float | None) -> None:
    if -(2**63) <= value < 2**63 and limit is None:
        return
    try:
        as_float = float(value)
    except OverflowError:
        as_float = math.inf
    if math.isinf(as_float) or (limit is not None and abs(as_float) > limit):
        target = "float64" if model.dtype == "any" else model.dtype
        _bad(index, column, model, f"the integer {_digits(value)} does not fit {target}")


def _bad(index: int, column: int, model: Loaded, problem: str) -> None:
    if model.features is not None and column < len(model.features):
        where = f"feature {model.features[column]!r}"
    else:
        where = f"value {column}"
    raise BadValue(f"instance {index}, {where}: {problem}")


def _digits(value: int) -> str:
    """A huge integer shown by its first digits and its length, not in full."""
    text = str(abs(value))
    sign = "-" if value < 0 else ""
    if len(text) <= SHOWN_DIGITS:
        return sign + text
    return f"{sign}{text[:SHOWN_DIGITS]}... ({len(text)} digits)"


def _non_finite(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def _json_type(value: Any) -> str:
    if isinstance(value, dict):
        return "JSON object"
    if isinstance(value, list):
        return "JSON array"
    return type(value).__name__
