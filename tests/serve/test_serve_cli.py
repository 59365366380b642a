"""`serve` announces its address only once it holds it: on a port that is taken, a clear
one-line error and exit 1 (not uvicorn's exit 3), and no "Serving ..." line."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.support.cli import run_process, spawn
from tests.support.repos import EXAMPLE_REPO, copy_repo


@pytest.mark.slow
def test_serve_on_a_taken_port_exits_1(tmp_path: Path) -> None:
    repo = copy_repo(EXAMPLE_REPO, tmp_path / "repo")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_process("--repo", repo, "serve", "--port", str(port), expect=1)
    assert f"error: the server could not start on 127.0.0.1:{port}" in done.err
    assert "Traceback" not in done.err
    assert "Serving" not in done.out


@pytest.mark.slow
def test_serve_announces_the_address_it_bound(repo: Path) -> None:
    """With --port 0 the kernel picks the port: the announcement names the one bound, and
    the server answers there."""
    proc = spawn("--repo", repo, "serve", "--port", "0", stderr=subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        announced = proc.stdout.readline().rstrip("\n")
        prefix = f"Serving the local deployments of {repo} on http://127.0.0.1:"
        assert announced.startswith(prefix), announced
        port = int(announced.removeprefix(prefix))
        assert port != 0
        deadline = time.monotonic() + 30
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/healthz", trust_env=False)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert answer.json() == {"status": "ok"}
    finally:
        proc.terminate()
        proc.wait(30)
        if proc.stdout:
            proc.stdout.close()


@pytest.mark.slow
def test_ctrl_c_stops_serve_with_the_documented_exit_130(repo: Path) -> None:
    """Ctrl-C (SIGINT) ends a long-running command with exit 130 and a one-word note, no
    traceback. SIGINT is reset to its default in the child: a test runner started in the
    background would otherwise hand it down ignored."""
    proc = spawn(
        "--repo",
        repo,
        "serve",
        "--port",
        "0",
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stdout.readline().startswith("Serving")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 130
        said = proc.stderr.read()
        assert "interrupted" in said and "Traceback" not in said
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()
