"""The handlers of one deployment's routes, V1 and V2 alike.

A prediction reads its body within the limits, decodes it (in a worker thread when large,
so /healthz and small requests keep their latency), routes it to the deployment's stable
or canary version, checks its rows against that model, and predicts; every refusal is a
JSON answer `{"error": message}`, counted in /metrics.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mlops_gitops.serve import v1, v2
from mlops_gitops.serve.limits import Body, BodyBudget, BodyError, ClientGone
from mlops_gitops.serve.models import Loaded
from mlops_gitops.serve.registry import Served, choose, describe, pinned
from mlops_gitops.serve.server import HttpError, Server

OFF_LOOP_BYTES = 64 * 1024
"""Bodies larger than this are decoded in a worker thread."""
LARGE_AT_ONCE = 2
"""Large bodies decoded at the same time (each may take several times its size)."""

T = TypeVar("T")
Handler = Callable[[Request], Awaitable[Response]]


def error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class Endpoints:
    def __init__(self, server: Server) -> None:
        self.server = server
        self.limits = server.limits
        self.budget = BodyBudget(self.limits.bodies_in_flight)
        self.large = asyncio.Semaphore(LARGE_AT_ONCE)

    def wrap(self, handler: Callable[[Request, str], Awaitable[Response]]) -> Handler:
        """Run a deployment's handler; its errors become JSON answers, counted."""

        async def run(request: Request) -> Response:
            params = request.path_params
            name: str = params.get("name") or params.get("target", "").partition(":")[0]
            try:
                return await handler(request, name)
            except HttpError as exc:
                if exc.status in (400, 413) and name in self.server.registry.deployments:
                    self.server.metrics.bad_request(name)
                return error(exc.status, exc.message)
            except BodyError as exc:
                self.server.metrics.refused(exc.reason)
                return error(exc.status, exc.message, {"connection": "close"})
            except ClientGone:
                return Response(status_code=400)

        return run

    async def _decoded(self, size: int, work: Callable[..., T], *args: Any) -> T:
        if size <= OFF_LOOP_BYTES:
            return work(*args)
        async with self.large:
            return await asyncio.to_thread(work, *args)

    def _version(self, served: Served, version: str) -> Loaded:
        model = pinned(served, version)
        if model is None:
            raise HttpError(404, f"deployment {served.name!r} does not serve version {version!r}")
        return model

    async def v1_model(self, request: Request, name: str) -> Response:
        """GET /v1/models/<d> (readiness) and POST /v1/models/<d>:predict."""
        _, colon, verb = request.path_params["target"].partition(":")
        if not colon:
            if request.method != "GET":
                hint = "use POST /v1/models/<deployment>:predict"
                raise HTTPException(405, hint, {"Allow": "GET"})
            return self._readiness(name)
        if verb != "predict":
            raise HttpError(404, f"no verb :{verb}; this server offers :predict")
        if request.method != "POST":
            raise HTTPException(405, "predict with POST", {"Allow": "POST"})
        server = self.server
        async with Body(request.receive, self.limits, self.budget) as body:
            most = self.limits.max_values
            payload = await self._decoded(len(body), v1.decode, body, most)
            served = server.lookup(name)
            request_id = request.headers.get("x-request-id")
            server.check_request_id(request_id)
            model = choose(served, request_id)
            rows = await self._decoded(
                len(body), v1.rows, payload, model, self.limits.max_instances
            )
        server.metrics.protocol(name, "v1")
        outcome = await server.infer(served, model, rows, request_id)
        return JSONResponse(v1.answer(outcome, model))

    async def v2_infer(self, request: Request, name: str) -> Response:
        server = self.server
        version = request.path_params.get("version")
        async with Body(request.receive, self.limits, self.budget) as body:
            header = request.headers.get(v2.HEADER_LENGTH)
            most = self.limits.max_values
            parsed = await self._decoded(len(body), v2.decode, body, header, most)
            served = server.lookup(name)
            request_id = request.headers.get("x-request-id") or parsed.id
            server.check_request_id(request_id)
            model = self._version(served, version) if version else choose(served, request_id)
            most = self.limits.max_instances
            rows = await self._decoded(len(body), v2.rows, parsed, model, most)
        server.metrics.protocol(name, "v2")
        outcome = await server.infer(served, model, rows, request_id)
        content, headers = v2.encode(parsed, name, model, outcome)
        return Response(content, headers=headers)

    async def v2_metadata(self, request: Request, name: str) -> Response:
        served = self.server.lookup(name)
        version = request.path_params.get("version")
        model = self._version(served, version) if version else served.stable
        assert model is not None  # lookup returned a ready deployment
        return JSONResponse(v2.metadata(served, model))

    async def v2_ready(self, request: Request, name: str) -> Response:
        version = request.path_params.get("version")
        served = self.server.registry.deployments.get(name)
        if version and served is not None and served.ready:
            self._version(served, version)
        return self._readiness(name)

    def _readiness(self, name: str) -> Response:
        served = self.server.registry.deployments.get(name)
        if served is None:
            raise HttpError(404, f"no deployment {name!r}")
        return JSONResponse(describe(served), status_code=200 if served.ready else 503)
