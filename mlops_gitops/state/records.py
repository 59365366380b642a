"""Recorded actual state: what the tool has done, one typed record per object.

Records are frozen pydantic models so a damaged or hand-edited state file is reported, not
trusted. A state file is repository content like any other: every value that later becomes
a path (names, versions, blobs), a time or a number is held to the rules the tool itself
writes by, so a forged record cannot steer a write, a delete or a load. `SCHEMA_VERSION`
grows when the layout changes; `migrate` upgrades older files.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    model_validator,
)

from mlops_gitops.safeio import check_value
from mlops_gitops.spec.models import Format
from mlops_gitops.spec.types import Name, Sha256, Version, check_year

SCHEMA_VERSION = 2
MAX_SETTINGS_DEPTH = 16
"""Nesting allowed in a deployment's free-form settings and serving details."""
MAX_INT = 2**63 - 1


def _timestamp(value: str) -> str:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO 8601 time") from None
    check_year(parsed.year)
    return value


def _plain(value: dict[str, Any]) -> dict[str, Any]:
    check_value(value, MAX_SETTINGS_DEPTH)
    return value


Timestamp = Annotated[str, AfterValidator(_timestamp)]
Count = Annotated[int, Field(ge=0, le=MAX_INT)]
Blob = Annotated[str, StringConstraints(pattern=r"^sha256/[0-9a-f]{2}/[0-9a-f]{62}$")]
CommitId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{7,64}$")]
Plain = Annotated[dict[str, Any], AfterValidator(_plain)]
Label = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")]
"""Short machine words: step actions, scanner names and versions."""


class Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class ScanRecord(Record):
    """The security scanner's verdict on an artifact."""

    scanner: Label
    scanner_version: str
    verdict: Literal["clean", "unsafe", "error", "not-needed"]
    findings: list[str] = Field(default_factory=list)
    key: str | None = None
    """`providers.scan.verdict_key` of the scan: a later run with the same key (content,
    format, scanner and its version, rules, trusted types) reuses the verdict."""


class VersionRecord(Record):
    version: Version
    status: Literal["registered", "archived"] = "registered"
    sha256: Sha256
    size: Count
    format: Format
    source: str
    """The artifact path or URI in the spec when registered."""
    blob: Blob
    """Location in the artifact store: `sha256/ab/cdef...`."""
    registered_at: Timestamp
    archived_at: Timestamp | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    spec_digest: Sha256
    """Hash of the version's spec entry, to notice metadata edits."""
    scan: ScanRecord | None = None
    stages: dict[str, Timestamp] = Field(default_factory=dict)
    """Stage -> first time this version served a deployment of that stage."""

    @model_validator(mode="after")
    def _blob_is_the_content(self) -> VersionRecord:
        if self.blob != f"sha256/{self.sha256[:2]}/{self.sha256[2:]}":
            raise ValueError(f"blob {self.blob!r} is not the store location of its sha256")
        return self


class ModelRecord(Record):
    schema_version: StrictInt = SCHEMA_VERSION
    kind: Literal["Model"] = "Model"
    name: Name
    task: Literal["classification", "regression"]
    versions: dict[str, VersionRecord] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _keys_are_versions(self) -> ModelRecord:
        for key, entry in self.versions.items():
            if key != entry.version:
                raise ValueError(f"version entry {key!r} records version {entry.version!r}")
        return self


class CanaryRecord(Record):
    version: Version
    traffic: Annotated[int, Field(ge=0, le=100)]


class Revision(Record):
    """One entry of a deployment's history, used by rollback."""

    revision: Annotated[int, Field(ge=1, le=MAX_INT)]
    action: Label
    version: Version
    canary: CanaryRecord | None = None
    time: Timestamp
    commit: CommitId | None = None


class DeploymentRecord(Record):
    schema_version: StrictInt = SCHEMA_VERSION
    kind: Literal["Deployment"] = "Deployment"
    name: Name
    model: Name
    status: Literal["deployed", "undeployed"] = "deployed"
    version: Version
    canary: CanaryRecord | None = None
    settings: Plain = Field(default_factory=dict)
    """Stage, target, resources, scaling, health check, suspend."""
    serving: Plain = Field(default_factory=dict)
    """What the target serves: resolved artifact locations per version, traffic."""
    history: list[Revision] = Field(default_factory=list)
    updated_at: Timestamp


class Meta(Record):
    """Identity and version counter of the whole recorded state."""

    schema_version: StrictInt = SCHEMA_VERSION
    lineage: Annotated[str, StringConstraints(pattern=r"^[0-9a-f-]{1,64}$")]
    serial: Count
    spec_commit: CommitId | None = None
    updated_at: Timestamp
    spec_dirty: bool = False
    """Applied with `--allow-dirty`: the specs applied were not all committed in spec_commit.
    Written only when true."""


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """Upgrade a state file written by an older schema_version, one version at a time."""
    version = data.get("schema_version", 1)
    if type(version) is not int or version < 1:
        raise ValueError(f"schema_version must be a positive integer, not {version!r}")
    if version > SCHEMA_VERSION:
        raise ValueError(
            f"written by a newer mlops-gitops (schema_version {version} > {SCHEMA_VERSION});"
            " upgrade the tool"
        )
    while version < SCHEMA_VERSION:
        data = _MIGRATIONS[version](dict(data))
        version += 1
        data["schema_version"] = version
    return data


def _v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Version 1 kept `deployed_version` and `stage` flat; version 2 groups settings."""
    if data.get("kind") == "Deployment":
        if "deployed_version" in data:
            data["version"] = data.pop("deployed_version")
        settings = dict(data.get("settings", {}))
        for key in ("stage", "target"):
            if key in data:
                settings[key] = data.pop(key)
        data["settings"] = settings
    if data.get("kind") == "Model":
        versions = {}
        for name, entry in data.get("versions", {}).items():
            entry = dict(entry)
            if "digest" in entry:
                entry["spec_digest"] = entry.pop("digest")
            versions[name] = entry
        data["versions"] = versions
    return data


_MIGRATIONS = {1: _v1_to_v2}
