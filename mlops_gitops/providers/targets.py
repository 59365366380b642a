"""Targets carry out deployment steps: `local` records what to serve, `kserve` renders manifests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mlops_gitops import fsguard
from mlops_gitops.errors import MlopsError
from mlops_gitops.providers.artifacts import ArtifactStore
from mlops_gitops.providers.kserve import place, render_inference_service
from mlops_gitops.providers.scan import load_skops
from mlops_gitops.state.records import VersionRecord


@dataclass
class TargetResult:
    serving: dict[str, Any]
    written: list[Path] = field(default_factory=list)
    removed: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _entry(store: ArtifactStore, record: VersionRecord) -> dict[str, Any]:
    return {
        "version": record.version,
        "format": record.format,
        "sha256": record.sha256,
        "blob": record.blob,
        "uri": store.uri(record.blob),
    }


def serving_config(
    store: ArtifactStore, config: dict[str, Any], versions: dict[str, VersionRecord]
) -> dict[str, Any]:
    canary = config.get("canary")
    traffic = canary["traffic"] if canary else 0
    return {
        "stable": _entry(store, versions[config["version"]]),
        "canary": _entry(store, versions[canary["version"]]) if canary else None,
        "traffic": {"stable": 100 - traffic, "canary": traffic},
    }


def check_loads(
    store: ArtifactStore, record: VersionRecord, trusted: Sequence[str] = ()
) -> str | None:
    """Load the artifact the way serving will; returns a warning when it cannot be checked.

    `trusted`: the version's `providers.scan.trusted_types`; skops trusts its defaults and
    exactly these, and audits the file before constructing anything.
    """
    path = store.local_path(record.blob)
    if path is None:
        return f"{record.version}: remote artifact not load-checked"
    if record.format == "skops":
        try:
            import skops.io  # noqa: F401
        except ImportError:
            return f"{record.version}: skops not installed; load check skipped"
        try:
            load_skops(path, trusted)
        except Exception as exc:
            raise MlopsError(f"artifact of version {record.version} does not load: {exc}") from None
        return None
    if record.format == "onnx":
        try:
            import onnx
        except ImportError:
            return f"{record.version}: onnx not installed; load check skipped"
        try:
            onnx.checker.check_model(str(path))
        except Exception as exc:
            raise MlopsError(f"ONNX artifact of {record.version} is invalid: {exc}") from None
        return None
    return f"{record.version}: no load check for format {record.format}"


class LocalTarget:
    """The embedded target: state records the serving configuration `serve` reads."""

    def __init__(self, store: ArtifactStore) -> None:
        self.store = store

    def apply(
        self,
        name: str,
        config: dict[str, Any] | None,
        versions: dict[str, VersionRecord],
        meta: dict[str, Any],
    ) -> TargetResult:
        if config is None:
            return TargetResult(serving={})
        serving = serving_config(self.store, config, versions)
        warnings = []
        for role in ("stable", "canary"):
            entry = serving[role]
            if entry is not None:
                trusted = meta.get("trusted_types", {}).get(entry["version"], ())
                warning = check_loads(self.store, versions[entry["version"]], trusted)
                if warning:
                    warnings.append(warning)
        return TargetResult(serving=serving, warnings=warnings)


class KServeTarget:
    """Renders a KServe InferenceService per deployment for Argo CD or Flux to sync, after
    laying out each served version in the artifact store for the runtime that loads it."""

    def __init__(self, store: ArtifactStore, repo_root: Path, rendered_dir: str) -> None:
        self.store = store
        self.repo_root = repo_root
        self.folder = repo_root / rendered_dir / "kserve"
        self.relative = f"{rendered_dir.rstrip('/')}/kserve"
        """The folder as recorded in state: relative to the repository, so state is portable."""

    def path(self, name: str) -> Path:
        return self.folder / f"{name}.yaml"

    def apply(
        self,
        name: str,
        config: dict[str, Any] | None,
        versions: dict[str, VersionRecord],
        meta: dict[str, Any],
    ) -> TargetResult:
        path = self.path(name)
        if config is None:
            removed = [path] if fsguard.remove(self.repo_root, path) else []
            return TargetResult(serving={}, removed=removed)
        model = meta.get("model", "")
        stable = place(self.store, model, versions[config["version"]])
        canary_cfg = config.get("canary")
        canary = place(self.store, model, versions[canary_cfg["version"]]) if canary_cfg else None
        manifest = render_inference_service(name, config, stable, canary, meta)
        text = "# Rendered by mlops-gitops from the specs; do not edit by hand.\n"
        text += yaml.safe_dump(manifest, sort_keys=True, default_flow_style=False)
        fsguard.write(self.repo_root, path, text.encode())
        warnings = []
        if not self.store.remote:
            warnings.append(
                f"{name}: the artifact store is a local folder; set spec.artifact_store to a URI "
                "(s3://, gs://) the cluster can read"
            )
        serving = serving_config(self.store, config, versions)
        serving["stable"]["storage_uri"] = stable.storage_uri
        if canary is not None:
            serving["canary"]["storage_uri"] = canary.storage_uri
        return TargetResult(
            serving=serving | {"manifest": f"{self.relative}/{name}.yaml"},
            written=[path],
            warnings=warnings,
        )
