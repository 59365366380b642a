"""The `kserve` target: a model-repository layout per version in the artifact store, and an
InferenceService that names the runtime which loads it.

Each format gets the layout its runtime's loader expects (see `spec/targets.py` for the
table): KServe's sklearn server lists the storageUri folder for exactly one `*.joblib`,
`*.pkl` or `*.pickle` file; the project's skops runtime looks for one `*.skops` file;
Triton wants `<model>/<numeric version>/model.onnx` beside `<model>/config.pbtxt`. The
layout lives under `<store>/kserve/<model>/<version>/`, and the storageUri ends with a `/`:
KServe's storage initializer downloads every object whose key starts with the URI's path, so
without it version 1.0 would also fetch 1.0.0's files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlops_gitops import safeio
from mlops_gitops.errors import MlopsError
from mlops_gitops.providers.artifacts import ArtifactStore
from mlops_gitops.spec.targets import RUNTIMES, Runtime
from mlops_gitops.state.records import VersionRecord

ANNOTATION = "mlops-gitops"
LOGGED_ANNOTATIONS = [f"{ANNOTATION}/stable-version", f"{ANNOTATION}/canary-version"]
"""Passed with every logged CloudEvent (the logger's `metadataAnnotations`): with the event's
`endpoint` (default or canary) they name the version that answered."""
SHA256_ENV = "MLOPS_GITOPS_SHA256"
TRUSTED_TYPES_ENV = "MLOPS_GITOPS_TRUSTED_TYPES"
TRITON_VERSION = "1"
"""Triton's version folders are integers; each storageUri holds one version of the model."""


@dataclass(frozen=True)
class Placed:
    """A version laid out for its runtime."""

    version: str
    runtime: Runtime
    storage_uri: str
    sha256: str
    files: tuple[str, ...]
    """Paths below storage_uri, as the runtime will see them after download."""


def layout_prefix(model: str, version: str) -> str:
    return f"kserve/{model}/{version}/"


def layout_files(model: str, fmt: str) -> tuple[str, dict[str, str]]:
    """The artifact's path below the prefix, and other files (path -> text) the runtime needs."""
    if fmt == "joblib":
        return "model.joblib", {}
    if fmt == "pickle":
        return "model.pkl", {}
    if fmt == "skops":
        return "model.skops", {}
    if fmt == "onnx":
        config = f'name: "{model}"\nbackend: "onnxruntime"\n'
        return f"{model}/{TRITON_VERSION}/model.onnx", {f"{model}/config.pbtxt": config}
    raise MlopsError(f"target kserve cannot lay out format {fmt!r} for a runtime")


def place(store: ArtifactStore, model: str, record: VersionRecord) -> Placed:
    """Write a version's layout into the store (idempotent) and return its storageUri."""
    runtime = RUNTIMES.get(record.format)
    if runtime is None:
        raise MlopsError(
            f"version {record.version} has format {record.format!r}, which target kserve cannot"
            " render for a runtime that loads it"
        )
    prefix = layout_prefix(model, record.version)
    artifact, extras = layout_files(model, record.format)
    store.place(record.blob, prefix + artifact)
    for path, text in sorted(extras.items()):
        store.write_text(prefix + path, text)
    return Placed(
        record.version,
        runtime,
        store.uri(prefix),
        record.sha256,
        (artifact, *sorted(extras)),
    )


def _resources(settings: dict[str, Any]) -> dict[str, Any] | None:
    resources = settings.get("resources") or {}
    requests = {
        k: v for k, v in (("cpu", resources.get("cpu")), ("memory", resources.get("memory"))) if v
    }
    if resources.get("gpu"):
        requests["nvidia.com/gpu"] = str(resources["gpu"])
    return {"requests": requests, "limits": dict(requests)} if requests else None


def _model(placed: Placed, settings: dict[str, Any], trusted: list[str]) -> dict[str, Any]:
    runtime = placed.runtime
    model: dict[str, Any] = {
        "modelFormat": {"name": runtime.model_format, "version": runtime.format_version},
        "runtime": runtime.name,
        "protocolVersion": runtime.protocol,
        "storageUri": placed.storage_uri,
    }
    resources = _resources(settings)
    if resources:
        model["resources"] = resources
    if runtime.model_format == "skops":
        # The runtime checks the downloaded bytes and loads with exactly the audited types.
        model["env"] = [
            {"name": SHA256_ENV, "value": placed.sha256},
            {"name": TRUSTED_TYPES_ENV, "value": safeio.dumps(sorted(set(trusted)))},
        ]
    return model


def render_inference_service(
    name: str,
    config: dict[str, Any],
    stable: Placed,
    canary: Placed | None,
    meta: dict[str, Any],
) -> dict[str, Any]:
    """A v1beta1 InferenceService: the canary rides on `canaryTrafficPercent`.

    KServe keeps the previous revision serving the rest, so the stable version is recorded in
    annotations while the predictor points at the version being rolled out."""
    settings = config["settings"]
    scaling = settings.get("scaling") or {}
    current = canary or stable
    trusted = meta.get("trusted_types", {}).get(current.version, [])
    predictor: dict[str, Any] = {
        "minReplicas": scaling.get("min_replicas", 1),
        "maxReplicas": scaling.get("max_replicas", 1),
        "model": _model(current, settings, trusted),
    }
    if canary is not None:
        predictor["canaryTrafficPercent"] = config["canary"]["traffic"]
    if settings.get("logger_url"):
        predictor["logger"] = {
            "mode": "all",
            "url": settings["logger_url"],
            "metadataAnnotations": list(LOGGED_ANNOTATIONS),
        }
    annotations = {
        f"{ANNOTATION}/model": meta.get("model", ""),
        f"{ANNOTATION}/stable-version": stable.version,
        f"{ANNOTATION}/stable-storage-uri": stable.storage_uri,
        f"{ANNOTATION}/stable-sha256": stable.sha256,
        f"{ANNOTATION}/kserve-version": str(settings.get("kserve_version", "")),
    }
    if canary is not None:
        annotations[f"{ANNOTATION}/canary-version"] = canary.version
        annotations[f"{ANNOTATION}/canary-sha256"] = canary.sha256
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": name,
            "labels": {"app.kubernetes.io/managed-by": "mlops-gitops", **meta.get("labels", {})},
            "annotations": annotations,
        },
        "spec": {"predictor": predictor},
    }
