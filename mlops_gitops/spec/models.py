"""The spec language: frozen pydantic models for every kind, one source for checks and schemas."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from mlops_gitops.spec.base import Strict
from mlops_gitops.spec.locations import scheme
from mlops_gitops.spec.quality import DataQualityTrigger as DataQualityTrigger
from mlops_gitops.spec.quality import Gates
from mlops_gitops.spec.quality import OutputDriftTrigger as OutputDriftTrigger
from mlops_gitops.spec.targets import TargetSettings
from mlops_gitops.spec.types import (
    MAX_DURATION_DAYS,
    Cron,
    Date,
    Duration,
    Entrypoint,
    HttpUrl,
    Name,
    PackageName,
    PackagePin,
    ParentRef,
    Quantity,
    RepoPath,
    Sha256,
    Tag,
    ThresholdExpr,
    TypeName,
    Version,
)

API_VERSION = "mlops-gitops/v1"

Stage = Literal["development", "staging", "canary", "production"]
Format = Literal["skops", "onnx", "joblib", "pickle", "python", "safetensors", "pytorch"]
DriftMethod = Literal["auto", "ks", "psi", "js", "wasserstein", "chi2"]
Percent = Annotated[int, Field(ge=0, le=100)]
LoggerUrl = Annotated[
    str, StringConstraints(pattern=r"^https?://[^\s/?#]+[^\s]*$", max_length=2048)
]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
INT32 = 2**31 - 1
"""Upper bound of counts that end up in Kubernetes manifests (int32 there)."""


class Metadata(Strict):
    """Name and free-form labels of an object."""

    name: Name
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


# ---------------------------------------------------------------- Project


class GitSettings(Strict):
    """How the tool commits and pushes."""

    author: str | None = Field(None, description='Commit author, "Name <email>".')
    branch: str = "main"
    remote: str = "origin"


class FreezeWindow(Strict):
    """A period, starting at each cron match, during which only rollbacks run."""

    cron: Cron
    duration: Duration


class SignedCommits(Strict):
    """Deploy, promote and update steps into `stages` need the commits behind them signed."""

    stages: list[Stage] = Field(min_length=1)
    allowed_signers: RepoPath = Field(
        description="Repository path of an SSH allowed-signers file (git's "
        "gpg.ssh.allowedSignersFile format)."
    )

    @model_validator(mode="after")
    def _local(self) -> SignedCommits:
        if scheme(self.allowed_signers) is not None:
            raise ValueError(
                f"allowed_signers {self.allowed_signers!r} must be a path inside the repository"
            )
        return self


class Policies(Strict):
    """Rules every plan must respect; a violation blocks the step."""

    stage_order: list[Stage] = Field(default_factory=list)
    min_time_in_stage: Duration | None = None
    production_gates: Gates = Field(default_factory=dict)
    max_canary_step: Annotated[int, Field(ge=1, le=100)] | None = None
    allowed_formats: list[Format] | None = None
    freeze_windows: list[FreezeWindow] = Field(default_factory=list)
    require_signed_commits: SignedCommits | None = None


class SecuritySettings(Strict):
    """Opt-ins that widen what repository content may make the tool reach; all off by default."""

    allow_local_uris: bool = Field(
        False,
        description="Accept file:// URIs for artifacts, data and logs (outside the repo), and"
        " http(s) URIs naming loopback or private addresses.",
    )
    allow_insecure_http: bool = Field(
        False,
        description="Accept plain http:// URIs for artifacts, data and logs, and a plain"
        " http:// monitoring.prometheus_url.",
    )
    allow_private_webhooks: bool = Field(
        False,
        description="Let webhooks reach loopback and private addresses (link-local and"
        " metadata ones stay refused); what the tool reads follows allow_local_uris.",
    )
    allow_private_metrics: bool = Field(
        False,
        description="Let monitoring.prometheus_url name a loopback or private address (a"
        " Prometheus beside the runner); link-local and metadata ones stay refused.",
    )
    template_cpu_seconds: float = Field(
        2.0, gt=0, le=60, description="CPU time one *.yaml.j2 template may take to render."
    )
    template_output_bytes: int = Field(
        10 * 1024 * 1024,
        ge=1024,
        le=64 * 1024 * 1024,
        description="Output one *.yaml.j2 template may render, and the largest value it may "
        "build; everything it builds together may be ten times this.",
    )


DASK_SCHEMES = ("tcp://", "tls://")


class ProjectMonitoring(Strict):
    """Where `monitor` computes: in its own process, or on an existing Dask cluster."""

    engine: Literal["local", "dask"] = Field(
        "local", description="local: this process; dask: the workers of `dask_scheduler`."
    )
    dask_scheduler: str | None = Field(
        None,
        description="Address of the Dask scheduler (tcp://host:8786 or tls://...); the "
        "environment variable MLOPS_GITOPS_DASK_SCHEDULER overrides it.",
    )
    prometheus_url: HttpUrl | None = Field(
        None,
        description="Prometheus server that `prometheus:` checks, gates and triggers query"
        " (instant queries at /api/v1/query). http:// needs security.allow_insecure_http;"
        " a loopback or private address needs security.allow_private_metrics.",
    )

    @model_validator(mode="after")
    def _scheduler(self) -> ProjectMonitoring:
        address = self.dask_scheduler
        if address is not None and not address.startswith(DASK_SCHEMES):
            raise ValueError(f"dask_scheduler must start with tcp:// or tls://, not {address!r}")
        return self


class StoreSettings(Strict):
    """Upkeep of the artifact store (`store gc`)."""

    keep_archived: Duration = Field(
        timedelta(days=90),
        description="How long `store gc` keeps the blob of an archived version, counted from "
        "its archive time in state.",
    )


DEFAULT_SPEC_DIRS = ["models", "deployments", "rules", "retirements", "pipelines"]


class ProjectSpec(Strict):
    """Stores, folders, git settings, template values and policies of the repository."""

    state_dir: RepoPath = ".mlops/state"
    artifact_store: str = Field(".mlops/artifacts", description="Path or fsspec URI.")
    reports_dir: RepoPath = "reports"
    rendered_dir: RepoPath = "rendered"
    spec_dirs: list[RepoPath] = Field(
        default_factory=lambda: list(DEFAULT_SPEC_DIRS),
        description="Folders searched for spec files.",
    )
    git: GitSettings = GitSettings()
    values: dict[str, Any] = Field({}, description="Variables for *.yaml.j2 templates.")
    policies: Policies = Policies()
    security: SecuritySettings = SecuritySettings()
    targets: TargetSettings = Field(
        TargetSettings(), description="Per-target settings, e.g. the KServe version to render for."
    )
    monitoring: ProjectMonitoring = ProjectMonitoring()
    store: StoreSettings = StoreSettings()
    prune: bool = Field(False, description="Allow removing a deployment file to undeploy it.")


class Project(Strict):
    """The repository's settings (`mlops.yaml`)."""

    apiVersion: Literal["mlops-gitops/v1"]
    kind: Literal["Project"]
    metadata: Metadata
    spec: ProjectSpec = ProjectSpec()


# ---------------------------------------------------------------- Model


class DataRef(Strict):
    """A data set by location and content hash."""

    uri: RepoPath
    sha256: Sha256 | None = None


class ModelVersion(Strict):
    """One immutable version of a model: its artifact, hash, metrics and lineage."""

    version: Version
    artifact: RepoPath
    format: Format
    sha256: Sha256 | None = Field(None, description="Verified when given, recorded always.")
    metrics: dict[str, float] = Field({}, description="Offline evaluation metrics.")
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    training_data: DataRef | None = None
    reference_data: RepoPath | None = Field(None, description="Baseline for drift.")
    trusted_types: list[TypeName] = Field(
        [],
        description="Exact type names (module.Name) a skops file may load beyond skops'"
        " default trusted types; never a prefix.",
    )
    author: str | None = None
    created: Date | None = None
    description: str | None = None
    lineage: dict[str, Any] = Field({}, description="Where the version came from.")
    tags: list[Tag] = Field([], description="Labels to find the version by (models --tag).")
    parent: ParentRef | None = Field(
        None,
        description="The version this one derives from: VERSION of the same model or "
        "MODEL@VERSION of another.",
    )
    dependencies: dict[PackageName, PackagePin] = Field(
        {}, description="Package pins the artifact needs, such as scikit-learn: '==1.5.2'."
    )

    def parent_ref(self, model: str) -> tuple[str, str] | None:
        """(model, version) of `parent`."""
        if self.parent is None:
            return None
        name, _, version = self.parent.rpartition("@")
        return (name or model), version


class ModelSpec(Strict):
    """A model and every version of it."""

    description: str = ""
    owner: str | None = None
    framework: str | None = None
    task: Literal["classification", "regression"]
    tags: list[str] = Field(default_factory=list)
    versions: list[ModelVersion] = Field(min_length=1)


class Model(Strict):
    """A model: versions, artifacts, metrics, lineage."""

    apiVersion: Literal["mlops-gitops/v1"]
    kind: Literal["Model"]
    metadata: Metadata
    spec: ModelSpec


# ---------------------------------------------------------------- Deployment


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


# ---------------------------------------------------------------- Rule


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


LOWER_IS_BETTER = ("mae", "rmse", "mse", "log_loss", "brier")
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


# ---------------------------------------------------------------- RetirementPlan

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


# ---------------------------------------------------------------- TrainingPipeline


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


class Join(Strict):
    """Join the data sources on key columns instead of stacking their rows."""

    on: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1)
    how: Literal["inner", "left"] = "inner"


class DataChecks(Strict):
    """Checks of the combined data before anything is trained."""

    max_missing_share: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        0.5, description="The largest share of missing values a feature column may have."
    )


class CanaryTarget(Strict):
    """Put a freshly trained version on canary in a deployment."""

    deployment: Name
    traffic: Percent


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


# ---------------------------------------------------------------- Tombstone


class TombstoneSpec(Strict):
    """Which kind of object named by metadata.name was removed on purpose."""

    kind: Literal["Deployment"]
    reason: str | None = None


class Tombstone(Strict):
    """Replaces a deleted object's file to say its removal is intended (e.g. undeploy)."""

    apiVersion: Literal["mlops-gitops/v1"]
    kind: Literal["Tombstone"]
    metadata: Metadata
    spec: TombstoneSpec


SpecObject = Project | Model | Deployment | Rule | RetirementPlan | TrainingPipeline | Tombstone

KINDS: dict[str, type[SpecObject]] = {
    "Project": Project,
    "Model": Model,
    "Deployment": Deployment,
    "Rule": Rule,
    "RetirementPlan": RetirementPlan,
    "TrainingPipeline": TrainingPipeline,
    "Tombstone": Tombstone,
}

SCHEMA_FILES: dict[str, str] = {
    "Project": "project.schema.json",
    "Model": "model.schema.json",
    "Deployment": "deployment.schema.json",
    "Rule": "rule.schema.json",
    "RetirementPlan": "retirement-plan.schema.json",
    "TrainingPipeline": "training-pipeline.schema.json",
    "Tombstone": "tombstone.schema.json",
}
