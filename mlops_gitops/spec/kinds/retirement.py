"""The RetirementPlan kind: phases that move traffic off a version, then retire it."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from mlops_gitops.spec.base import Strict
from mlops_gitops.spec.kinds.common import Metadata
from mlops_gitops.spec.types import MAX_DURATION_DAYS, Date, Name, Version

PhaseName = Literal["deprecation_warning", "traffic_reduction", "final_migration", "retirement"]


class Phase(Strict):
    """A retirement phase starting a number of days before the retirement date."""

    name: PhaseName
    days_before: Annotated[int, Field(ge=0, le=MAX_DURATION_DAYS)]


DEFAULT_PHASES = (
    Phase(name="deprecation_warning", days_before=90),
    Phase(name="traffic_reduction", days_before=30),
    Phase(name="final_migration", days_before=7),
    Phase(name="retirement", days_before=0),
)


class RetirementPlanSpec(Strict):
    """Which version retires, when, and what replaces it."""

    model: Name
    version: Version
    retirement_date: Date
    replacement: Version
    phases: list[Phase] = Field(default_factory=lambda: list(DEFAULT_PHASES))

    @model_validator(mode="after")
    def _phases(self) -> RetirementPlanSpec:
        names = [p.name for p in self.phases]
        if len(set(names)) != len(names):
            raise ValueError("each phase may appear once")
        days = [p.days_before for p in self.phases]
        if days != sorted(days, reverse=True):
            raise ValueError("phases must be listed in order, days_before decreasing")
        return self


class RetirementPlan(Strict):
    """A phased retirement of one model version."""

    apiVersion: Literal["mlops-gitops/v1"]
    kind: Literal["RetirementPlan"]
    metadata: Metadata
    spec: RetirementPlanSpec
