"""The Model kind: a model and its versions, each an immutable artifact with metadata."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from mlops_gitops.spec.base import Strict
from mlops_gitops.spec.kinds.common import Format, Metadata
from mlops_gitops.spec.types import (
    Date,
    PackageName,
    PackagePin,
    ParentRef,
    RepoPath,
    Sha256,
    Tag,
    TypeName,
    Version,
)


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
    metrics: dict[str, float] = Field(
        default_factory=dict,
        json_schema_extra={"default": {}},
        description="Offline evaluation metrics.",
    )
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    training_data: DataRef | None = None
    reference_data: RepoPath | None = Field(None, description="Baseline for drift.")
    trusted_types: list[TypeName] = Field(
        default_factory=list,
        json_schema_extra={"default": []},
        description="Exact type names (module.Name) a skops file may load beyond skops'"
        " default trusted types; never a prefix.",
    )
    author: str | None = None
    created: Date | None = None
    description: str | None = None
    lineage: dict[str, Any] = Field(
        default_factory=dict,
        json_schema_extra={"default": {}},
        description="Where the version came from.",
    )
    tags: list[Tag] = Field(
        default_factory=list,
        json_schema_extra={"default": []},
        description="Labels to find the version by (models --tag).",
    )
    parent: ParentRef | None = Field(
        None,
        description="The version this one derives from: VERSION of the same model or "
        "MODEL@VERSION of another.",
    )
    dependencies: dict[PackageName, PackagePin] = Field(
        default_factory=dict,
        json_schema_extra={"default": {}},
        description="Package pins the artifact needs, such as scikit-learn: '==1.5.2'.",
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
