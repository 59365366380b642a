"""Values checked against what the model computes in, before it runs."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import pytest

from mlops_gitops.serve.models import Loaded, _sklearn
from mlops_gitops.serve.values import BadValue, check_rows
from tests.serve.helpers import FEATURES
from tests.support.repos import EXAMPLE_REPO

TRAIN = EXAMPLE_REPO / "data" / "train" / "cancer.csv"


def model(dtype: str = "float64", allow_nan: bool = False) -> Loaded:
    return Loaded("1", lambda x: x, None, ["a", "b"], dtype=dtype, allow_nan=allow_nan)


@pytest.mark.parametrize(
    ("value", "dtype", "message"),
    [
        (10**400, "float64", "feature 'b': the integer 100000000000... (401 digits) does not fit"),
        (-(10**309), "float64", "does not fit float64"),
        (10**39, "float32", "does not fit float32"),
        (1e39, "float32", "1e+39 does not fit float32"),
        (math.nan, "float64", "NaN is not allowed"),
        (math.inf, "float64", "Infinity is not allowed"),
        (-math.inf, "any", "-Infinity is not allowed"),
        (None, "float64", "missing value (null)"),
        ("x", "float32", "a string where a number is due"),
        ([1, 2], "float64", "a JSON array where a number is due"),
        ({"k": 1}, "float32", "a JSON object where a number is due"),
    ],
)
def test_values_the_model_cannot_hold_are_named(value: Any, dtype: str, message: str) -> None:
    with pytest.raises(BadValue) as caught:
        check_rows([[1.0, 2.0], [3.0, value]], model(dtype))
    assert str(caught.value).startswith("instance 1, feature 'b': ")
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("row", "dtype"),
    [
        ([2**63, -(2**63) - 1], "float64"),
        ([None, 1], "any"),  # ints past int64 that a float holds
        ([1e308, True], "float64"),
        ([3.4e38, 1], "float32"),
        ([[1, 2], {"nested": True}], "any"),  # python artifacts take what JSON gives
        (["a string", 1.5], "float64"),  # a categorical column: the model decides
    ],
)
def test_values_that_fit_pass(row: list[Any], dtype: str) -> None:
    check_rows([row], model(dtype))


def test_nan_passes_only_where_the_estimator_allows_missing_values() -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    frame = pd.read_csv(TRAIN).head(200)
    x, y = frame[FEATURES], frame["target"]
    tolerant = _sklearn("1", HistGradientBoostingClassifier(max_iter=5).fit(x, y))
    strict = _sklearn("1", LogisticRegression(max_iter=500).fit(x, y))
    row = [math.nan] + [1.0] * 9
    check_rows([row, [None] + [1.0] * 9], tolerant)
    with pytest.raises(BadValue, match="feature 'mean_radius': NaN is not allowed"):
        check_rows([row], strict)
    assert tolerant.output_datatype == strict.output_datatype == "INT64"
