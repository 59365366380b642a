"""Prediction logs: buffered, flushed on a timer and at close, safe under concurrent
appends, rotated by size without losing a file; `monitor` reads rotated logs back."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from mlops_gitops.serve.app import Server
from mlops_gitops.serve.logs import PredictionLog
from tests.serve.helpers import instances
from tests.support.cli import run_cli


def lines(folder: Path) -> list[str]:
    return [
        line for path in sorted(folder.glob("*.jsonl")) for line in path.read_text().splitlines()
    ]


def test_concurrent_appends_with_rotation_keep_every_record_once(tmp_path: Path) -> None:
    """8 threads append while the timer flushes and the file rotates every ~4 KB, several
    times a second: every record is on exactly one whole line of one file (a rotation in
    the same second as the last must not overwrite it)."""
    log = PredictionLog(tmp_path / "logs", flush_seconds=0.01, rotate_bytes=4096)
    pad = "x" * 40

    def writer(worker: int) -> None:
        for n in range(400):
            log.append({"request_id": f"{worker}-{n}", "pad": pad})
            if n % 50 == 0:
                time.sleep(0.005)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log.close()
    ids = [json.loads(line)["request_id"] for line in lines(tmp_path / "logs")]
    assert sorted(ids) == sorted(f"{w}-{n}" for w in range(8) for n in range(400))
    assert len(list((tmp_path / "logs").glob("predictions-*.jsonl"))) >= 3, "rotated"


def test_timer_flushes_without_close_and_close_flushes_the_rest(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path, flush_seconds=0.05)
    log.append({"request_id": "a"})
    deadline = time.monotonic() + 10
    while not (tmp_path / "predictions.jsonl").exists():
        assert time.monotonic() < deadline, "the timer never flushed"
        time.sleep(0.01)
    slow = PredictionLog(tmp_path / "slow", flush_seconds=3600)
    slow.append({"request_id": "b"})
    assert not (tmp_path / "slow").exists()
    slow.close()
    log.close()
    assert [json.loads(x)["request_id"] for x in lines(tmp_path / "slow")] == ["b"]


def test_monitor_reads_rotated_server_logs(repo: Path) -> None:
    """The server's records across rotated files are all read back by `monitor`."""
    server = Server(repo)
    try:
        log = server.registry.deployments["cancer-prod"].log
        assert log is not None
        log.rotate_bytes = 3000
        for n in range(120):
            server.predict("cancer-prod", {"instances": instances(1, offset=n)}, f"rot-{n}")
            if n % 10 == 9:
                log.flush()
    finally:
        server.close()
    folder = repo / "logs" / "cancer-prod"
    assert len(list(folder.glob("predictions-*.jsonl"))) >= 3
    assert len(lines(folder)) == 120
    result = run_cli(
        "--repo",
        repo,
        "monitor",
        "--no-commit",
        "--deployment",
        "cancer-prod",
        "--format",
        "json",
        expect=0,
    ).json()
    assert result["deployments"][0]["new_records"] == 120
    report = json.loads((repo / "reports/cancer-prod/latest.json").read_text())
    assert sum(v["records"] for v in report["versions"].values()) == 120


def test_logged_values_are_bounded_and_readable_by_monitor() -> None:
    """Long strings are cut, nested values become (cut) JSON text, integers no float column
    holds become floats, non-finite numbers become null, features past the cap are left
    out; each cut is reported."""
    from mlops_gitops.serve.logs import MAX_FEATURES, MAX_STRING, bounded, line

    features, cut = bounded({"a": 1.5, "b": "x", "c": True, "d": None, "e": 2**70})
    assert not cut and features == {"a": 1.5, "b": "x", "c": True, "d": None, "e": float(2**70)}
    features, cut = bounded(
        {"s": "y" * 10**6, "n": float("nan"), "nested": {"k": ["v"] * 10**5}, "i": float("inf")}
    )
    assert cut and features["s"] == "y" * MAX_STRING and features["n"] is None
    assert features["nested"].startswith('{"k": ["v"') and len(features["nested"]) == MAX_STRING
    assert features["i"] is None
    json.loads(line({"features": features}))  # strict JSON: no NaN token
    features, cut = bounded({f"x{i}": i for i in range(5000)})
    assert cut and len(features) == MAX_FEATURES


def test_a_full_buffer_drops_records_and_says_so(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path, flush_seconds=3600, buffer_bytes=100)
    assert log.append({"request_id": "a"})
    assert not log.append_lines(["x" * 200 + "\n"])
    log.close()
    assert [json.loads(x)["request_id"] for x in lines(tmp_path)] == ["a"]
