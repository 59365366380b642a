"""The server's budgets, and request bodies read within them.

A body is read as it streams in and refused (413) as soon as it passes `max_body`, before
more is buffered: a declared Content-Length over the limit is refused before any of it is
read. Bodies in flight together share a budget (503 past it), so many large requests do
not hold memory without bound (slow ones are cut off by the connection's deadlines, guard).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

KIB = 1024
MIB = 1024 * KIB


@dataclass(frozen=True)
class Limits:
    max_body: int = 10 * MIB
    """Largest request body accepted (413 past it)."""
    max_instances: int = 10_000
    """Most instances (rows) in one prediction request (413 past it)."""
    max_values: int = 2_000_000
    """Most JSON values (numbers, strings, arrays, objects; binary V2 elements) in one body,
    counted from its separators before it is parsed (413 past it): parsing holds the
    interpreter lock, so a body of millions of tiny values would stall every request."""
    max_header_bytes: int = 64 * KIB
    """Largest request line and headers (431 past it)."""
    header_timeout: float = 10.0
    """Seconds a connection has to send a complete request head, from its opening or the
    previous response; a half-open connection is closed after it (408 if it sent some)."""
    body_timeout: float = 30.0
    """Seconds a request body may pause before it is cut off (408)."""
    keep_alive: int = 5
    """Seconds an idle keep-alive connection is kept open."""
    max_connections: int = 1000
    """Connections and requests served at once; uvicorn answers 503 past it."""
    bodies_in_flight: int = 128 * MIB
    """Bytes of request bodies held at once across all requests (503 past it)."""
    max_request_id: int = 256
    """Longest X-Request-Id (or V2 `id`) accepted: it is logged with every record."""


SIZE = re.compile(r"(\d+)\s*([kmg]?)(?:i?b)?", re.IGNORECASE)


def parse_size(text: str) -> int:
    """`10MB`, `512k`, `1048576`: K, M and G are powers of 1024."""
    match = SIZE.fullmatch(text.strip())
    if not match:
        raise ValueError(f"not a size: {text!r} (examples: 10MB, 512KB, 1048576)")
    number, unit = int(match.group(1)), match.group(2).lower()
    return number * {"": 1, "k": KIB, "m": MIB, "g": 1024 * MIB}[unit]


class BodyError(Exception):
    def __init__(self, status: int, message: str, reason: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason
        """The refusal's label in /metrics."""


class ClientGone(Exception):
    """The client disconnected before its body was read."""


class BodyBudget:
    """Bytes of request bodies held at once, across all requests (thread-safe)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.used = 0
        self._lock = threading.Lock()

    def take(self, size: int) -> bool:
        with self._lock:
            if self.used + size > self.total:
                return False
            self.used += size
            return True

    def give(self, size: int) -> None:
        with self._lock:
            self.used -= size


def shown(size: int) -> str:
    for unit, factor in (("GB", 1024 * MIB), ("MB", MIB), ("KB", KIB)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} bytes"


def json_values(text: bytes) -> int:
    """The values in a JSON text, containers included, from its separators (an upper bound:
    separators inside strings count too). 10,000 rows of 100 numbers are 1,010,001."""
    return text.count(b",") + text.count(b"[") + text.count(b"{") + 1


def too_large(limit: int) -> BodyError:
    return BodyError(
        413,
        f"the request body is larger than {shown(limit)} (the server's --max-body)",
        "body_too_large",
    )


def declared_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]


class Body:
    """`async with Body(receive, limits, budget) as body:` the whole body, read within the
    limits; its bytes count against the budget until the block ends. Raises BodyError (413,
    503) or ClientGone. (A stalled body is cut off by the connection's deadline.)"""

    def __init__(self, receive: Receive, limits: Limits, budget: BodyBudget) -> None:
        self.receive = receive
        self.limits = limits
        self.budget = budget
        self.size = 0

    async def __aenter__(self) -> bytes:
        chunks: list[bytes] = []
        try:
            while True:
                message = await self.receive()
                if message["type"] == "http.disconnect":
                    raise ClientGone()
                chunk = message.get("body", b"")
                if chunk:
                    if self.size + len(chunk) > self.limits.max_body:
                        raise too_large(self.limits.max_body)
                    if not self.budget.take(len(chunk)):
                        why = "the server holds too many request bodies; retry"
                        raise BodyError(503, why, "busy")
                    self.size += len(chunk)
                    chunks.append(chunk)
                if not message.get("more_body", False):
                    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
        except BaseException:
            self.budget.give(self.size)
            raise

    async def __aexit__(self, *_: object) -> None:
        self.budget.give(self.size)
