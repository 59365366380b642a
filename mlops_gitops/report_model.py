"""The monitoring report contract: `reports/<deployment>/latest.json`, as one pydantic model.

`monitor` writes it and the planner's gates, the rules, `report history` and the CLI read it.
It sits below every layer that reads it. The file is in the repository, so it is read as
untrusted input: numbers must be numbers (never booleans or strings), and a report that does
not fit is refused as a whole (`ReportError` names the file and the field) rather than half
read. Fields a reader does not name are kept (`extra="allow"`), so the JSON written is exactly
the JSON built, and a newer writer's extra sections survive an older reader.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mlops_gitops.errors import MlopsError
from mlops_gitops.safeio import dump_bytes, read_json

REPORT_FORMAT_VERSION = "1"

Number = Annotated[float, Field(strict=True)]
"""A JSON number (an int is accepted); never a boolean or a numeric string."""
Count = Annotated[int, Field(strict=True, ge=0)]


class ReportError(MlopsError):
    """A latest.json that cannot be read or does not fit the contract."""


class Part(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)


class Latency(Part):
    p50: Number | None = None
    p95: Number | None = None
    p99: Number | None = None

    def quantiles(self) -> dict[str, float]:
        """Every measured quantile by name (p50, p95, p99 and any other written)."""
        return _numbers({**dict(self), **(self.model_extra or {})})


class Performance(Part):
    """Metrics on the labelled records of one version; which ones depends on the task."""

    labelled: Count = 0
    positive_label: str | None = None
    accuracy: Number | None = None
    precision: Number | None = None
    recall: Number | None = None
    f1: Number | None = None
    roc_auc: Number | None = None
    mae: Number | None = None
    rmse: Number | None = None
    r2: Number | None = None

    def metrics(self) -> dict[str, float]:
        """Every number by name (extra ones too, and `labelled`: a gate may ask for enough)."""
        return _numbers({**dict(self), **(self.model_extra or {})})


def _numbers(values: dict[str, Any]) -> dict[str, float]:
    return {
        name: float(value)
        for name, value in values.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }


class VersionDrift(Part):
    dataset_drift: bool = False
    share_drifted: Number = 0.0
    drifted_features: list[str] = Field(default_factory=list)


class VersionReport(Part):
    """The numbers of one version over the window."""

    role: str | None = None
    records: Count = 0
    errors: Count = 0
    error_rate: Number | None = None
    latency_ms: Latency = Latency()
    performance: Performance = Performance()
    drift: VersionDrift | None = None


class FeatureDrift(Part):
    method: str | None = None
    statistic: Number | None = None
    threshold: Number | None = None
    p_value: Number | None = None
    drifted: bool = False
    evaluated: bool = True


class Drift(Part):
    dataset_drift: bool = False
    share_drifted: Number = 0.0
    features: dict[str, FeatureDrift] = Field(default_factory=dict)


class Window(Part):
    start: str | None = None
    end: str | None = None
    records: Count = 0
    labelled: Count = 0


class FeatureQuality(Part):
    missing_share: Number = 0.0
    invalid_share: Number = 0.0
    type_violations: Count | None = None
    out_of_range: Count | None = None
    unseen_categories: Count | None = None


class Schema(Part):
    missing_columns: list[str] = Field(default_factory=list)
    new_columns: list[str] = Field(default_factory=list)
    changes: Count = 0


class DataQuality(Part):
    """Malformed records, and against the stable reference: per-feature quality and schema.
    The reference-based numbers are None in a report written before they existed."""

    malformed_records: Count = 0
    missing: dict[str, Number | None] = Field(default_factory=dict)
    events: list[str] = Field(default_factory=list)
    features: dict[str, FeatureQuality] = Field(default_factory=dict)
    invalid_share: Number | None = None
    missing_share: Number | None = None
    schema_: Schema | None = Field(None, alias="schema")

    def numbers(self) -> dict[str, float]:
        """What a gate or trigger bounds, by the names `data_quality` limits expand to."""
        out: dict[str, float] = {}
        if self.invalid_share is not None:
            out["data_quality_invalid_share"] = self.invalid_share
        if self.missing_share is not None:
            out["data_quality_missing_share"] = self.missing_share
        if self.schema_ is not None:
            out["data_quality_schema_changes"] = float(self.schema_.changes)
        return out


class OutputDrift(Part):
    """One drift test of the model's outputs or of the labels against the reference."""

    available: bool = False
    reason: str | None = None
    method: str | None = None
    statistic: Number | None = None
    p_value: Number | None = None
    threshold: Number | None = None
    drifted: bool = False


class Estimate(Part):
    value: Number | None = None
    lower: Number | None = None
    upper: Number | None = None


class EstimatedPerformance(Part):
    """Accuracy and ROC AUC expected from calibrated scores, before labels arrive."""

    available: bool = False
    reason: str | None = None
    accuracy: Estimate | None = None
    roc_auc: Estimate | None = None


class Outputs(Part):
    prediction_drift: OutputDrift = OutputDrift()
    score_drift: OutputDrift = OutputDrift()
    target_drift: OutputDrift = OutputDrift()
    estimated_performance: EstimatedPerformance = EstimatedPerformance()


class MonitoringReport(Part):
    """One deployment's latest.json."""

    format_version: str = REPORT_FORMAT_VERSION
    deployment: str
    model: str | None = None
    generated_at: str | None = None
    window: Window = Window()
    versions: dict[str, VersionReport] = Field(default_factory=dict)
    drift: Drift = Drift()
    comparison: dict[str, Any] = Field(default_factory=dict)
    data_quality: DataQuality = DataQuality()
    outputs: Outputs | None = None

    def to_bytes(self) -> bytes:
        """The JSON as built: fields never set are not invented."""
        return dump_bytes(self.model_dump(mode="json", exclude_unset=True, by_alias=True))


def parse_report(data: Any, where: str) -> MonitoringReport:
    """The report in `data` (parsed JSON); ReportError naming `where` and the field."""
    try:
        return MonitoringReport.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise ReportError(
            f"{where}: not a monitoring report: {field}: {first['msg']}",
            hint="run `mlops-gitops monitor` to write it again",
        ) from None


def read_report(path: Path, where: str) -> MonitoringReport | None:
    """The report at `path`, None when there is none; ReportError when it is unreadable."""
    if not path.is_file():
        return None
    try:
        data = read_json(path)
    except (OSError, ValueError) as exc:
        raise ReportError(
            f"{where}: unreadable monitoring report: {exc}",
            hint="run `mlops-gitops monitor` to write it again",
        ) from None
    return parse_report(data, where)
