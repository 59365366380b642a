"""The local model server: KServe V1 protocol, traffic split, prediction logs, hot reload.

Routes: GET /v1/models/<d> (readiness), POST /v1/models/<d>:predict, GET /healthz,
GET /metrics (Prometheus text). The served set is read from recorded state; when an apply
changes it, a new set is loaded in the background and swapped in whole, so requests in
flight finish on the old models and none fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import random
import threading
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from mlops_gitops.errors import MlopsError
from mlops_gitops.serve.logs import PredictionLog
from mlops_gitops.serve.metrics import Metrics
from mlops_gitops.serve.models import Loaded, load

RELOAD_SECONDS = 1.0


@dataclass
class Served:
    name: str
    model: str
    stable: Loaded | None
    canary: Loaded | None
    canary_traffic: int
    error: str | None = None
    log: PredictionLog | None = None

    @property
    def ready(self) -> bool:
        return self.stable is not None and self.error is None


@dataclass
class Registry:
    deployments: dict[str, Served] = field(default_factory=dict)
    signature: str = ""


def _state_signature(state_dir: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted((state_dir / "deployments").glob("*.json")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


def build_registry(repo_root: Path, logs: dict[str, PredictionLog]) -> Registry:
    """Load every deployed local deployment; one that fails is not ready, the rest serve."""
    from mlops_gitops import api

    workspace = api.open_workspace(repo_root)
    state_dir = workspace.state_store.root
    view = workspace.state_store.load()
    registry = Registry(signature=_state_signature(state_dir))
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
                verdict = version.scan.verdict if version and version.scan else None
                spec_version = workspace.manifest.version(record.model, entry["version"])
                trusted = list(spec_version.trusted_types) if spec_version else []
                setattr(served, role, load(repo_root, entry, verdict, trusted))
        except (MlopsError, Exception) as exc:  # a broken model isolates its deployment
            served.error = str(exc)
        location = spec.spec.monitoring.predictions if spec else None
        if location and "://" not in location:
            log = logs.get(name)
            if log is None or log.folder != repo_root / location:
                log = PredictionLog(repo_root / location)
            served.log = log
        registry.deployments[name] = served
    return registry


def _rows(instances: Any, features: list[str] | None) -> list[list[Any]]:
    if not isinstance(instances, list) or not instances:
        raise ValueError('"instances" must be a non-empty list')
    rows = []
    for index, item in enumerate(instances):
        if isinstance(item, dict):
            if features is None:
                raise ValueError("this model takes instances as arrays in its feature order")
            missing = [f for f in features if f not in item]
            if missing:
                raise ValueError(f"instance {index} lacks features {missing[:5]}")
            rows.append([item[f] for f in features])
        elif isinstance(item, list):
            if features is not None and len(item) != len(features):
                raise ValueError(
                    f"instance {index} has {len(item)} values, expected {len(features)}"
                )
            rows.append(item)
        else:
            raise ValueError(f"instance {index} must be an object or an array")
    return rows


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


class Server:
    def __init__(self, repo_root: Path) -> None:
        self.root = repo_root
        self.metrics = Metrics()
        self.registry = build_registry(repo_root, {})
        self._stop = threading.Event()
        self._reloader: threading.Thread | None = None

    def start_reloader(self) -> None:
        self._reloader = threading.Thread(target=self._watch, name="reload", daemon=True)
        self._reloader.start()

    def _watch(self) -> None:
        state_dir = self.root / ".mlops" / "state"
        try:
            from mlops_gitops import api

            state_dir = api.open_workspace(self.root).state_store.root
        except Exception:
            pass
        while not self._stop.wait(RELOAD_SECONDS):
            try:
                if _state_signature(state_dir) == self.registry.signature:
                    continue
                old = self.registry
                logs = {n: s.log for n, s in old.deployments.items() if s.log is not None}
                self.registry = build_registry(self.root, logs)  # swapped whole
                for served in old.deployments.values():
                    if served.log is not None and all(
                        s.log is not served.log for s in self.registry.deployments.values()
                    ):
                        served.log.close()
            except Exception:
                continue  # keep serving the last good set

    def close(self) -> None:
        self._stop.set()
        for served in self.registry.deployments.values():
            if served.log is not None:
                served.log.close()

    def predict(self, name: str, body: Any, request_id: str | None) -> dict[str, Any]:
        served = self.registry.deployments.get(name)
        if served is None:
            raise LookupError(name)
        if not served.ready:
            raise RuntimeError(served.error or "not ready")
        if not isinstance(body, dict) or "instances" not in body:
            raise ValueError('the body must be a JSON object with "instances"')
        model = choose(served, request_id)
        rows = _rows(body["instances"], model.features)
        start = time.perf_counter()
        error = None
        try:
            x = _frame(rows, model.features)
            predictions = np.asarray(model.predict(x)).tolist()
            probabilities = np.asarray(model.proba(x)).tolist() if model.proba is not None else None
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            predictions, probabilities = [None] * len(rows), None
        elapsed = (time.perf_counter() - start) * 1000.0
        self.metrics.observe(name, model.version, elapsed / 1000.0, error is not None)
        if served.log is not None:
            now = datetime.now(UTC).isoformat()
            base = request_id or uuid.uuid4().hex
            for i, row in enumerate(rows):
                features = (
                    dict(zip(model.features, row, strict=True))
                    if model.features
                    else {f"x{j}": v for j, v in enumerate(row)}
                )
                score = None
                if probabilities is not None and len(probabilities[i]) == 2:
                    score = float(probabilities[i][1])
                served.log.append(
                    {
                        "timestamp": now,
                        "request_id": base if len(rows) == 1 else f"{base}-{i}",
                        "model_version": model.version,
                        "features": features,
                        "prediction": predictions[i],
                        "score": score,
                        "latency_ms": round(elapsed / len(rows), 3),
                        "error": error,
                    }
                )
        if error is not None:
            raise RuntimeError(f"prediction failed: {error}")
        out: dict[str, Any] = {"predictions": predictions, "model_version": model.version}
        if probabilities is not None:
            out["probabilities"] = probabilities
        return out


def _frame(rows: list[list[Any]], features: list[str] | None) -> Any:
    if features is None:
        return np.asarray(rows)
    import pandas as pd

    return pd.DataFrame(rows, columns=features)


def create_app(server: Server) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, PlainTextResponse
    from starlette.routing import Route

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    async def health(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def metrics(_: Request) -> PlainTextResponse:
        return PlainTextResponse(server.metrics.render(), media_type="text/plain; version=0.0.4")

    async def model(request: Request) -> JSONResponse:
        target: str = request.path_params["target"]
        if request.method == "GET":
            served = server.registry.deployments.get(target)
            if served is None:
                return error(404, f"no deployment {target!r}")
            body = {"name": target, "ready": served.ready}
            if served.error:
                body["error"] = served.error
            return JSONResponse(body, status_code=200 if served.ready else 503)
        if not target.endswith(":predict"):
            return error(404, "use POST /v1/models/<deployment>:predict")
        name = target.removesuffix(":predict")
        try:
            payload = json.loads(await request.body())
        except ValueError:
            return error(400, "the body is not valid JSON")
        request_id = request.headers.get("x-request-id")
        try:
            result = await asyncio.to_thread(server.predict, name, payload, request_id)
        except LookupError:
            return error(404, f"no deployment {name!r}")
        except ValueError as exc:
            server.metrics.bad_request(name)
            return error(400, str(exc))
        except RuntimeError as exc:
            return error(503 if "not ready" in str(exc) or "missing" in str(exc) else 500, str(exc))
        return JSONResponse(result)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        server.close()  # flush prediction logs at shutdown

    routes = [
        Route("/healthz", health),
        Route("/metrics", metrics),
        Route("/v1/models/{target}", model, methods=["GET", "POST"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def serve(repo_root: Path, host: str, port: int) -> None:
    try:
        import uvicorn
    except ImportError:
        raise MlopsError("serve needs the serve extra: pip install 'mlops-gitops[serve]'") from None
    server = Server(repo_root)
    server.start_reloader()
    uvicorn.run(create_app(server), host=host, port=port, log_level="warning")
