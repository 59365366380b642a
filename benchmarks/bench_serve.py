"""Load test of `mlops-gitops serve`: :predict throughput and latency with logging on.

Run: .venv/bin/python benchmarks/bench_serve.py [--clients 1,32] [--seconds 8] [--requests 20000]

Builds a throw-away copy of example-repo whose cancer-staging deployment serves one small
scikit-learn model (cancer-detector 1.1.0: standard scaling + logistic regression, bundled
in a Pipeline) with its prediction log on, applies it, starts `mlops-gitops serve` on a
loopback port in its own process, and drives it from this process with N concurrent
clients, each a thread on its own keep-alive connection sending one-instance requests
(objects keyed by feature name, a distinct X-Request-Id each) back to back. Each level runs
for at most --seconds or --requests, after a short warm-up. Prints requests/s, p50 and p99
latency as the client saw it, errors, and the server's resident memory when idle.

Target (2-core machine): at least 1,500 requests/s with p99 at most 20 ms at 32 clients.
The load generator shares the machine's cores with the server, as it would on one box.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
EXAMPLE = PROJECT / "example-repo"
DEPLOYMENT = "cancer-staging"
ENV = {
    **{k: v for k, v in os.environ.items() if not k.startswith("GIT_")},
    "GIT_CONFIG_NOSYSTEM": "1",
    "NO_COLOR": "1",
    "NO_PROXY": "127.0.0.1",
}


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost", *args],
        cwd=repo,
        env=ENV,
        check=True,
        capture_output=True,
    )


def build_repo(root: Path) -> Path:
    """example-repo applied, with cancer-staging serving 1.1.0 alone (no canary)."""
    repo = Path(shutil.copytree(EXAMPLE, root / "repo", ignore=shutil.ignore_patterns("__py*")))
    spec = repo / "deployments" / f"{DEPLOYMENT}.yaml"
    text = spec.read_text(encoding="utf-8")
    spec.write_text(
        "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("canary:"))
        + "\n",
        encoding="utf-8",
    )
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "bench")
    now = (datetime.now(UTC) - timedelta(hours=1)).isoformat(timespec="seconds")
    done = subprocess.run(
        [sys.executable, "-m", "mlops_gitops", "--repo", str(repo), "apply", "--now", now],
        env=ENV,
        capture_output=True,
        text=True,
        check=False,
    )
    state = repo / ".mlops" / "state" / "deployments" / f"{DEPLOYMENT}.json"
    if not state.exists():  # exit 3 (cancer-prod blocked by the stage policy) is expected
        raise SystemExit(f"apply failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return repo


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Connection:
    """A minimal HTTP/1.1 keep-alive client: the load generator must cost little CPU."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def post(self, path: str, body: bytes, request_id: str) -> tuple[int, bytes]:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"X-Request-Id: {request_id}\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.sock.sendall(head.encode() + body)
        while b"\r\n\r\n" not in self.buffer:
            self._read()
        header, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        status = int(header.split(b" ", 2)[1])
        length = 0
        for line in header.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(self.buffer) < length:
            self._read()
        payload, self.buffer = self.buffer[:length], self.buffer[length:]
        return status, payload

    def _read(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.buffer += chunk

    def close(self) -> None:
        self.sock.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stack() -> str:
    """What uvicorn picks here ("auto"): httptools and uvloop when installed, else h11/asyncio."""
    import importlib.util

    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    return f"http={http}, loop={loop}"


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


def load(
    port: int, bodies: list[bytes], clients: int, seconds: float, limit: int
) -> dict[str, float]:
    path = f"/v1/models/{DEPLOYMENT}:predict"
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    sent = [0]
    lock = threading.Lock()
    start_gate = threading.Barrier(clients + 1)
    deadline = [0.0]

    def client(index: int) -> None:
        connection = Connection(port)
        mine = latencies[index]
        n = 0
        start_gate.wait()
        try:
            while time.perf_counter() < deadline[0]:
                with lock:
                    if sent[0] >= limit:
                        break
                    sent[0] += 1
                body = bodies[(index * 7919 + n) % len(bodies)]
                t0 = time.perf_counter()
                status, _ = connection.post(path, body, f"bench-{index}-{n}")
                mine.append(time.perf_counter() - t0)
                if status != 200:
                    errors[index] += 1
                n += 1
        finally:
            connection.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    deadline[0] = began + seconds
    start_gate.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    merged = sorted(x for per in latencies for x in per)
    return {
        "clients": clients,
        "requests": len(merged),
        "errors": sum(errors),
        "seconds": round(elapsed, 2),
        "rps": round(len(merged) / elapsed, 1),
        "p50_ms": round(percentile(merged, 0.50) * 1000, 2),
        "p99_ms": round(percentile(merged, 0.99) * 1000, 2),
        "max_ms": round(merged[-1] * 1000, 2) if merged else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", default="1,32", help="concurrency levels, comma-separated")
    parser.add_argument("--seconds", type=float, default=8.0, help="most seconds per level")
    parser.add_argument("--requests", type=int, default=20000, help="most requests per level")
    parser.add_argument("--warmup", type=float, default=1.5, help="seconds of warm-up per level")
    args = parser.parse_args()
    levels = [int(c) for c in args.clients.split(",") if c]

    import pandas as pd

    rows = pd.read_csv(EXAMPLE / "data" / "reference" / "cancer-detector-1.1.0.csv")
    rows = rows.drop(columns=["target"])
    bodies = [json.dumps({"instances": [r]}).encode() for r in rows.to_dict("records")]

    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        t0 = time.perf_counter()
        repo = build_repo(Path(tmp))
        print(f"example-repo applied in {time.perf_counter() - t0:.1f} s")
        port = free_port()
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlops_gitops",
                "--repo",
                str(repo),
                "serve",
                "--port",
                str(port),
            ],
            env=ENV,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            t0 = time.perf_counter()
            while True:
                if server.poll() is not None:
                    raise SystemExit(
                        f"serve exited: {server.stderr.read() if server.stderr else ''}"
                    )
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1):
                        break
                except OSError:
                    time.sleep(0.05)
            print(f"server up in {time.perf_counter() - t0:.1f} s (pid {server.pid})")
            time.sleep(1.0)
            print(f"idle RSS at start: {rss_mb(server.pid):.0f} MB")
            print(f"uvicorn stack: {stack()}")
            results = []
            for clients in levels:
                load(port, bodies, clients, args.warmup, 10**9)  # warm-up, not counted
                cpu0, own0 = cpu_seconds(server.pid), time.process_time()
                result = load(port, bodies, clients, args.seconds, args.requests)
                n = max(1, int(result["requests"]))
                result["server_cpu_ms_per_req"] = round(
                    (cpu_seconds(server.pid) - cpu0) / n * 1e3, 3
                )
                result["client_cpu_ms_per_req"] = round((time.process_time() - own0) / n * 1e3, 3)
                results.append(result)
                print(
                    f"{clients:>3} clients: {result['rps']:>8.1f} req/s"
                    f"  p50 {result['p50_ms']:.2f} ms"
                    f"  p99 {result['p99_ms']:.2f} ms  max {result['max_ms']:.1f} ms"
                    f"  ({result['requests']} requests, {result['errors']} errors,"
                    f" {result['seconds']} s)"
                )
                print(
                    f"{'':>13}server CPU {result['server_cpu_ms_per_req']:.3f} ms/request,"
                    f" load generator CPU {result['client_cpu_ms_per_req']:.3f} ms/request"
                )
            time.sleep(2.0)
            print(f"idle RSS after load: {rss_mb(server.pid):.0f} MB")
            try:
                load_avg = os.getloadavg()
                print(f"load average: {load_avg[0]:.1f} {load_avg[1]:.1f} {load_avg[2]:.1f}")
            except OSError:
                pass
        finally:
            server.terminate()
            server.wait(30)
        logged = sum(
            sum(1 for _ in p.open(encoding="utf-8"))
            for p in (repo / "logs" / DEPLOYMENT).glob("*.jsonl")
        )
        print(f"prediction records logged: {logged}")
        print(json.dumps(results))


if __name__ == "__main__":
    main()
