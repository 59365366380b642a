"""The tool's JSON format (two-space indent, sorted keys) is written byte for byte as the
standard library writes it, whichever encoder `safeio.dumps` picks, and refuses what it refuses."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlops_gitops.safeio import dump_bytes, dumps

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=30,
)


def reference(data: Any, ensure_ascii: bool) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=ensure_ascii)


@settings(max_examples=300, deadline=None)
@given(data=values, ensure_ascii=st.booleans())
def test_indented_output_is_the_standard_librarys(data: Any, ensure_ascii: bool) -> None:
    assert dumps(data, indent=2, sort_keys=True, ensure_ascii=ensure_ascii) == reference(
        data, ensure_ascii
    )


@pytest.mark.parametrize(
    "data",
    [
        {"f": [1e-05, 1e16, -0.0, 0.1, 1.5e300, 123456789.123]},
        {"s": '\x00\x1f\x7f\u2028é😀"\\\n\t\b\f\r/', "sha": "3e4f9e-1d"},
        {10: "int keys", 2: "sorted as numbers"},
        {"big": 2**80, "tuple": (1, 2), "empty": [{}, []]},
    ],
)
def test_awkward_values_are_written_alike(data: Any) -> None:
    for ensure_ascii in (True, False):
        assert dumps(data, indent=2, sort_keys=True, ensure_ascii=ensure_ascii) == reference(
            data, ensure_ascii
        )
    assert dump_bytes(data) == (reference(data, False) + "\n").encode()


def test_a_lone_surrogate_is_escaped_or_refused_as_before() -> None:
    data = {"lone": "\ud800"}
    assert dumps(data, indent=2, sort_keys=True) == reference(data, True)
    with pytest.raises(UnicodeEncodeError):
        dump_bytes(data)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_nan_and_infinities_are_refused(bad: float) -> None:
    with pytest.raises(ValueError):
        dumps({"x": [bad]}, indent=2, sort_keys=True)


def test_values_json_has_no_form_for_are_refused() -> None:
    with pytest.raises(TypeError):
        dumps({"x": {1, 2}}, indent=2, sort_keys=True)
    with pytest.raises(TypeError):
        dumps({"when": __import__("datetime").date(2026, 1, 1)}, indent=2, sort_keys=True)
