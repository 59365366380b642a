"""Hostile HTTP servers on 127.0.0.1: they pace their bytes, redirect, or just record.

Raw sockets, not http.server, so a test decides every byte and when it is sent. Each
connection is recorded with the request it carried and how long the client stayed.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

Behaviour = Callable[["Connection"], None]
LIMIT = 15.0
"""No connection is held longer than this, so a client without a deadline fails, not hangs."""


@dataclass
class Connection:
    sock: socket.socket
    opened: float = field(default_factory=time.monotonic)
    closed: float | None = None
    """When the client went away (or the server gave up)."""
    request: bytes = b""

    @property
    def held(self) -> float:
        return (self.closed or time.monotonic()) - self.opened

    def read_request(self) -> bytes:
        """Headers and a Content-Length body; empty when the client sent nothing."""
        data = b""
        self.sock.settimeout(LIMIT)
        while b"\r\n\r\n" not in data:
            chunk = self.sock.recv(65536)
            if not chunk:
                return data
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            key, _, value = line.partition(b":")
            if key.strip().lower() == b"content-length":
                length = int(value)
        while len(body) < length:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            body += chunk
        self.request = head + b"\r\n\r\n" + body
        return self.request

    def trickle(self, data: bytes, interval: float) -> None:
        """Send one byte per `interval` until the client hangs up (or LIMIT passes)."""
        self.sock.setblocking(False)
        for byte in data:
            readable, _, _ = select.select([self.sock], [], [], interval)
            if readable and not _peek(self.sock):
                return  # the client closed the connection
            if self.held > LIMIT:
                return
            try:
                self.sock.send(bytes([byte]))
            except OSError:
                return
        select.select([self.sock], [], [], LIMIT)


def _peek(sock: socket.socket) -> bool:
    try:
        return bool(sock.recv(1, socket.MSG_PEEK))
    except BlockingIOError:
        return True
    except OSError:
        return False


class Server:
    """One behaviour for every connection; `url` is http://127.0.0.1:PORT."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.connections: list[Connection] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            connection = Connection(sock)
            self.connections.append(connection)
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: Connection) -> None:
        try:
            connection.read_request()
            self.behaviour(connection)
        except OSError:
            pass
        finally:
            connection.closed = time.monotonic()
            connection.sock.close()

    @property
    def requests(self) -> list[bytes]:
        return [c.request for c in self.connections if c.request]

    def close(self) -> None:
        """Stop listening; shutdown first wakes the accepting thread, close alone would not."""
        self._stop.set()
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def answer(status: int = 200, body: bytes = b"ok", headers: str = "") -> Behaviour:
    def behave(connection: Connection) -> None:
        head = f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n{headers}\r\n"
        connection.sock.sendall(head.encode() + body)

    return behave


def slow_headers(interval: float = 0.25) -> Behaviour:
    """A status line, then a header that never ends: one byte per interval."""

    def behave(connection: Connection) -> None:
        connection.trickle(b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 10_000, interval)

    return behave


def slow_body(interval: float = 0.25) -> Behaviour:
    """Complete headers promising 10 kB, then the body one byte per interval."""

    def behave(connection: Connection) -> None:
        connection.sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\n[")
        connection.trickle(b" " * 9_999, interval)

    return behave


def redirect(location: str, status: int = 302) -> Behaviour:
    return answer(status, b"", f"Location: {location}\r\n")
