"""The Deployment kind: what serves where, its canary, promotion and monitoring."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from mlops_gitops.spec.base import Strict
from mlops_gitops.spec.kinds.common import INT32, DriftMethod, LoggerUrl, Metadata, Percent, Stage
from mlops_gitops.spec.quality import Gates
from mlops_gitops.spec.types import Duration, Name, Quantity, RepoPath, Version

CompareMetric = Literal[
    "accuracy",
    "error_rate",
    "latency_ms",
    "abs_error",
    "squared_error",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
]
PERCENTILE_METRICS = ("latency_p50_ms", "latency_p95_ms", "latency_p99_ms")


class CompareCheck(Strict):
    """Canary against stable: a sequential test, or a ratio of latency percentiles."""

    compare: CompareMetric
    test: Literal["non_inferiority", "superiority"] = Field(
        "non_inferiority",
        description="non_inferiority: pass when the canary is shown at most `margin` worse;"
        " superiority: pass when it is shown more than `margin` better.",
    )
    margin: Annotated[float, Field(ge=0.0, le=0.5)] = Field(
        0.0,
        description="For accuracy and error_rate, in proportion points (0.01 = one point);"
        " for per-record values, on the probability that a canary record beats a stable one.",
    )
    max_ratio: Annotated[float, Field(gt=0)] | None = Field(
        None, description="latency_pNN_ms only: canary percentile / stable percentile at most."
    )

    @model_validator(mode="after")
    def _ratio(self) -> CompareCheck:
        if (self.compare in PERCENTILE_METRICS) != (self.max_ratio is not None):
            raise ValueError("max_ratio goes with latency_p50_ms, latency_p95_ms, latency_p99_ms")
        return self


class MetricCheck(Strict):
    """A number of the canary's own records in the report: error_rate, accuracy, latency_p99_ms."""

    metric: str
    max: float | None = None
    min: float | None = None

    @model_validator(mode="after")
    def _bound(self) -> MetricCheck:
        if self.max is None and self.min is None:
            raise ValueError("set max or min")
        return self


class PrometheusCheck(Strict):
    """A Prometheus instant query; `$canary`, `$stable`, `$deployment` are filled in."""

    prometheus: Annotated[str, Field(min_length=1, max_length=2000)]
    max: float | None = None
    min: float | None = None

    @model_validator(mode="after")
    def _bound(self) -> PrometheusCheck:
        if self.max is None and self.min is None:
            raise ValueError("set max or min")
        return self


AnalysisCheck = CompareCheck | MetricCheck | PrometheusCheck


class CanaryAnalysis(Strict):
    """How `reconcile` judges a canary before each traffic step."""

    interval: Duration = Field(description="At most one analysis, and one step, per interval.")
    min_samples: Annotated[int, Field(ge=1, le=INT32)] = Field(
        100, description="Records per version since the last step before an analysis counts."
    )
    max_failures: Annotated[int, Field(ge=1, le=100)] = Field(
        2, description="Failed analyses before the canary is removed."
    )
    alpha: Annotated[float, Field(gt=0.0, le=0.2)] = Field(
        0.05, description="Error rate of each sequential test, whatever the number of looks."
    )
    checks: list[AnalysisCheck] = Field(min_length=1, max_length=50)


class Canary(Strict):
    """A version receiving a share of the traffic next to the stable one."""

    version: Version
    traffic: Percent
    steps: list[Annotated[int, Field(ge=1, le=100)]] | None = Field(
        None,
        max_length=100,
        description="Traffic steps reconcile takes as analyses pass; after the last, it promotes.",
    )
    analysis: CanaryAnalysis | None = None

    @model_validator(mode="after")
    def _steps(self) -> Canary:
        if self.steps is None:
            return self
        if not self.steps or any(a >= b for a, b in zip(self.steps, self.steps[1:], strict=False)):
            raise ValueError("steps must rise, e.g. [10, 25, 50, 100]")
        if self.analysis is None:
            raise ValueError("steps need an analysis: nothing moves without one")
        return self


class Resources(Strict):
    """Compute requested per replica."""

    cpu: Quantity | None = None
    memory: Quantity | None = None
    gpu: Annotated[int, Field(ge=0, le=INT32)] | None = None


class Scaling(Strict):
    """Replica bounds."""

    min_replicas: Annotated[int, Field(ge=0, le=INT32)] = 1
    max_replicas: Annotated[int, Field(ge=1, le=INT32)] = 1

    @model_validator(mode="after")
    def _ordered(self) -> Scaling:
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"min_replicas ({self.min_replicas}) exceeds max_replicas ({self.max_replicas})"
            )
        return self


class HealthCheck(Strict):
    """How the target checks a replica is alive."""

    path: str = "/healthz"
    interval_seconds: Annotated[int, Field(ge=1, le=INT32)] = 10


class Promotion(Strict):
    """Conditions a version must meet before it enters this deployment."""

    requires_stage: Stage | None = None
    gates: Gates = Field(default_factory=dict)


class FeatureDrift(Strict):
    """Per-feature drift method and threshold."""

    method: DriftMethod | None = None
    threshold: float | None = None


class DriftSettings(Strict):
    """How drift is measured against the version's reference data."""

    method: DriftMethod = "auto"
    drift_share: Annotated[float, Field(gt=0.0, le=1.0)] = 0.5
    correction: Literal["benjamini-hochberg", "bonferroni", "none"] = "benjamini-hochberg"
    features: dict[str, FeatureDrift] = Field(default_factory=dict)


class Window(Strict):
    """The rolling window statistics use: the last N records or a duration."""

    records: Annotated[int, Field(ge=1, le=INT32)] | None = None
    duration: Duration | None = None

    @model_validator(mode="after")
    def _one(self) -> Window:
        if (self.records is None) == (self.duration is None):
            raise ValueError("set exactly one of records or duration")
        return self


class MonitoringSettings(Strict):
    """Where prediction logs and labels are, and how they are judged."""

    predictions: RepoPath | None = None
    labels: RepoPath | None = None
    window: Window = Window(records=50_000)
    drift: DriftSettings = DriftSettings()
    range_tolerance: Annotated[float, Field(ge=0.0, le=1e6)] = Field(
        0.1,
        description="How far past the reference range a numeric value may be before it counts "
        "as invalid, as a share of the range (0.1: 10% of max - min on either side).",
    )
    exact_max_records: Annotated[int, Field(ge=1)] = Field(
        1_000_000,
        description="Up to this many values, KS, Wasserstein, latency percentiles and ROC-AUC "
        "are exact; beyond, they come from KLL sketches (the report says so, with the error).",
    )
    logger_url: LoggerUrl | None = Field(
        None,
        description="kserve target: where KServe's payload logger sends request and response"
        " CloudEvents (an http or https URL).",
    )


class DeploymentSpec(Strict):
    """Which version serves where, with what traffic and gates."""

    model: Name
    stage: Stage
    target: Literal["local", "kserve"] = "local"
    version: Version = Field(description="The stable version.")
    canary: Canary | None = None
    resources: Resources = Resources()
    scaling: Scaling = Scaling()
    health_check: HealthCheck = HealthCheck()
    promotion: Promotion = Promotion()
    monitoring: MonitoringSettings = MonitoringSettings()
    suspend: bool = False


class Deployment(Strict):
    """A deployment of one model."""

    apiVersion: Literal["mlops-gitops/v1"]
    kind: Literal["Deployment"]
    metadata: Metadata
    spec: DeploymentSpec
