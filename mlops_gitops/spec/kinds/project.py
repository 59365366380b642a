"""The Project kind (mlops.yaml): git, policies, security, monitoring and targets."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from mlops_gitops.spec.base import Strict
from mlops_gitops.spec.kinds.common import Format, Metadata, Stage
from mlops_gitops.spec.locations import scheme
from mlops_gitops.spec.quality import Gates
from mlops_gitops.spec.targets import TargetSettings
from mlops_gitops.spec.types import Cron, Duration, HttpUrl, RepoPath


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
