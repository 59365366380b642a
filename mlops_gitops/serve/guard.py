"""What stands between a client and the app: bearer-token auth, early size refusal, and a
connection that must send its request head in time.

uvicorn closes idle keep-alive connections, but holds a connection that sends nothing, or
half a request head, forever, and its httptools parser takes headers of any size. The
protocol class below adds a deadline and a size limit to every request head.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import os
import stat
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from mlops_gitops.errors import MlopsError
from mlops_gitops.serve.limits import Limits, declared_length, too_large
from mlops_gitops.serve.metrics import Metrics

TOKEN_ENV = "MLOPS_GITOPS_SERVE_TOKEN"
OPEN_PATHS = frozenset({"/", "/healthz", "/v2/health/live", "/v2/health/ready"})
"""Liveness and readiness probes answer without a token: they tell nothing about models."""
MAX_TOKEN_BYTES = 4096

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
App = Callable[
    [Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
    Awaitable[None],
]


def load_token(token_file: Path | None, environ: MutableMapping[str, str]) -> bytes | None:
    """The bearer token: from the file when given, else from the environment, else none."""
    if token_file is None:
        value = environ.get(TOKEN_ENV, "").strip()
        return value.encode() if value else None
    try:
        info = token_file.stat()
        if not stat.S_ISREG(info.st_mode):
            raise MlopsError(f"--token-file {token_file}: not a regular file")
        if info.st_size > MAX_TOKEN_BYTES:
            raise MlopsError(f"--token-file {token_file}: over {MAX_TOKEN_BYTES} bytes")
        text = token_file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise MlopsError(f"--token-file {token_file}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise MlopsError(f"--token-file {token_file}: not UTF-8 text") from None
    if not text or any(c.isspace() for c in text):
        raise MlopsError(f"--token-file {token_file}: empty, or holds more than one token")
    return text.encode()


def token_file_warning(token_file: Path | None) -> str | None:
    if token_file is not None and os.name == "posix" and token_file.stat().st_mode & 0o077:
        return f"--token-file {token_file} is readable by other users (chmod 600 it)"
    return None


async def _answer(
    send: Callable[[Message], Awaitable[None]],
    status: int,
    message: str,
    extra: list[tuple[bytes, bytes]],
) -> None:
    body = json.dumps({"error": message}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),  # the body was not read: do not reuse the connection
        *extra,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Guard:
    """ASGI middleware: the token (401 with WWW-Authenticate), then a declared size (413)."""

    def __init__(self, app: App, token: bytes | None, limits: Limits, metrics: Metrics) -> None:
        self.app = app
        self.expected = b"Bearer " + token if token is not None else None
        self.limits = limits
        self.metrics = metrics

    async def __call__(
        self,
        scope: Scope,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        if self.expected is not None and scope["path"] not in OPEN_PATHS:
            given = next((v for k, v in headers if k == b"authorization"), None)
            if given is None or not hmac.compare_digest(given, self.expected):
                self.metrics.refused("unauthorized")
                challenge = b'Bearer realm="mlops-gitops"'
                if given is not None:
                    challenge += b', error="invalid_token"'
                message = "a valid bearer token is required (Authorization: Bearer <token>)"
                await _answer(send, 401, message, [(b"www-authenticate", challenge)])
                return
        length = declared_length(headers)
        if length is not None and length > self.limits.max_body:
            self.metrics.refused("body_too_large")
            await _answer(send, 413, too_large(self.limits.max_body).message, [])
            return
        await self.app(scope, receive, send)


def guarded_protocol(base: type[asyncio.Protocol], limits: Limits, metrics: Metrics) -> type:
    """`base` (a uvicorn HTTP protocol) with a deadline and a size limit on request heads.

    Armed when the connection opens and after each response; disarmed when a request head
    was parsed (uvicorn then starts a new request cycle, `self.cycle`).
    """

    class Guarded(base):  # type: ignore[valid-type,misc]
        _head_timer: asyncio.TimerHandle | None = None
        _head_pending = False
        _head_bytes = 0
        _head_cycle: Any = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._await_head()

        def _await_head(self) -> None:
            self._stop_head_timer()
            self._head_pending, self._head_bytes, self._head_cycle = True, 0, self.cycle
            self._head_timer = self.loop.call_later(limits.header_timeout, self._head_late)

        def _stop_head_timer(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if not self._head_pending:
                return
            if self.cycle is not self._head_cycle:
                self._head_pending = False
                self._stop_head_timer()
                return
            self._head_bytes += len(data)
            if self._head_bytes > limits.max_header_bytes:
                self._refuse(431, "Request Header Fields Too Large", "headers_too_large")

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing() and self.cycle.response_complete:
                self._await_head()

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_head_timer()
            super().connection_lost(exc)

        def _head_late(self) -> None:
            self._head_timer = None
            if not self._head_pending or self.transport.is_closing():
                return
            if self._head_bytes:
                self._refuse(408, "Request Timeout", "header_timeout")
            else:
                self.transport.close()  # idle: nothing to answer

        def _refuse(self, status: int, reason: str, label: str) -> None:
            self._head_pending = False
            self._stop_head_timer()
            metrics.refused(label)
            head = f"HTTP/1.1 {status} {reason}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            self.transport.write(head.encode())
            self.transport.close()

    return Guarded


def uvicorn_config(app: Any, limits: Limits, metrics: Metrics, **options: Any) -> Any:
    """The uvicorn configuration `serve` runs with (and the tests, so they test it)."""
    import uvicorn
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    return uvicorn.Config(
        app,
        http=guarded_protocol(AutoHTTPProtocol, limits, metrics),
        timeout_keep_alive=limits.keep_alive,
        limit_concurrency=limits.max_connections,
        h11_max_incomplete_event_size=limits.max_header_bytes,
        log_level="warning",
        access_log=False,
        **options,
    )
