"""Helpers for the serving tests: request bodies from example-repo's data, a live server.

The server under test is the real one: `create_app(Server(repo))` run by uvicorn on a
loopback port (in a thread of the test process, so it starts without paying the imports
again), or the `mlops-gitops serve` command in a subprocess. Starting either is slow: only
tests marked `slow` may.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.client
import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from mlops_gitops.serve.app import Server, create_app
from mlops_gitops.serve.guard import uvicorn_config
from mlops_gitops.serve.limits import Limits
from tests.support.cli import require_slow, spawn
from tests.support.repos import EXAMPLE_REPO

REFERENCE = EXAMPLE_REPO / "data" / "reference" / "cancer-detector-1.1.0.csv"
FEATURES = [
    "mean_radius",
    "mean_texture",
    "mean_perimeter",
    "mean_area",
    "mean_smoothness",
    "mean_compactness",
    "mean_concavity",
    "mean_concave_points",
    "mean_symmetry",
    "mean_fractal_dimension",
]


@functools.cache
def reference_model(model: str, version: str) -> Any:
    """The example's model, loaded as the tool loads it: the types its spec trusts only."""
    from mlops_gitops.providers.scan import load_skops, trusted_types
    from mlops_gitops.spec.check import load as load_specs
    from mlops_gitops.spec.models import Model

    found = load_specs(EXAMPLE_REPO).objects[("Model", model)].obj
    assert isinstance(found, Model)
    (spec,) = [v for v in found.spec.versions if v.version == version]
    return load_skops(EXAMPLE_REPO / spec.artifact, trusted_types(spec))


def bucket(request_id: str) -> int:
    """The documented split: the first 4 bytes of sha256(X-Request-Id), modulo 100."""
    return int.from_bytes(hashlib.sha256(request_id.encode()).digest()[:4], "big") % 100


def instances(count: int, offset: int = 0) -> list[dict[str, float]]:
    """`count` cancer-detector instances (objects keyed by feature name), cycling the data."""
    frame = pd.read_csv(REFERENCE)[FEATURES]
    rows: list[dict[str, float]] = frame.to_dict("records")
    return [rows[(offset + i) % len(rows)] for i in range(count)]


def post_all(
    url: str, jobs: Sequence[tuple[str, bytes, str | None]], workers: int = 8
) -> list[tuple[int, dict[str, Any]]]:
    """POST every (path, body, request id) with `workers` keep-alive connections in threads;
    the (status, JSON body) of each, in the order of `jobs`."""
    host, port = url.removeprefix("http://").split(":")
    results: list[tuple[int, dict[str, Any]] | None] = [None] * len(jobs)
    cursor = iter(range(len(jobs)))
    lock = threading.Lock()
    failures: list[BaseException] = []

    def worker() -> None:
        connection = http.client.HTTPConnection(host, int(port), timeout=60)
        try:
            while True:
                with lock:
                    index = next(cursor, None)
                if index is None:
                    return
                path, body, request_id = jobs[index]
                headers = {"Content-Type": "application/json"}
                if request_id is not None:
                    headers["X-Request-Id"] = request_id
                connection.request("POST", path, body, headers)
                response = connection.getresponse()
                results[index] = (response.status, json.loads(response.read()))
        except BaseException as exc:
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return [r for r in results if r is not None]


def predict_body(rows: Sequence[Any]) -> bytes:
    return json.dumps({"instances": list(rows)}).encode()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class LiveServer:
    """The real app under uvicorn on a loopback port, in a thread, configured as `serve`
    configures it (with the limits given); the reloader runs."""

    def __init__(
        self, repo: Path, limits: Limits | None = None, token: bytes | None = None
    ) -> None:
        import uvicorn

        require_slow("starts a server")
        self.server = Server(repo, limits=limits)
        self.server.start_reloader()
        app = create_app(self.server, token)
        config = uvicorn_config(app, self.server.limits, self.server.metrics, lifespan="on")
        self.uvicorn = uvicorn.Server(config)
        self.socket = socket.socket()
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", 0))
        self.port: int = self.socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(
            target=self.uvicorn.run, kwargs={"sockets": [self.socket]}, daemon=True
        )

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.uvicorn.started:
            assert self.thread.is_alive(), "uvicorn stopped while starting"
            assert time.monotonic() < deadline, "uvicorn did not start in 30 s"
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self.uvicorn.should_exit = True
        self.thread.join(30)
        self.socket.close()
        self.server.close()  # also done by the app's lifespan; closing twice is harmless

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, trust_env=False)


def rss_mb(pid: int) -> float:
    """Resident memory of a process (Linux /proc)."""
    for text in Path(f"/proc/{pid}/status").read_text().splitlines():
        if text.startswith("VmRSS:"):
            return int(text.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def read_response(sock: socket.socket, timeout: float = 10.0) -> tuple[int | None, bytes]:
    """Everything the server sends until it closes the connection (or `timeout` passes):
    the status code of the first response, if any, and the bytes."""
    sock.settimeout(timeout)
    data = b""
    with contextlib.suppress(ConnectionResetError, TimeoutError):
        while chunk := sock.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else None
    return status, data


class CliServer:
    """`mlops-gitops serve` in a subprocess on a free loopback port: the command itself, with
    its own interpreter (so the test's client threads do not share its GIL)."""

    def __init__(
        self, repo: Path, args: Sequence[str] = (), env: dict[str, str] | None = None
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = spawn(
            "--repo",
            repo,
            "serve",
            "--port",
            str(self.port),
            *args,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )

    def __enter__(self) -> CliServer:
        deadline = time.monotonic() + 90
        while True:
            if self.proc.poll() is not None:
                output = self.proc.stdout.read() if self.proc.stdout else ""
                raise AssertionError(f"serve exited {self.proc.returncode}: {output}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1, trust_env=False).status_code == 200:
                    self.output = self._until_announced()
                    return self
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "serve did not come up in 90 s"
            time.sleep(0.1)

    def _until_announced(self) -> list[str]:
        """The lines printed up to and including the announcement (warnings come first)."""
        lines: list[str] = []
        while self.proc.stdout and not (lines and lines[-1].startswith("Serving")):
            text = self.proc.stdout.readline()
            assert text, f"serve printed no announcement: {lines}"
            lines.append(text.rstrip("\n"))
        return lines

    def stop(self) -> int:
        """SIGTERM: uvicorn shuts down gracefully (the app's lifespan flushes the logs), then
        re-raises the signal, so the exit status is -SIGTERM."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        return self.proc.returncode

    def __exit__(self, *_: object) -> None:
        self.stop()

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, trust_env=False)
