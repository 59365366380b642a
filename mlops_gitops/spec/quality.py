"""Spec types for data quality and output drift: the limits a gate or a rule trigger sets.

A gate names `data_quality: {max_invalid_share: 0.01, schema_changes: 0}` among its thresholds;
it is expanded at load time into plain thresholds on the numbers the report publishes
(`data_quality_invalid_share <= 0.01`, `data_quality_schema_changes <= 0`), so the planner
checks it like any other gate and its result names the number and the report it came from.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    model_validator,
)

from mlops_gitops.spec.types import THRESHOLD_PATTERN, Threshold, ThresholdExpr

GATE_NUMBERS = {
    "max_invalid_share": "data_quality_invalid_share",
    "max_missing_share": "data_quality_missing_share",
    "schema_changes": "data_quality_schema_changes",
}
"""Limit -> the report number it bounds (what workspace observations publish)."""


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class DataQualityLimits(_Strict):
    """Most invalid values (type violations, out of range, unseen categories) in any one
    feature, most missing values in any one feature, and most schema changes."""

    max_invalid_share: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    max_missing_share: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    schema_changes: Annotated[int, Field(ge=0)] | None = Field(
        None, description="Most columns missing from or added to the reference schema."
    )

    @model_validator(mode="after")
    def _some(self) -> DataQualityLimits:
        if (self.max_invalid_share, self.max_missing_share, self.schema_changes) == (None,) * 3:
            raise ValueError("set max_invalid_share, max_missing_share or schema_changes")
        return self

    def limits(self) -> dict[str, float]:
        """Report number -> the most it may be."""
        out: dict[str, float] = {}
        for name, number in GATE_NUMBERS.items():
            value = getattr(self, name)
            if value is not None:
                out[number] = float(value)
        return out


def _expand(value: Any) -> Any:
    if not isinstance(value, dict) or "data_quality" not in value:
        return value
    out = {k: v for k, v in value.items() if k != "data_quality"}
    try:
        limits = DataQualityLimits.model_validate(value["data_quality"])
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        why = str(first["msg"]).removeprefix("Value error, ")
        raise ValueError(f"data_quality{'.' + where if where else ''}: {why}") from None
    for number, most in limits.limits().items():
        if number in out:
            raise ValueError(f"{number} is set twice: directly and by data_quality")
        out[number] = Threshold("<=", most)
    return out


_THRESHOLD_SCHEMA = {"type": "string", "pattern": THRESHOLD_PATTERN, "examples": [">= 0.90"]}

Gates = Annotated[
    dict[str, ThresholdExpr],
    BeforeValidator(_expand),
    WithJsonSchema(
        {
            "type": "object",
            "additionalProperties": _THRESHOLD_SCHEMA,
            "properties": {
                "data_quality": {
                    **DataQualityLimits.model_json_schema(),
                    "description": "Limits on the monitoring report's data quality section.",
                }
            },
        }
    ),
]
"""Metric -> threshold; `data_quality` takes limits instead (see the module docstring)."""


class DataQualityTrigger(DataQualityLimits):
    """Fires when the report's data quality exceeds any limit set."""

    type: Literal["data_quality"]


class OutputDriftTrigger(_Strict):
    """Fires when the model's predictions (prediction_drift), scores (score_drift) or the
    labels (target_drift) drift from the reference: by the test's verdict, or a statistic
    above a value. The reference data needs `prediction`, `score` or `target` columns."""

    type: Literal["prediction_drift", "score_drift", "target_drift"]
    statistic_above: float | None = None
