"""The base of every spec model."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """Base of every spec model: immutable, and unknown fields are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> Strict:
        # Immutable: a default instance can be shared, not copied for every object (pydantic
        # deep-copies defaults such as `Resources()`; this was a third of validation time).
        return self
