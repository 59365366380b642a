"""Recorded actual state: what the tool has done, one typed record per object.

Records are frozen pydantic models so a damaged or hand-edited state file is reported, not
trusted. `SCHEMA_VERSION` grows when the layout changes; `migrate` upgrades older files.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 2


class Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ScanRecord(Record):
    """The security scanner's verdict on an artifact."""

    scanner: str
    scanner_version: str
    verdict: Literal["clean", "unsafe", "error", "not-needed"]
    findings: list[str] = Field(default_factory=list)
    key: str | None = None
    """`providers.scan.verdict_key` of the scan: a later run with the same key (content,
    format, scanner and its version, rules, trusted types) reuses the verdict."""


class VersionRecord(Record):
    version: str
    status: Literal["registered", "archived"] = "registered"
    sha256: str
    size: int
    format: str
    source: str
    """The artifact path or URI in the spec when registered."""
    blob: str
    """Location in the artifact store: `sha256/ab/cdef...`."""
    registered_at: str
    archived_at: str | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    spec_digest: str
    """Hash of the version's spec entry, to notice metadata edits."""
    scan: ScanRecord | None = None
    stages: dict[str, str] = Field(default_factory=dict)
    """Stage -> first time this version served a deployment of that stage."""


class ModelRecord(Record):
    schema_version: int = SCHEMA_VERSION
    kind: Literal["Model"] = "Model"
    name: str
    task: str
    versions: dict[str, VersionRecord] = Field(default_factory=dict)


class CanaryRecord(Record):
    version: str
    traffic: int


class Revision(Record):
    """One entry of a deployment's history, used by rollback."""

    revision: int
    action: str
    version: str
    canary: CanaryRecord | None = None
    time: str
    commit: str | None = None


class DeploymentRecord(Record):
    schema_version: int = SCHEMA_VERSION
    kind: Literal["Deployment"] = "Deployment"
    name: str
    model: str
    status: Literal["deployed", "undeployed"] = "deployed"
    version: str
    canary: CanaryRecord | None = None
    settings: dict[str, Any] = Field(default_factory=dict)
    """Stage, target, resources, scaling, health check, suspend."""
    serving: dict[str, Any] = Field(default_factory=dict)
    """What the target serves: resolved artifact locations per version, traffic."""
    history: list[Revision] = Field(default_factory=list)
    updated_at: str


class Meta(Record):
    """Identity and version counter of the whole recorded state."""

    schema_version: int = SCHEMA_VERSION
    lineage: str
    serial: int
    spec_commit: str | None = None
    updated_at: str


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """Upgrade a state file written by an older schema_version, one version at a time."""
    version = int(data.get("schema_version", 1))
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
