"""Outbound HTTP: webhooks, HTTP training sources and http(s) artifacts.

Every call has one total deadline (lookup, connect, TLS, headers and body together: a server
that trickles one byte a second cannot stretch it), follows no redirect, and reaches only
addresses the Project allows. The host is resolved once, every address is checked, and the
connection goes to a checked address, so a second lookup cannot swap in another one.
Proxy settings from the environment are not used: a proxy would resolve the host itself.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import io
import ipaddress
import select
import socket
import ssl
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from mlops_gitops.errors import MlopsError
from mlops_gitops.urls import (
    HttpTarget,
    IPAddress,
    address_problem,
    host_problem,
    parse_http_url,
    redact_url,
)

USER_AGENT = "mlops-gitops"
DEFAULT_MAX_BODY = 1024 * 1024


class NetError(MlopsError):
    """An outbound call failed; the message names the URL, redacted, and the reason."""

    def __init__(self, shown: str, reason: str) -> None:
        super().__init__(f"{shown}: {reason}")
        self.reason = reason


class Refused(NetError):
    """The call was not made or its answer not followed: a malformed URL, a forbidden
    address, a redirect. Trying again cannot help."""


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes


def request(
    method: str,
    url: str,
    *,
    timeout: float,
    allow_private: bool,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    max_body: int = DEFAULT_MAX_BODY,
) -> Response:
    """One request, its whole answer read within `timeout` seconds.

    A 3xx answer is an error (redirects are not followed); other statuses are returned for
    the caller to judge. A body longer than `max_body` is an error; with `max_body=0` the
    body is not read at all (a webhook needs only the status).
    """
    with _exchange(method, url, timeout, allow_private, body, headers) as (response, call):
        data = call.read_body(response, max_body) if max_body else b""
        return Response(response.status, data)


@contextlib.contextmanager
def open_stream(url: str, *, timeout: float, allow_private: bool) -> Iterator[io.BufferedReader]:
    """GET a body to read in chunks (artifacts); anything but a 200 is an error."""
    with _exchange("GET", url, timeout, allow_private, None, None) as (response, call):
        if response.status != 200:
            raise call.fail(f"HTTP {response.status}")
        yield io.BufferedReader(_Body(response, call))


@contextlib.contextmanager
def _exchange(
    method: str,
    url: str,
    timeout: float,
    allow_private: bool,
    body: bytes | None,
    headers: Mapping[str, str] | None,
) -> Iterator[tuple[http.client.HTTPResponse, _Call]]:
    call = _Call(url, timeout)
    try:
        target = parse_http_url(url)
    except ValueError as exc:
        raise call.refuse(str(exc)) from None
    sock: _DeadlineSocket | None = None
    try:
        try:
            sock = call.connect(target, allow_private)
            connection = _Connection(sock)
            connection.putrequest(method, target.target, skip_host=True, skip_accept_encoding=True)
            for key, value in _headers(target, headers, body).items():
                connection.putheader(key, value)
            connection.endheaders(body)
            response = connection.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            raise call.fail(call.describe(exc)) from None
        if 300 <= response.status < 400:
            location = response.getheader("Location") or "nowhere"
            raise call.refuse(
                f"HTTP {response.status} redirects to {redact_url(location)};"
                " redirects are not followed"
            )
        yield response, call
    finally:
        if sock is not None:
            sock.release()


def _headers(
    target: HttpTarget, extra: Mapping[str, str] | None, body: bytes | None
) -> dict[str, str]:
    out = {"Host": target.host_header, "User-Agent": USER_AGENT, "Connection": "close"}
    if target.username is not None:
        pair = f"{target.username}:{target.password or ''}".encode()
        out["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
    if body is not None:
        out["Content-Length"] = str(len(body))
    return out | dict(extra or {})


class _Call:
    """One call's deadline, the URL as it may be shown, and how its failures read."""

    def __init__(self, url: str, timeout: float) -> None:
        self.shown = redact_url(url)
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout

    def remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("deadline passed")
        return left

    def fail(self, why: str) -> NetError:
        return NetError(self.shown, why)

    def refuse(self, why: str) -> Refused:
        return Refused(self.shown, why)

    def describe(self, exc: BaseException) -> str:
        if isinstance(exc, TimeoutError) or time.monotonic() >= self.deadline:
            return f"timed out after {self.timeout:g} s"
        if isinstance(exc, ssl.SSLError):
            return f"TLS error: {exc.reason or exc}"
        if isinstance(exc, OSError) and exc.strerror:
            return exc.strerror
        return str(exc) or type(exc).__name__

    def connect(self, target: HttpTarget, allow_private: bool) -> _DeadlineSocket:
        problem = host_problem(target, allow_private)
        if problem is not None:
            raise self.refuse(f"{target.host} is {problem}")
        addresses = self._resolve(target)
        for address in addresses:
            problem = address_problem(address, allow_private)
            if problem is not None:
                raise self.refuse(f"{target.host} resolves to {address}, {problem}")
        last: OSError | None = None
        for address in addresses:
            family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
            raw = socket.socket(family, socket.SOCK_STREAM)
            try:
                raw.settimeout(self.remaining())
                raw.connect((str(address), target.port))
                if target.scheme == "https":
                    return _DeadlineSocket(self._tls(raw, target.host), raw, self)
                return _DeadlineSocket(raw, raw, self)
            except ssl.SSLError:
                raw.close()
                raise
            except OSError as exc:
                raw.close()
                if isinstance(exc, TimeoutError):
                    raise
                last = exc
        assert last is not None
        raise last

    def _resolve(self, target: HttpTarget) -> list[IPAddress]:
        """The host's addresses; the lookup runs in a thread so the deadline bounds it."""
        if target.address is not None:
            return [target.address]
        found: dict[str, Any] = {}

        def lookup() -> None:
            try:
                found["infos"] = socket.getaddrinfo(
                    target.host, target.port, type=socket.SOCK_STREAM
                )
            except OSError as exc:
                found["error"] = exc

        worker = threading.Thread(target=lookup, name="mlops-gitops-dns", daemon=True)
        worker.start()
        worker.join(self.remaining())
        if worker.is_alive():
            raise TimeoutError("lookup")
        if "error" in found:
            raise self.fail(f"cannot resolve {target.host}: {found['error']}")
        addresses: dict[IPAddress, None] = {}
        for family, _type, _proto, _name, sockaddr in found["infos"]:
            if family in (socket.AF_INET, socket.AF_INET6):
                addresses[ipaddress.ip_address(str(sockaddr[0]).split("%")[0])] = None
        if not addresses:
            raise self.fail(f"{target.host} has no address")
        return list(addresses)

    def _tls(self, raw: socket.socket, host: str) -> ssl.SSLSocket:
        """The TLS handshake, stepped without blocking so the deadline bounds it too."""
        context = ssl.create_default_context()
        tls = context.wrap_socket(raw, server_hostname=host, do_handshake_on_connect=False)
        tls.setblocking(False)
        while True:
            try:
                tls.do_handshake()
                return tls
            except ssl.SSLWantReadError:
                select.select([tls], [], [], self.remaining())
            except ssl.SSLWantWriteError:
                select.select([], [tls], [], self.remaining())

    def read_body(self, response: http.client.HTTPResponse, limit: int) -> bytes:
        chunks, size = [], 0
        try:
            while chunk := response.read(min(64 * 1024, limit + 1 - size)):
                chunks.append(chunk)
                size += len(chunk)
                if size > limit:
                    raise self.fail(f"the answer is larger than {limit} bytes")
        except (OSError, http.client.HTTPException) as exc:
            raise self.fail(self.describe(exc)) from None
        return b"".join(chunks)


class _DeadlineSocket:
    """What http.client sees as its socket: every send and receive waits at most until the
    call's deadline, however the server paces its bytes."""

    def __init__(self, sock: socket.socket, raw: socket.socket, call: _Call) -> None:
        self._sock = sock
        self._raw = raw
        self._call = call

    def _arm(self) -> None:
        self._sock.settimeout(self._call.remaining())

    def sendall(self, data: bytes) -> None:
        self._arm()
        self._sock.sendall(data)

    def recv_into(self, buffer: Any) -> int:
        self._arm()
        return self._sock.recv_into(buffer)

    def makefile(self, mode: str, *args: Any, **kwargs: Any) -> io.BufferedReader:
        return io.BufferedReader(_Reader(self))

    def close(self) -> None:
        """http.client closes its socket while the response still reads from it (a real
        socket lives on through its file); the call releases it once it is done."""

    def release(self) -> None:
        self._sock.close()
        self._raw.close()


class _Reader(io.RawIOBase):
    def __init__(self, sock: _DeadlineSocket) -> None:
        self._sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self._sock.recv_into(buffer)


class _Connection(http.client.HTTPConnection):
    """An HTTPConnection on a socket opened (and checked) beforehand; it never reconnects."""

    def __init__(self, sock: _DeadlineSocket) -> None:
        super().__init__("connected.invalid")
        self.sock = sock

    def connect(self) -> None:
        raise http.client.NotConnected("the connection was closed")


class _Body(io.RawIOBase):
    """A streamed body whose reads keep the call's deadline and report failures alike."""

    def __init__(self, response: http.client.HTTPResponse, call: _Call) -> None:
        self._response = response
        self._call = call

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            return self._response.readinto(buffer)
        except (OSError, http.client.HTTPException) as exc:
            raise self._call.fail(self._call.describe(exc)) from None
