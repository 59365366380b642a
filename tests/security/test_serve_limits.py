"""`serve` against clients that send too much, too slowly, or not at all (issue 9, item 10).

Each test drives a real server on a loopback port with raw sockets, the way an attacker
would: huge bodies (declared and streamed), half-open connections, endless headers, stalled
bodies, requests with too many instances, many bodies at once.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from pathlib import Path

import httpx

from mlops_gitops.serve.limits import Limits
from tests.serve.helpers import CliServer, LiveServer, instances, read_response, rss_mb

PREDICT = "/v1/models/cancer-prod:predict"
ROW = b"[1,1,1,1,1,1,1,1,1,1],"


def head(path: str, extra: str = "") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{extra}\r\n"
    ).encode()


def stream_chunked(port: int, total: int, chunk: int = 65536) -> tuple[int, int | None]:
    """POST `total` bytes of a JSON body in chunks, as fast as the server takes them: the
    bytes it accepted before it closed, and the status it answered."""
    sock = socket.create_connection(("127.0.0.1", port))
    piece = (ROW * (chunk // len(ROW) + 1))[:chunk]
    sent = 0
    try:
        sock.sendall(head(PREDICT, "Transfer-Encoding: chunked\r\n"))
        sock.sendall(b'e\r\n{"instances":[\r\n')
        while sent < total:
            sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
            sent += len(piece)
        sock.sendall(b"0\r\n\r\n")
    except OSError:  # the server closed the connection: the test's point
        pass
    status, _ = read_response(sock, timeout=10)
    sock.close()
    return sent, status


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.glob("*")) if folder.exists() else 0


def test_large_bodies_are_refused_as_they_stream_without_stalling_or_memory(repo: Path) -> None:
    """The `serve` command (default --max-body 10 MB): a declared 100 MB body is refused
    before it is sent; 30 MB and 100 MB streamed bodies are cut off at the limit with a
    413, while /healthz keeps answering quickly; memory and prediction logs do not grow."""
    logs = repo / "logs" / "cancer-prod"
    with CliServer(repo) as server, server.client() as http:
        assert http.post(PREDICT, json={"instances": instances(1)}).status_code == 200
        time.sleep(1.5)  # the record is flushed
        logged, memory = folder_bytes(logs), rss_mb(server.proc.pid)

        sock = socket.create_connection(("127.0.0.1", server.port))
        started = time.monotonic()
        sock.sendall(head(PREDICT, f"Content-Length: {100 * 2**20}\r\n"))
        status, answer = read_response(sock)
        sock.close()
        assert status == 413 and time.monotonic() - started < 2
        assert b"larger than 10 MB" in answer and b"connection: close" in answer.lower()

        outcome: dict[int, tuple[int, int | None]] = {}
        streams = [
            threading.Thread(target=lambda n=n: outcome.update({n: stream_chunked(server.port, n)}))
            for n in (30 * 2**20, 100 * 2**20)
        ]
        for stream in streams:
            stream.start()
        slowest = 0.0
        while any(s.is_alive() for s in streams):
            started = time.monotonic()
            assert http.get("/healthz").status_code == 200
            slowest = max(slowest, time.monotonic() - started)
            time.sleep(0.02)
        for total, (accepted, answered) in outcome.items():
            assert answered == 413, (total, answered)
            assert accepted < 30 * 2**20, f"{accepted} of {total} bytes were taken"
        assert slowest < 1.0, f"/healthz took {slowest:.2f} s during the uploads"
        assert rss_mb(server.proc.pid) - memory < 100
        time.sleep(1.5)
        assert folder_bytes(logs) == logged
        assert (
            'mlops_refused_requests_total{reason="body_too_large"} 3' in http.get("/metrics").text
        )


def test_max_body_is_set_from_the_command_line(repo: Path) -> None:
    small = {"instances": instances(1)}
    large = {"instances": instances(40)}
    with CliServer(repo, ["--max-body", "4KB"]) as server, server.client() as http:
        assert http.post(PREDICT, json=small).status_code == 200
        refused = http.post(PREDICT, json=large)
        assert refused.status_code == 413
        assert refused.json() == {
            "error": "the request body is larger than 4 KB (the server's --max-body)"
        }


def test_half_open_connections_are_closed_within_the_header_timeout(repo: Path) -> None:
    """A connection that sends nothing, half a request head, or stops after a response is
    closed once the head deadline passes (408 when it had started a request)."""
    limits = Limits(header_timeout=1.0, keep_alive=30)
    with LiveServer(repo, limits) as live:
        silent = socket.create_connection(("127.0.0.1", live.port))
        partial = socket.create_connection(("127.0.0.1", live.port))
        partial.sendall(b"POST /v1/models/cancer-prod:predict HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        assert read_response(silent) == (None, b"")
        status, _ = read_response(partial)
        assert status == 408
        assert 0.8 < time.monotonic() - started < 3
        silent.close()
        partial.close()

        reused = socket.create_connection(("127.0.0.1", live.port))
        body = b'{"instances": [[1,1,1,1,1,1,1,1,1,1]]}'
        reused.sendall(head(PREDICT, f"Content-Length: {len(body)}\r\n") + body)
        reused.settimeout(10)
        assert reused.recv(65536).startswith(b"HTTP/1.1 200")
        reused.sendall(b"GET /healthz HTTP/1.1\r\n")  # ... and the rest never comes
        started = time.monotonic()
        status, _ = read_response(reused)
        assert status == 408 and time.monotonic() - started < 3
        reused.close()


def test_a_stalled_body_is_cut_off(repo: Path) -> None:
    with LiveServer(repo, Limits(body_timeout=1.0)) as live:
        sock = socket.create_connection(("127.0.0.1", live.port))
        sock.sendall(head(PREDICT, "Content-Length: 1000\r\n") + b'{"instances": [')
        started = time.monotonic()
        status, answer = read_response(sock)
        sock.close()
        assert status == 408 and b"stalled" in answer
        assert time.monotonic() - started < 3


def test_endless_headers_are_refused(repo: Path) -> None:
    with LiveServer(repo, Limits(max_header_bytes=16 * 1024)) as live:
        sock = socket.create_connection(("127.0.0.1", live.port))
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        try:
            for n in range(2000):  # 200 KB of headers, never finished
                sock.sendall(f"X-Pad-{n}: {'a' * 90}\r\n".encode())
        except OSError:
            pass
        status, _ = read_response(sock)
        sock.close()
        assert status == 431
        with live.client() as http:
            assert http.get("/healthz").status_code == 200


def test_instances_per_request_are_limited(repo: Path) -> None:
    with LiveServer(repo, Limits(max_instances=50)) as live, live.client() as http:
        assert http.post(PREDICT, json={"instances": instances(50)}).status_code == 200
        refused = http.post(PREDICT, json={"instances": instances(51)})
        assert refused.status_code == 413
        assert refused.json()["error"] == ("51 instances in one request; at most 50 are accepted")
        tensor = {"name": "x", "shape": [51, 10], "datatype": "FP64", "data": [1.0] * 510}
        refused = http.post("/v2/models/cancer-prod/infer", json={"inputs": [tensor]})
        assert refused.status_code == 413 and "at most 50" in refused.json()["error"]
        assert 'mlops_bad_requests_total{deployment="cancer-prod"} 2' in http.get("/metrics").text


def test_bodies_held_at_once_share_a_budget(repo: Path) -> None:
    """Bodies being received count against one budget: past it, 503 instead of memory."""
    with LiveServer(repo, Limits(bodies_in_flight=100_000)) as live:
        holders = []
        for _ in range(2):  # two clients each park 49,900 bytes of a 51,200-byte body
            sock = socket.create_connection(("127.0.0.1", live.port))
            sock.sendall(head(PREDICT, "Content-Length: 51200\r\n") + b" " * 49_900)
            holders.append(sock)
        time.sleep(0.5)
        with live.client() as http:
            body = {"instances": instances(1)}
            busy = http.post(PREDICT, json=body)
            assert busy.status_code == 503 and "retry" in busy.json()["error"]
            for sock in holders:
                sock.close()
            deadline = time.monotonic() + 5
            while http.post(PREDICT, json=body).status_code != 200:
                assert time.monotonic() < deadline, "the budget was not given back"
                time.sleep(0.1)


def test_a_long_request_id_is_refused(repo: Path) -> None:
    with LiveServer(repo) as live, live.client() as http:
        answer = http.post(
            PREDICT, json={"instances": instances(1)}, headers={"X-Request-Id": "r" * 300}
        )
        assert answer.status_code == 400 and "at most 256" in answer.json()["error"]
        with contextlib.suppress(httpx.HTTPError):  # a 431, or closed while sending
            assert http.get("/healthz", headers={"X-Pad": "a" * 100_000}).status_code == 431
        assert http.get("/healthz").status_code == 200


def test_a_body_of_millions_of_tiny_values_is_refused_before_it_is_parsed(repo: Path) -> None:
    """9.9 MB of `[1],` is 5 million values (arrays and numbers): parsing them would hold the
    interpreter for seconds and take ~300 MB. It is refused by its separators before it is
    parsed, and /healthz never waits; binary V2 elements count the same way."""
    tiny = b'{"instances": [' + b"[1]," * (9_900_000 // 4) + b"[1]]}"
    binary = {
        "name": "x",
        "shape": [3_000_000, 1],
        "datatype": "INT8",
        "parameters": {"binary_data_size": 3_000_000},
    }
    header = json.dumps({"inputs": [binary]}).encode()
    with LiveServer(repo, Limits(max_instances=10**7)) as live, live.client() as http:
        outcome: list[httpx.Response] = []
        sender = threading.Thread(target=lambda: outcome.append(http.post(PREDICT, content=tiny)))
        sender.start()
        slowest = 0.0
        with httpx.Client(base_url=live.url, trust_env=False, timeout=30) as probe:
            while sender.is_alive():
                started = time.monotonic()
                assert probe.get("/healthz").status_code == 200
                slowest = max(slowest, time.monotonic() - started)
        sender.join()
        assert outcome[0].status_code == 413
        assert outcome[0].json()["error"] == (
            "the body holds up to 4950004 values; at most 2000000 are accepted per request"
        )
        assert slowest < 1.0
        refused = http.post(
            "/v2/models/cancer-prod/infer",
            content=header + b"\x01" * 3_000_000,
            headers={"Inference-Header-Content-Length": str(len(header))},
        )
        assert refused.status_code == 413 and "at most 2000000" in refused.json()["error"]
