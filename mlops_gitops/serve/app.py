"""The local model server's HTTP surface: KServe V1 and the Open Inference Protocol (V2).

V1: GET / (live), GET /v1/models, GET /v1/models/<d> (ready), POST /v1/models/<d>:predict.
V2: GET /v2, /v2/health/live, /v2/health/ready, /v2/models/<d>[/versions/<v>] (metadata),
.../ready, POST .../infer. Also GET /healthz and GET /metrics (Prometheus text). Errors
are `{"error": message}` in both protocols. Both protocols share the traffic split, the
checks, the batching, the metrics and the prediction log (server.Server).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from mlops_gitops import __version__
from mlops_gitops.serve.batch import infer_groups
from mlops_gitops.serve.endpoints import Endpoints, error
from mlops_gitops.serve.guard import Guard
from mlops_gitops.serve.runner import serve
from mlops_gitops.serve.server import Server

__all__ = ["Server", "create_app", "infer_groups", "serve"]


def create_app(server: Server, token: bytes | None = None) -> Any:
    """The ASGI app; with a token, every route but the health probes needs it."""

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        server.close()  # flush prediction logs at shutdown

    app = Starlette(
        routes=_routes(server),
        lifespan=lifespan,
        exception_handlers={HTTPException: _http_error, Exception: _internal_error},
    )
    return Guard(app, token, server.limits, server.metrics)


def _routes(server: Server) -> list[Route]:
    endpoints = Endpoints(server)

    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def alive(_: Request) -> Response:
        return JSONResponse({"status": "alive"})

    async def v2_live(_: Request) -> Response:
        return JSONResponse({"live": True})

    async def v2_ready(_: Request) -> Response:
        ready = all(s.ready for s in server.registry.deployments.values())
        return JSONResponse({"ready": ready}, status_code=200 if ready else 503)

    async def v2_server(_: Request) -> Response:
        about = {"name": "mlops-gitops", "version": __version__}
        return JSONResponse({**about, "extensions": ["binary_tensor_data"]})

    async def v1_models(_: Request) -> Response:
        return JSONResponse({"models": sorted(server.registry.deployments)})

    async def metrics(_: Request) -> Response:
        return PlainTextResponse(server.metrics.render(), media_type="text/plain; version=0.0.4")

    per_model = [
        ("", endpoints.v2_metadata, "GET"),
        ("/ready", endpoints.v2_ready, "GET"),
        ("/infer", endpoints.v2_infer, "POST"),
    ]
    return [
        Route("/", alive),
        Route("/healthz", health),
        Route("/metrics", metrics),
        Route("/v1/models", v1_models),
        Route("/v1/models/{target}", endpoints.wrap(endpoints.v1_model), methods=["GET", "POST"]),
        Route("/v2", v2_server),
        Route("/v2/health/live", v2_live),
        Route("/v2/health/ready", v2_ready),
        *[
            Route(path + suffix, endpoints.wrap(handler), methods=[method])
            for path in ("/v2/models/{name}", "/v2/models/{name}/versions/{version}")
            for suffix, handler, method in per_model
        ],
    ]


async def _http_error(_: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 500)
    message = str(getattr(exc, "detail", "")) or "error"
    return error(status, message, getattr(exc, "headers", None))


async def _internal_error(_: Request, exc: Exception) -> Response:
    return error(500, f"internal error: {type(exc).__name__}")
