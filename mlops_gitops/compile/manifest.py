"""The compiled desired state: every object resolved, versioned and content-hashed."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from mlops_gitops.safeio import dumps
from mlops_gitops.spec import models as spec_models
from mlops_gitops.spec.repository import Repository
from mlops_gitops.urls import redact_data

MANIFEST_FORMAT_VERSION = "1"
SECTIONS = {
    "Model": "models",
    "Deployment": "deployments",
    "Rule": "rules",
    "RetirementPlan": "retirements",
    "TrainingPipeline": "pipelines",
    "Tombstone": "tombstones",
}


@dataclass(frozen=True)
class Manifest:
    """Desired state as typed objects, plus the hash of the files it came from."""

    project: spec_models.Project
    models: dict[str, spec_models.Model]
    deployments: dict[str, spec_models.Deployment]
    rules: dict[str, spec_models.Rule]
    retirements: dict[str, spec_models.RetirementPlan]
    pipelines: dict[str, spec_models.TrainingPipeline]
    tombstones: dict[str, spec_models.Tombstone]
    sources: dict[str, str]
    """`Kind/name` -> the file it was read from."""
    inputs_sha256: str

    def version(self, model: str, version: str) -> spec_models.ModelVersion | None:
        found = self.models.get(model)
        if found is None:
            return None
        for item in found.spec.versions:
            if item.version == version:
                return item
        return None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "format_version": MANIFEST_FORMAT_VERSION,
            "inputs_sha256": self.inputs_sha256,
            "project": self.project.model_dump(mode="json"),
            "sources": dict(sorted(self.sources.items())),
        }
        out["models"] = {name: _model_json(obj) for name, obj in sorted(self.models.items())}
        out["deployments"] = {
            name: self._deployment_json(obj) for name, obj in sorted(self.deployments.items())
        }
        for section in ("rules", "retirements", "pipelines", "tombstones"):
            objects: dict[str, spec_models.SpecObject] = getattr(self, section)
            out[section] = {
                name: obj.model_dump(mode="json") for name, obj in sorted(objects.items())
            }
        return out

    def _deployment_json(self, obj: spec_models.Deployment) -> dict[str, Any]:
        data = obj.model_dump(mode="json")
        spec = obj.spec
        data["resolved"] = {
            "stable": self._resolved(spec.model, spec.version),
            "canary": self._resolved(spec.model, spec.canary.version) if spec.canary else None,
            "traffic": {"stable": 100 - (spec.canary.traffic if spec.canary else 0)}
            | ({"canary": spec.canary.traffic} if spec.canary else {}),
        }
        return data

    def _resolved(self, model: str, version: str) -> dict[str, Any] | None:
        found = self.version(model, version)
        if found is None:
            return None
        return {
            "version": found.version,
            "artifact": found.artifact,
            "format": found.format,
            "sha256": found.sha256,
        }

    def dumps(self) -> str:
        """Byte-identical for identical inputs: sorted keys, fixed indentation, no timestamps.

        URL credentials (userinfo, query values) are redacted: the file is an output, often
        kept as a CI artifact; the tool fetches from the specs, never from it.
        """
        data = redact_data(self.to_json())
        return dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _model_json(obj: spec_models.Model) -> dict[str, Any]:
    data = obj.model_dump(mode="json")
    data["spec"]["versions"] = {v["version"]: v for v in data["spec"]["versions"]}
    return data


def inputs_hash(inputs: dict[str, str]) -> str:
    digest = hashlib.sha256()
    digest.update(f"mlops-gitops manifest {MANIFEST_FORMAT_VERSION}\n".encode())
    for path in sorted(inputs):
        digest.update(f"{path}\0{inputs[path]}\n".encode())
    return digest.hexdigest()


def build(repo: Repository) -> Manifest:
    """Compile a repository that validated cleanly."""
    assert repo.project is not None and isinstance(repo.project.obj, spec_models.Project)
    sections: dict[str, dict[str, Any]] = {section: {} for section in SECTIONS.values()}
    sources = {"Project/" + repo.project.obj.metadata.name: repo.project.source.path}
    for (kind, name), loaded in sorted(repo.objects.items()):
        sections[SECTIONS[kind]][name] = loaded.obj
        sources[f"{kind}/{name}"] = loaded.source.path
    return Manifest(
        project=repo.project.obj,
        sources=sources,
        inputs_sha256=inputs_hash(repo.inputs),
        **sections,
    )
