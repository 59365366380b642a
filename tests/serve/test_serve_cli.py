"""`serve` on a port that is taken: a clear one-line error and exit 1, not uvicorn's exit 3."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from tests.conftest import EXAMPLE_REPO


def test_serve_on_a_taken_port_exits_1(tmp_path: Path) -> None:
    import shutil

    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLE_REPO, repo)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
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
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 1
    assert f"error: the server could not start on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr
