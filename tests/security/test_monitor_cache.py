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
from pathlib import Path

import pytest

from tests.monitor.helpers import NOW, MonitorRepo, append, jsonl, record
from tests.support.cli import run_process
from tests.support.git import git

LOGS = "logs/clf-prod"


class Payload:
    """Unpickling this writes the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"echo pwned > {self.marker}",))


def attacked_clone(tmp_path: Path, marker: Path) -> Path:
    """A repository monitored once, then a commit that adds a poisoned window cache (with the
    recorded watermarks, so an old version would have trusted it); returns a fresh clone."""
    spec = MonitorRepo(tmp_path / "origin")
    spec.deployment("clf-prod", monitoring={"predictions": f"{LOGS}/", "window": {"records": 100}})
    spec.init_git()
    root = spec.root
    append(root / LOGS / "p.jsonl", jsonl(record(i) for i in range(20)))
    git(root, "add", "logs")
    git(root, "commit", "-q", "-m", "logs")
    done = run_process("--repo", root, "monitor", "--now", NOW)
    assert done.code == 0, done.seen
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


@pytest.mark.slow
def test_a_committed_window_pickle_never_runs_in_monitor(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    clone = attacked_clone(tmp_path, marker)
    done = run_process("--repo", clone, "monitor", "--now", NOW)
    assert done.code == 0, done.seen
    assert not marker.exists()
    assert "warning: ignored .mlops/cache/" in done.err
    report = json.loads((clone / "reports/clf-prod/latest.json").read_text())
    assert report["window"]["records"] == 21  # computed from the logs, not from the cache


@pytest.mark.slow
def test_a_committed_window_pickle_never_runs_in_reconcile(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    clone = attacked_clone(tmp_path, marker)
    done = run_process("--repo", clone, "reconcile", "--now", NOW)
    assert "monitor clf-prod: 1 new records" in done.out, done.seen
    assert not marker.exists()
    assert "warning: ignored .mlops/cache/" in done.err
    assert (
        json.loads((clone / "reports/clf-prod/latest.json").read_text())["window"]["records"] == 21
    )


def test_the_payload_is_real(tmp_path: Path) -> None:
    """The crafted file does run its code when unpickled: the tests above prove something."""
    marker = tmp_path / "marker"
    pickle.loads(pickle.dumps(Payload(marker)))
    assert marker.read_text().strip() == "pwned"
