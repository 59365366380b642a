"""What stands between a client and the app: bearer-token auth, early size refusal, and
connections that must send their requests in time.

uvicorn closes idle keep-alive connections, but holds a connection that sends nothing, half
a request head or half a body forever, and its httptools parser takes headers of any size.
The protocol class below adds deadlines and a head size limit.
"""

from __future__ import annotations

import asyncio
import hmac
import os
import stat
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from mlops_gitops.errors import MlopsError
from mlops_gitops.safeio import dumps
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
        if value and (any(c.isspace() for c in value) or len(value) > MAX_TOKEN_BYTES):
            raise MlopsError(f"${TOKEN_ENV}: holds more than one token, or is too long")
        return value.encode() if value else None
    where = f"--token-file {token_file}"
    try:
        info = token_file.stat()
        if not stat.S_ISREG(info.st_mode):
            raise MlopsError(f"{where}: not a regular file")
        if info.st_size > MAX_TOKEN_BYTES:
            raise MlopsError(f"{where}: over {MAX_TOKEN_BYTES} bytes")
        text = token_file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise MlopsError(f"{where}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise MlopsError(f"{where}: not UTF-8 text") from None
    if not text or any(c.isspace() for c in text):
        raise MlopsError(f"{where}: empty, or holds more than one token")
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
    body = dumps({"error": message}, separators=(",", ":")).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),  # the body was not read: do not reuse the connection
        *extra,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Guard:
    """ASGI middleware: the head's size (431), the token (401 with WWW-Authenticate), then a
    declared body size (413)."""

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
        head = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
        if head + sum(len(k) + len(v) + 4 for k, v in headers) > self.limits.max_header_bytes:
            self.metrics.refused("headers_too_large")  # a head that came whole in one read
            await _answer(send, 431, "the request line and headers are too large", [])
            return
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


class _Sweep:
    """One timer per server that checks every connection's deadlines a few times per
    timeout, instead of a timer armed and cancelled for every request."""

    def __init__(self, period: float) -> None:
        self.period = period
        self.connections: set[_Deadlines] = set()
        self.timer: asyncio.TimerHandle | None = None

    def add(self, connection: _Deadlines, loop: asyncio.AbstractEventLoop) -> None:
        self.connections.add(connection)
        if self.timer is None:
            self.timer = loop.call_later(self.period, self.run, loop)

    def run(self, loop: asyncio.AbstractEventLoop) -> None:
        self.timer = None
        now = loop.time()
        for connection in list(self.connections):
            connection.check_deadlines(now)
        if self.connections:
            self.timer = loop.call_later(self.period, self.run, loop)


class _Deadlines(asyncio.Protocol):
    """Put before a uvicorn HTTP protocol class: deadlines on request heads and bodies.

    A connection must send a complete request head within `header_timeout` of opening or of
    its previous response, in at most `max_header_bytes`; a body that stops arriving for
    `body_timeout` is cut off. uvicorn starts a new request cycle (`self.cycle`) when it has
    parsed a head, which is how a head is known to be complete.
    """

    guard_limits: Limits
    guard_metrics: Metrics
    guard_sweep: _Sweep
    cycle: Any
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    since = 0.0
    """When the wait being timed began: the head's start, or the body's last bytes."""
    head_pending = False
    head_bytes = 0
    head_cycle: Any = None

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self.guard_sweep.add(self, self.loop)
        self.await_head()

    def await_head(self) -> None:
        self.head_pending, self.head_bytes, self.head_cycle = True, 0, self.cycle
        self.since = self.loop.time()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if not self.head_pending or self.cycle is not self.head_cycle:
            self.head_pending = False
            self.since = self.loop.time()
            return
        self.head_bytes += len(data)
        if self.head_bytes > self.guard_limits.max_header_bytes:
            self.refuse(431, "Request Header Fields Too Large", "headers_too_large")

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        if not self.transport.is_closing() and self.cycle.response_complete:
            self.await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self.guard_sweep.connections.discard(self)
        super().connection_lost(exc)

    def check_deadlines(self, now: float) -> None:
        limits = self.guard_limits
        if self.transport.is_closing():
            return
        if self.head_pending:
            if now - self.since > limits.header_timeout:
                if self.head_bytes:
                    self.refuse(408, "Request Timeout", "header_timeout")
                else:
                    self.transport.close()  # idle: nothing to answer
            return
        cycle = self.cycle
        waiting = cycle is not None and cycle.more_body and not cycle.response_started
        if waiting and now - self.since > limits.body_timeout:
            message = f"the request body stalled for {limits.body_timeout:g} s"
            self.refuse(408, "Request Timeout", "body_timeout", message)

    def refuse(self, status: int, reason: str, label: str, message: str = "") -> None:
        self.head_pending = False
        self.guard_metrics.refused(label)
        body = dumps({"error": message or reason}, separators=(",", ":")).encode()
        head = (
            f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        )
        self.transport.write(head.encode() + body)
        self.transport.close()


def guarded_protocol(base: type[asyncio.Protocol], limits: Limits, metrics: Metrics) -> type:
    """`base` (a uvicorn HTTP protocol) with the deadlines of `limits`; they are met within a
    quarter more than their value."""
    period = max(0.05, min(limits.header_timeout, limits.body_timeout) / 4)
    attributes = {"guard_limits": limits, "guard_metrics": metrics, "guard_sweep": _Sweep(period)}
    return type("Guarded", (_Deadlines, base), attributes)


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
