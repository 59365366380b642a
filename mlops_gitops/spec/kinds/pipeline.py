"""The TrainingPipeline kind: data sources, features, trainer and evaluation."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from mlops_gitops.spec.base import Strict
from mlops_gitops.spec.kinds.common import INT32, Metadata, Percent
from mlops_gitops.spec.types import Entrypoint, HttpUrl, Name, RepoPath, ThresholdExpr


class FileSource(Strict):
    """A CSV or Parquet file in the repository or at a URI."""

    type: Literal["file"]
    path: RepoPath
    format: Literal["csv", "parquet"] | None = None


class DatabaseSource(Strict):
    """Rows from a database through an SQLAlchemy URL and a query."""

    type: Literal["database"]
    url: str
    query: str


class HttpSource(Strict):
    """Records from an HTTP endpoint returning JSON."""

    type: Literal["http"]
    url: HttpUrl
    records_path: str | None = Field(None, description="Dotted path to the list of records.")
    timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 30.0


DataSource = Annotated[FileSource | DatabaseSource | HttpSource, Field(discriminator="type")]


class ScalingTransform(Strict):
    """Scale numeric columns."""

    type: Literal["scaling"]
    columns: list[str] = Field(min_length=1)
    method: Literal["standard", "minmax", "robust"] = "standard"


class EncodingTransform(Strict):
    """Encode categorical columns."""

    type: Literal["encoding"]
    columns: list[str] = Field(min_length=1)
    method: Literal["onehot", "ordinal"] = "onehot"


class FeatureSelectionTransform(Strict):
    """Drop weak features."""

    type: Literal["feature_selection"]
    method: Literal["variance", "kbest"] = "variance"
    threshold: float | None = None
    k: Annotated[int, Field(ge=1, le=INT32)] | None = None

    @model_validator(mode="after")
    def _k(self) -> FeatureSelectionTransform:
        if self.method == "kbest" and self.k is None:
            raise ValueError("method kbest needs k")
        return self


Transformation = Annotated[
    ScalingTransform | EncodingTransform | FeatureSelectionTransform,
    Field(discriminator="type"),
]


class Features(Strict):
    """The target column and the transformations applied before training."""

    target: str
    columns: list[str] | None = None
    transformations: list[Transformation] = Field(default_factory=list)


class Split(Strict):
    """Train/test split."""

    test_size: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.2
    seed: Annotated[int, Field(ge=0, le=2**32 - 1)] = 0
    stratify: bool = False


class Trainer(Strict):
    """The training function, called as train(X_train, y_train, **hyperparameters)."""

    entrypoint: Entrypoint
    hyperparameters: dict[str, Any] = Field(default_factory=dict)


class Evaluation(Strict):
    """Metrics computed on the test split and the thresholds they must meet."""

    metrics: list[str] = Field(default_factory=list)
    thresholds: dict[str, ThresholdExpr] = Field(default_factory=dict)


class CanaryTarget(Strict):
    """Put a freshly trained version on canary in a deployment."""

    deployment: Name
    traffic: Percent


class Join(Strict):
    """Join the data sources on key columns instead of stacking their rows."""

    on: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1)
    how: Literal["inner", "left"] = "inner"


class DataChecks(Strict):
    """Checks of the combined data before anything is trained."""

    max_missing_share: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        0.5, description="The largest share of missing values a feature column may have."
    )


class TrainingPipelineSpec(Strict):
    """How a new version of a model is trained, evaluated and registered."""

    model: Name
    data_sources: list[DataSource] = Field(min_length=1)
    join: Join | None = Field(
        None,
        description="Join the sources (the first is the left side) on key columns; "
        "without it their rows are stacked, which needs the same columns in each.",
    )
    data_checks: DataChecks = DataChecks()
    features: Features
    split: Split = Split()
    trainer: Trainer
    evaluation: Evaluation = Evaluation()
    canary: CanaryTarget | None = None


class TrainingPipeline(Strict):
    """A training pipeline for one model."""

    apiVersion: Literal["mlops-gitops/v1"]
    kind: Literal["TrainingPipeline"]
    metadata: Metadata
    spec: TrainingPipelineSpec
