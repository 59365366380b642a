"""The local model server: KServe V1 protocol, traffic split, prediction logs, hot reload.

Routes: GET /v1/models/<d> (readiness), POST /v1/models/<d>:predict, GET /healthz,
GET /metrics (Prometheus text). The served set is read from recorded state; when an apply
changes it, a new set is loaded in the background and swapped in whole, so requests in
flight finish on the old models and none fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import json
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from mlops_gitops.errors import MlopsError
from mlops_gitops.providers.scan import trusted_types
from mlops_gitops.serve.logs import PredictionLog
from mlops_gitops.serve.metrics import Metrics
from mlops_gitops.serve.models import Loaded, load

RELOAD_SECONDS = 1.0
MAX_BATCH_ROWS = 256
"""Most instances one call into a model predicts (a request larger than this runs alone)."""


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

    def batcher(self, model: Loaded) -> Batcher:
        """The batcher of one of this deployment's loaded versions (on the event loop only)."""
        found = self.batchers.get(id(model))
        if found is None:
            found = self.batchers[id(model)] = Batcher(model)
        return found


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
    from mlops_gitops.workspace import Workspace

    workspace = Workspace.load(repo_root)
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
                trusted = trusted_types(spec_version)
                setattr(served, role, load(repo_root, entry, verdict, trusted))
        except (MlopsError, Exception) as exc:  # a broken model isolates its deployment
            served.error = str(exc)
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


class BadInput(ValueError):
    """The instances do not fit the model (wrong types or shapes): the client's error."""


@dataclass
class Outcome:
    predictions: list[Any]
    probabilities: list[Any] | None
    error: str | None = None
    bad_input: bool = False


def _infer(model: Loaded, rows: list[list[Any]]) -> tuple[list[Any], list[Any] | None]:
    x = rows if model.rows_as == "rows" else _frame(rows, model.features)
    if model.prepare is not None:
        x = model.prepare(x)
    predictions = np.asarray(model.predict(x)).tolist()
    probabilities = np.asarray(model.proba(x)).tolist() if model.proba is not None else None
    if len(predictions) != len(rows):
        raise RuntimeError(f"the model returned {len(predictions)} predictions for {len(rows)}")
    return predictions, probabilities


def infer_groups(model: Loaded, groups: list[list[list[Any]]]) -> list[Outcome]:
    """Predict the rows of several requests in one call into the model.

    If the joint call fails, each request is predicted alone, so one request's bad input
    fails only that request. A ValueError or TypeError of a request predicted alone means
    its instances do not fit the model (a 400); anything else is the model's error (a 500).
    """
    rows = [row for group in groups for row in group]
    try:
        predictions, probabilities = _infer(model, rows)
    except Exception as exc:
        if len(groups) > 1:
            return [out for group in groups for out in infer_groups(model, [group])]
        bad = isinstance(exc, (ValueError, TypeError))
        return [Outcome([None] * len(rows), None, f"{type(exc).__name__}: {exc}", bad)]
    outcomes, start = [], 0
    for group in groups:
        end = start + len(group)
        outcomes.append(
            Outcome(
                predictions[start:end],
                probabilities[start:end] if probabilities is not None else None,
            )
        )
        start = end
    return outcomes


class Batcher:
    """One loaded model's predictions, batched without waiting.

    Requests that arrive while a batch runs go together into the next one, so concurrent
    single-instance requests share one call into the model: a scikit-learn call costs far
    more in input validation than in arithmetic, nearly the same for 1 row as for 100. A
    lone request runs at once; the model runs in a worker thread, off the event loop.
    """

    def __init__(self, model: Loaded, max_rows: int = MAX_BATCH_ROWS) -> None:
        self.model = model
        self.max_rows = max_rows
        self._queue: deque[tuple[list[list[Any]], asyncio.Future[Outcome]]] = deque()
        self._task: asyncio.Task[None] | None = None

    async def predict(self, rows: list[list[Any]]) -> Outcome:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Outcome] = loop.create_future()
        self._queue.append((rows, future))
        if self._task is None:
            self._task = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch = [self._queue.popleft()]
                total = len(batch[0][0])
                while self._queue and total + len(self._queue[0][0]) <= self.max_rows:
                    total += len(self._queue[0][0])
                    batch.append(self._queue.popleft())
                groups = [rows for rows, _ in batch]
                try:
                    outcomes = await asyncio.to_thread(infer_groups, self.model, groups)
                except BaseException as exc:  # never leave a request waiting
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    raise
                for (_, future), outcome in zip(batch, outcomes, strict=True):
                    if not future.done():  # the client may have gone away
                        future.set_result(outcome)
        finally:
            self._task = None


class Server:
    def __init__(self, repo_root: Path, freeze_gc: bool = False) -> None:
        self.root = repo_root
        self.metrics = Metrics()
        self.registry = build_registry(repo_root, {})
        self._stop = threading.Event()
        self._reloader: threading.Thread | None = None
        self.freeze_gc = freeze_gc
        """Keep the loaded models and libraries out of the cyclic garbage collector: with
        them in, each full collection walks every object and stalls requests for up to
        ~150 ms; frozen, it takes a few ms. (A process-wide setting: the `serve` command.)"""
        if freeze_gc:
            gc.collect()
            gc.freeze()

    def start_reloader(self) -> None:
        self._reloader = threading.Thread(target=self._watch, name="reload", daemon=True)
        self._reloader.start()

    def _watch(self) -> None:
        state_dir = self.root / ".mlops" / "state"
        try:
            from mlops_gitops.workspace import Workspace

            state_dir = Workspace.load(self.root).state_store.root
        except Exception:
            pass
        while not self._stop.wait(RELOAD_SECONDS):
            try:
                if _state_signature(state_dir) == self.registry.signature:
                    continue
                old = self.registry
                logs = {n: s.log for n, s in old.deployments.items() if s.log is not None}
                self.registry = build_registry(self.root, logs)  # swapped whole
                if self.freeze_gc:
                    gc.freeze()  # the new models too
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

    def route(
        self, name: str, body: Any, request_id: str | None
    ) -> tuple[Served, Loaded, list[list[Any]]]:
        """The deployment, the version that serves this request, and the request's rows."""
        served = self.registry.deployments.get(name)
        if served is None:
            raise LookupError(name)
        if not served.ready:
            raise RuntimeError(served.error or "not ready")
        if not isinstance(body, dict) or "instances" not in body:
            raise ValueError('the body must be a JSON object with "instances"')
        model = choose(served, request_id)
        return served, model, _rows(body["instances"], model.features)

    def predict(self, name: str, body: Any, request_id: str | None) -> dict[str, Any]:
        """One request, predicted alone in the calling thread."""
        served, model, rows = self.route(name, body, request_id)
        start = time.perf_counter()
        (outcome,) = infer_groups(model, [rows])
        return self.record(served, model, rows, outcome, request_id, start)

    def record(
        self,
        served: Served,
        model: Loaded,
        rows: list[list[Any]],
        outcome: Outcome,
        request_id: str | None,
        start: float,
    ) -> dict[str, Any]:
        """Count and log a finished prediction; the response body, or the request's error."""
        elapsed = time.perf_counter() - start
        if outcome.bad_input:
            self.metrics.bad_request(served.name)
            raise BadInput(f"the instances do not fit the model: {outcome.error}")
        error = outcome.error
        self.metrics.observe(served.name, model.version, elapsed, error is not None)
        probabilities = outcome.probabilities
        if served.log is not None:
            now = datetime.now(UTC).isoformat()
            base = request_id or uuid.uuid4().hex
            latency = round(elapsed * 1000.0 / len(rows), 3)
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
                        "prediction": outcome.predictions[i],
                        "score": score,
                        "latency_ms": latency,
                        "error": error,
                    }
                )
        if error is not None:
            raise RuntimeError(f"prediction failed: {error}")
        out: dict[str, Any] = {"predictions": outcome.predictions, "model_version": model.version}
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
        except (ValueError, RecursionError):
            if name in server.registry.deployments:  # no label for made-up names
                server.metrics.bad_request(name)
            return error(400, "the body is not valid JSON")
        request_id = request.headers.get("x-request-id")
        try:
            served, chosen, rows = server.route(name, payload, request_id)
        except LookupError:
            return error(404, f"no deployment {name!r}")
        except ValueError as exc:
            server.metrics.bad_request(name)
            return error(400, str(exc))
        except RuntimeError as exc:
            return error(503, f"deployment {name!r} is not ready: {exc}")
        start = time.perf_counter()
        outcome = await served.batcher(chosen).predict(rows)
        try:
            result = server.record(served, chosen, rows, outcome, request_id, start)
        except BadInput as exc:
            return error(400, str(exc))
        except RuntimeError as exc:
            return error(500, str(exc))
        return JSONResponse(result)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        server.close()  # flush prediction logs at shutdown

    async def http_error(_: Request, exc: Exception) -> JSONResponse:
        status = getattr(exc, "status_code", 500)
        return error(status, str(getattr(exc, "detail", "")) or "error")

    async def internal_error(_: Request, exc: Exception) -> JSONResponse:
        return error(500, f"internal error: {type(exc).__name__}")

    routes = [
        Route("/healthz", health),
        Route("/metrics", metrics),
        Route("/v1/models/{target}", model, methods=["GET", "POST"]),
    ]
    handlers = {404: http_error, 405: http_error, Exception: internal_error}
    return Starlette(routes=routes, lifespan=lifespan, exception_handlers=handlers)


def serve(repo_root: Path, host: str, port: int) -> None:
    try:
        import uvicorn
    except ImportError:
        raise MlopsError("serve needs the serve extra: pip install 'mlops-gitops[serve]'") from None
    server = Server(repo_root, freeze_gc=True)
    server.start_reloader()
    try:
        uvicorn.run(create_app(server), host=host, port=port, log_level="warning", access_log=False)
    except SystemExit as exc:  # uvicorn exits 3 when it cannot bind; 3 means "blocked" here
        if exc.code:
            raise MlopsError(
                f"the server could not start on {host}:{port} (port in use?)"
            ) from None
