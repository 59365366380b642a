"""A cache committed to the repository never runs code and never changes a report (issue 9.2).

Older versions kept the monitoring window in `.mlops/cache/monitor/<deployment>.pkl` and
unpickled it on the next run. A pull request that commits such a file, with the watermarks of
the recorded state beside it, would have run its payload on the CI runner of `monitor` and
`reconcile` on main. Built here as an attacker would: a real pickle whose payload writes a
marker file, committed and pushed, then a fresh clone runs both commands as real processes.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from tests.monitor.helpers import NOW, MonitorRepo, append, git, git_env, jsonl, record

LOGS = "logs/clf-prod"


class Payload:
    """Unpickling this writes the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"echo pwned > {self.marker}",))


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    isolated = git_env(tmp_path / "home")
    for key in list(os.environ):
        if key.startswith(("GIT_", "MLOPS_GITOPS_")):
            monkeypatch.delenv(key)
    for key, value in isolated.items():
        monkeypatch.setenv(key, value)
    return isolated


def cli(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlops_gitops", "--no-color", *argv],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def attacked_clone(tmp_path: Path, env: dict[str, str], marker: Path) -> Path:
    """A repository monitored once, then a commit that adds a poisoned window cache (with the
    recorded watermarks, so an old version would have trusted it); returns a fresh clone."""
    spec = MonitorRepo(tmp_path / "origin")
    spec.deployment("clf-prod", monitoring={"predictions": f"{LOGS}/", "window": {"records": 100}})
    spec.init_git()
    root = spec.root
    append(root / LOGS / "p.jsonl", jsonl(record(i) for i in range(20)))
    git(root, "add", "logs")
    git(root, "commit", "-q", "-m", "logs")
    done = cli(env, "--repo", str(root), "monitor", "--now", NOW)
    assert done.returncode == 0, done.stdout + done.stderr
    state = json.loads((root / ".mlops/state/monitor/clf-prod.json").read_text())
    cache = root / ".mlops/cache/monitor"
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "clf-prod.pkl").write_bytes(pickle.dumps(Payload(marker)))
    (cache / "clf-prod.json").write_text(json.dumps({"watermarks": state["watermarks"]}))
    git(root, "add", "-f", ".mlops/cache/monitor")
    git(root, "commit", "-q", "-m", "A harmless-looking cache")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(root), str(clone))
    assert (clone / ".mlops/cache/monitor/clf-prod.pkl").is_file()
    append(clone / LOGS / "p.jsonl", jsonl([record(20)]))  # something new: the window is used
    return clone


def test_a_committed_window_pickle_never_runs_in_monitor(
    tmp_path: Path, env: dict[str, str]
) -> None:
    marker = tmp_path / "marker"
    clone = attacked_clone(tmp_path, env, marker)
    done = cli(env, "--repo", str(clone), "monitor", "--now", NOW)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not marker.exists()
    assert "warning: ignored .mlops/cache/" in done.stderr
    report = json.loads((clone / "reports/clf-prod/latest.json").read_text())
    assert report["window"]["records"] == 21  # computed from the logs, not from the cache


def test_a_committed_window_pickle_never_runs_in_reconcile(
    tmp_path: Path, env: dict[str, str]
) -> None:
    marker = tmp_path / "marker"
    clone = attacked_clone(tmp_path, env, marker)
    done = cli(env, "--repo", str(clone), "reconcile", "--now", NOW)
    assert "monitor clf-prod: 1 new records" in done.stdout, done.stdout + done.stderr
    assert not marker.exists()
    assert "warning: ignored .mlops/cache/" in done.stderr
    assert (
        json.loads((clone / "reports/clf-prod/latest.json").read_text())["window"]["records"] == 21
    )


def test_the_payload_is_real(tmp_path: Path) -> None:
    """The crafted file does run its code when unpickled: the tests above prove something."""
    marker = tmp_path / "marker"
    pickle.loads(pickle.dumps(Payload(marker)))
    assert marker.read_text().strip() == "pwned"
