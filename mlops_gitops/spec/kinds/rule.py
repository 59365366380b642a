"""The Rule kind: a trigger over monitoring, conditions, and the actions it takes."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from mlops_gitops.spec.base import Strict
from mlops_gitops.spec.kinds.common import INT32, Fraction, Metadata, Percent
from mlops_gitops.spec.quality import DataQualityTrigger, OutputDriftTrigger
from mlops_gitops.spec.types import Cron, Duration, HttpUrl, Name, Version


class DataDriftTrigger(Strict):
    """Fires when the share of drifted features, or one feature's statistic, is too high."""

    type: Literal["data_drift"]
    share_above: Fraction | None = None
    feature: str | None = None
    statistic_above: float | None = None

    @model_validator(mode="after")
    def _one(self) -> DataDriftTrigger:
        if self.share_above is None and self.feature is None:
            raise ValueError("set share_above, or feature (with optional statistic_above)")
        if self.statistic_above is not None and self.feature is None:
            raise ValueError("statistic_above needs a feature")
        return self


LOWER_IS_BETTER = ("mae", "rmse")
"""Metrics where a rise is the degradation."""


class PerformanceTrigger(Strict):
    """Fires when a metric gets worse than a value, or worse than the offline metric by a share.

    For higher-is-better metrics (accuracy, roc_auc, r2) set `below`; for lower-is-better ones
    (mae, rmse) set `above`; `relative_drop` means a fall, or a rise, by that share.
    """

    type: Literal["performance_degradation"]
    metric: str
    below: float | None = None
    above: float | None = None
    relative_drop: Fraction | None = None

    @model_validator(mode="after")
    def _one(self) -> PerformanceTrigger:
        if sum(v is not None for v in (self.below, self.above, self.relative_drop)) != 1:
            raise ValueError("set exactly one of below, above or relative_drop")
        lower = self.metric in LOWER_IS_BETTER
        if lower and self.below is not None:
            raise ValueError(f"{self.metric} is lower-is-better: set above, not below")
        if not lower and self.above is not None:
            raise ValueError(f"{self.metric} is higher-is-better: set below, not above")
        return self


class ErrorRateTrigger(Strict):
    """Fires when the error rate exceeds a value, or rises against a baseline by some points.

    `compare_to: stable` compares the canary with the stable version of the same window;
    `previous_window` compares the watched version with the previous report.
    """

    type: Literal["error_rate_increase"]
    above: Fraction | None = None
    compare_to: Literal["stable", "previous_window"] | None = None
    increase_above: Fraction | None = Field(
        None, description="With compare_to: the rise, in proportion points, that fires."
    )

    @model_validator(mode="after")
    def _one(self) -> ErrorRateTrigger:
        if (self.above is None) == (self.compare_to is None):
            raise ValueError("set above, or compare_to with increase_above")
        if (self.compare_to is None) != (self.increase_above is None):
            raise ValueError("compare_to and increase_above go together")
        return self


class PrometheusTrigger(Strict):
    """Fires when a Prometheus instant query is above or below a value."""

    type: Literal["prometheus"]
    query: Annotated[str, Field(min_length=1, max_length=2000)]
    above: float | None = None
    below: float | None = None

    @model_validator(mode="after")
    def _one(self) -> PrometheusTrigger:
        if self.above is None and self.below is None:
            raise ValueError("set above or below")
        return self


class LatencyTrigger(Strict):
    """Fires when p95 or p99 latency exceeds a value."""

    type: Literal["latency"]
    p95_ms_above: Annotated[float, Field(gt=0)] | None = None
    p99_ms_above: Annotated[float, Field(gt=0)] | None = None

    @model_validator(mode="after")
    def _one(self) -> LatencyTrigger:
        if self.p95_ms_above is None and self.p99_ms_above is None:
            raise ValueError("set p95_ms_above or p99_ms_above")
        return self


class ScheduleTrigger(Strict):
    """Fires at each cron match."""

    type: Literal["schedule"]
    cron: Cron


Trigger = Annotated[
    DataDriftTrigger
    | PerformanceTrigger
    | ErrorRateTrigger
    | LatencyTrigger
    | ScheduleTrigger
    | PrometheusTrigger
    | DataQualityTrigger
    | OutputDriftTrigger,
    Field(discriminator="type"),
]


class Conditions(Strict):
    """How triggers combine and how often the rule may act."""

    match: Literal["any", "all"] = "any"
    min_samples: Annotated[int, Field(ge=0, le=INT32)] = 0
    cooldown: Duration | None = None


class RollbackAction(Strict):
    """Return the deployment to its previous stable version, dropping the canary."""

    type: Literal["rollback_deployment"]
    to: Version | None = None


class TrafficAction(Strict):
    """Set the canary's share of traffic."""

    type: Literal["update_traffic_allocation"]
    canary_traffic: Percent


class ScaleAction(Strict):
    """Change the replica bounds."""

    type: Literal["scale_deployment"]
    min_replicas: Annotated[int, Field(ge=0, le=INT32)]
    max_replicas: Annotated[int, Field(ge=1, le=INT32)]

    @model_validator(mode="after")
    def _ordered(self) -> ScaleAction:
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"min_replicas ({self.min_replicas}) exceeds max_replicas ({self.max_replicas})"
            )
        return self


class RetrainAction(Strict):
    """Run a training pipeline."""

    type: Literal["retrain_model"]
    pipeline: Name


class AlertAction(Strict):
    """Tell people: on the log, in an alerts file, or by webhook."""

    type: Literal["send_alert"]
    channel: Literal["log", "file", "webhook"]
    url: HttpUrl | None = None
    message: str | None = None
    timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 5.0
    retries: Annotated[int, Field(ge=0, le=10)] = 3

    @model_validator(mode="after")
    def _url(self) -> AlertAction:
        if self.channel == "webhook" and not self.url:
            raise ValueError("a webhook alert needs a url")
        return self


Action = Annotated[
    RollbackAction | TrafficAction | ScaleAction | RetrainAction | AlertAction,
    Field(discriminator="type"),
]


class RuleSpec(Strict):
    """Triggers on what monitoring saw, and the actions to take."""

    deployment: Name
    enabled: bool = True
    description: str | None = None
    triggers: list[Trigger] = Field(min_length=1)
    conditions: Conditions = Conditions()
    actions: list[Action] = Field(min_length=1)


class Rule(Strict):
    """An automation rule watching one deployment."""

    apiVersion: Literal["mlops-gitops/v1"]
    kind: Literal["Rule"]
    metadata: Metadata
    spec: RuleSpec
