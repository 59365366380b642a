"""The served set: every deployed local deployment with its loaded versions, from state.

A deployment whose model cannot be loaded safely (missing, swapped or untrusted blob) is
listed as not ready with the reason, and reported once on the server's log; the others serve.
"""

from __future__ import annotations

import hashlib
import logging
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_gitops.errors import MlopsError
from mlops_gitops.providers.scan import trusted_types
from mlops_gitops.serve.logs import PredictionLog
from mlops_gitops.serve.models import Artifact, Loaded, load

if TYPE_CHECKING:
    from mlops_gitops.serve.batch import Batcher

LOG = logging.getLogger("mlops_gitops.serve")


@dataclass
class Served:
    name: str
    model: str
    stable: Loaded | None
    canary: Loaded | None
    canary_traffic: int
    error: str | None = None
    log: PredictionLog | None = None
    batchers: dict[int, Batcher] = field(default_factory=dict, repr=False)

    @property
    def ready(self) -> bool:
        return self.stable is not None and self.error is None

    @property
    def versions(self) -> list[Loaded]:
        return [m for m in (self.stable, self.canary) if m is not None]

    def batcher(self, model: Loaded) -> Batcher:
        """The batcher of one of this deployment's loaded versions (on the event loop only)."""
        from mlops_gitops.serve.batch import Batcher

        found = self.batchers.get(id(model))
        if found is None:
            found = self.batchers[id(model)] = Batcher(model)
        return found


@dataclass
class Registry:
    deployments: dict[str, Served] = field(default_factory=dict)
    signature: str = ""


def state_signature(state_dir: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted((state_dir / "deployments").glob("*.json")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


def build_registry(repo_root: Path, logs: dict[str, PredictionLog]) -> Registry:
    """Load every deployed local deployment; one that fails is not ready, the rest serve."""
    from mlops_gitops.workspace import Workspace

    workspace = Workspace.load(repo_root)
    store = workspace.artifact_store
    view = workspace.state_store.load()
    registry = Registry(signature=state_signature(workspace.state_store.root))
    for name, record in sorted(view.deployments.items()):
        if record.status != "deployed" or record.settings.get("target", "local") != "local":
            continue
        model_record = view.models.get(record.model)
        spec = workspace.manifest.deployments.get(name)
        served = Served(
            name, record.model, None, None, record.canary.traffic if record.canary else 0
        )
        try:
            for role in ("stable", "canary"):
                entry = record.serving.get(role)
                if not entry:
                    continue
                version = model_record.versions.get(entry["version"]) if model_record else None
                if version is None:
                    raise MlopsError(f"{entry['version']} is not registered in recorded state")
                if entry.get("sha256") != version.sha256:
                    raise MlopsError(
                        f"the serving entry of {version.version} and its registration disagree "
                        "on the sha256; refusing to serve it"
                    )
                path = store.local_path(version.blob)
                if path is None:
                    raise MlopsError("serve loads artifacts from a local artifact store only")
                spec_version = workspace.manifest.version(record.model, version.version)
                artifact = Artifact(
                    version=version.version,
                    format=version.format,
                    sha256=version.sha256,
                    path=path,
                    size=version.size,
                    scan_verdict=version.scan.verdict if version.scan else None,
                    trusted_types=trusted_types(spec_version),
                )
                setattr(served, role, load(artifact))
        except Exception as exc:  # a broken model isolates its deployment
            served.error = str(exc)
            LOG.warning("deployment %s is not ready: %s", name, exc)
        location = spec.spec.monitoring.predictions if spec else None
        if location and "://" not in location:
            log = logs.get(name)
            if log is None or log.folder != repo_root / location:
                try:
                    log = PredictionLog(repo_root / location, root=repo_root)
                except MlopsError as exc:  # e.g. the log folder is a symlink: log nothing
                    served.error, log = str(exc), None
            served.log = log
        registry.deployments[name] = served
    return registry


def choose(served: Served, request_id: str | None) -> Loaded:
    """Deterministic by request id when given, else random, at the recorded canary share."""
    assert served.stable is not None
    if served.canary is None or served.canary_traffic <= 0:
        return served.stable
    if request_id:
        bucket = int.from_bytes(hashlib.sha256(request_id.encode()).digest()[:4], "big") % 100
    else:
        bucket = random.randrange(100)
    return served.canary if bucket < served.canary_traffic else served.stable


def pinned(served: Served, version: str) -> Loaded | None:
    """The loaded version a client named (V2 `/versions/<v>/`), if this deployment serves it."""
    return next((m for m in served.versions if m.version == version), None)


def describe(served: Served) -> dict[str, Any]:
    body: dict[str, Any] = {"name": served.name, "ready": served.ready}
    if served.error:
        body["error"] = served.error
    return body
