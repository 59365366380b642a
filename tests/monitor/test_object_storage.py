"""`monitor` with prediction logs, labels and reference data in S3 (moto's server on loopback,
plain s3:// URIs, the endpoint given as the AWS SDKs read it): the same report as from local
files, Hive date partitions pruned by the window, and a watermark per object."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import pytest

from mlops_gitops import api, cli
from mlops_gitops.monitor.run import MonitorOutcome
from tests.monitor.helpers import (
    NOW,
    MonitorRepo,
    append,
    flat_frame,
    jsonl,
    read_report,
    record,
    write_csv,
)
from tests.support.artifacts import onnx_bytes
from tests.support.repos import dump_yaml
from tests.support.s3 import S3Bucket

pytest.importorskip("s3fs", reason="s3fs is not installed (the dev extra)")

DAY = "date=2026-11-27"


def run(root: Path, now: str = NOW) -> MonitorOutcome:
    (outcome,) = api.monitor(root, now=now, deployment="clf-prod")
    return outcome


def state(root: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((root / ".mlops/state/monitor/clf-prod.json").read_text())
    return data


def numbers(report: dict[str, Any]) -> dict[str, Any]:
    """What a report says about the data, without where it came from."""
    return {
        "window": report["window"]["records"],
        "versions": report["versions"],
        "drift": report.get("drift"),
        "comparison": report.get("comparison"),
    }


def records(first: int, count: int, version: str = "1.0.0") -> list[dict[str, Any]]:
    return [record(i, version, score=0.25 + (i % 3) / 4) for i in range(first, first + count)]


def labels(rows: list[dict[str, Any]]) -> str:
    return jsonl({"request_id": r["request_id"], "label": r["prediction"]} for r in rows)


def repo_with(root: Path, monitoring: dict[str, Any], reference: str | None = None) -> MonitorRepo:
    repo = MonitorRepo(root)
    if reference is not None:  # version 1.0.0's reference data at a URI
        model = (root / "models/clf.yaml").read_text()
        model = model.replace("data/reference/clf-1.0.0.csv", reference, 1)
        (root / "models/clf.yaml").write_text(model)
    repo.deployment("clf-prod", canary=("1.1.0", 20), monitoring=monitoring)
    repo.init_git()
    return repo


def test_logs_labels_and_reference_in_s3_give_the_report_local_files_give(
    s3: S3Bucket, tmp_path: Path, env: dict[str, str]
) -> None:
    rows = records(0, 300) + records(300, 60, "1.1.0")
    parquet = io.BytesIO()
    flat_frame(records(400, 40)).to_parquet(parquet, index=False)
    local = repo_with(
        tmp_path / "local",
        {"predictions": "logs/", "labels": "labels/", "window": {"records": 1000}},
    )
    append(local.root / "logs" / DAY / "part-0.jsonl", jsonl(rows))
    append(local.root / "logs" / DAY / "part-1.parquet", parquet.getvalue())
    append(local.root / "labels/l.jsonl", labels(rows))
    reference = (local.root / "data/reference/clf-1.0.0.csv").read_bytes()
    s3.put(f"logs/{DAY}/part-0.jsonl", jsonl(rows).encode())
    s3.put(f"logs/{DAY}/part-1.parquet", parquet.getvalue())
    s3.put("labels/l.jsonl", labels(rows).encode())
    s3.put("reference/clf-1.0.0.csv", reference)
    remote = repo_with(
        tmp_path / "remote",
        {
            "predictions": f"{s3.uri}/logs/",
            "labels": f"{s3.uri}/labels/",
            "window": {"records": 1000},
        },
        reference=f"{s3.uri}/reference/clf-1.0.0.csv",
    )
    assert run(local.root).changed and run(remote.root).changed
    expected, got = read_report(local.root, "clf-prod"), read_report(remote.root, "clf-prod")
    assert got["window"]["records"] == 400
    assert got["versions"]["1.0.0"]["performance"]["labelled"] == 300
    assert got["drift"] != expected["drift"] or got["drift"]["features"], "drift measured"
    assert numbers(got) == numbers(expected)
    marks = {w["path"]: w for w in state(remote.root)["watermarks"]}
    assert set(marks) == {
        f"{s3.uri}/logs/{DAY}/part-0.jsonl",
        f"{s3.uri}/logs/{DAY}/part-1.parquet",
    }
    jsonl_mark = marks[f"{s3.uri}/logs/{DAY}/part-0.jsonl"]
    assert jsonl_mark["size"] == len(jsonl(rows).encode()) and jsonl_mark["tag"]


def test_appended_rewritten_and_new_objects_are_each_handled(
    s3: S3Bucket, tmp_path: Path, env: dict[str, str]
) -> None:
    key = f"logs/{DAY}/part-0.jsonl"
    s3.put(key, jsonl(records(0, 100)).encode())
    repo = repo_with(
        tmp_path / "repo", {"predictions": f"{s3.uri}/logs/", "window": {"records": 5000}}
    )
    assert run(repo.root).new_records == 100
    assert run(repo.root).reason == "no new records"  # same ETag and size: nothing fetched

    s3.put(key, jsonl(records(0, 130)).encode())  # the same object, grown
    grown = run(repo.root)
    assert grown.new_records == 30
    assert (
        f"{s3.uri}/{key}: appended; continuing at its offset"
        in read_report(repo.root, "clf-prod")["data_quality"]["events"]
    )

    s3.put(key, jsonl(records(1000, 50)).encode())  # other content under the same key
    rewritten = run(repo.root)
    assert rewritten.new_records == 50
    report = read_report(repo.root, "clf-prod")
    assert (
        f"{s3.uri}/{key}: rewritten (new content); reading from the start"
        in (report["data_quality"]["events"])
    )
    assert report["window"]["records"] == 50

    s3.put(f"logs/{DAY}/part-1.jsonl", jsonl(records(200, 20)).encode())
    added = run(repo.root)
    assert added.new_records == 20
    assert read_report(repo.root, "clf-prod")["window"]["records"] == 70
    tags = {w["path"]: w["tag"] for w in state(repo.root)["watermarks"]}
    assert len(tags) == 2 and all(tags.values())

    csv_file = tmp_path / "part-2.csv"  # CSV is read line by line, each of bounded length
    write_csv(csv_file, records(300, 10), ["x", "colour"])
    s3.put(f"logs/{DAY}/part-2.csv", csv_file.read_bytes())
    assert run(repo.root).new_records == 10


def test_date_partitions_outside_a_duration_window_are_never_opened(
    s3: S3Bucket, tmp_path: Path, env: dict[str, str]
) -> None:
    s3.put(f"logs/{DAY}/part-0.jsonl", jsonl(records(0, 100)).encode())
    # Days the window does not reach: not Parquet at all, so opening one would be reported.
    s3.put("logs/date=2026-10-01/part-0.parquet", b"not parquet")
    s3.put("logs/date=2026-12-25/part-0.parquet", b"not parquet")
    repo = repo_with(
        tmp_path / "repo", {"predictions": f"{s3.uri}/logs/", "window": {"duration": "2d"}}
    )
    outcome = run(repo.root)
    report = read_report(repo.root, "clf-prod")
    assert outcome.new_records == 100 and report["window"]["records"] == 100
    assert report["data_quality"]["events"] == []
    assert [w["path"] for w in state(repo.root)["watermarks"]] == [
        f"{s3.uri}/logs/{DAY}/part-0.jsonl"
    ]
    # A records window cannot be pruned by date: the broken objects are reported, not fatal.
    repo.deployment("clf-prod", canary=("1.1.0", 20), monitoring={"predictions": f"{s3.uri}/logs/"})
    run(repo.root)
    events = read_report(repo.root, "clf-prod")["data_quality"]["events"]
    assert sum("unreadable" in e for e in events) == 2


def cloud_event(kind: str, event_id: str, data: Any, time: str, endpoint: str) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event_id,
        "type": f"org.kubeflow.serving.inference.{kind}",
        "source": "http://localhost:9081/",
        "time": time,
        "inferenceservicename": "clf-prod",
        "endpoint": endpoint,
        "annotations": {
            "mlops-gitops/stable-version": "1.0.0",
            "mlops-gitops/canary-version": "1.1.0",
        },
        "data_base64": base64.b64encode(json.dumps(data).encode()).decode(),
    }


def kserve_repo(root: Path, s3: S3Bucket) -> MonitorRepo:
    repo = MonitorRepo(root)
    project = {
        "apiVersion": "mlops-gitops/v1",
        "kind": "Project",
        "metadata": {"name": "monitor-test"},
        "spec": {
            "git": {"author": "mlops-gitops <mlops-gitops@localhost>"},
            "targets": {"kserve": {"version": "0.21"}},
        },
    }
    (root / "mlops.yaml").write_text(dump_yaml(project))
    versions = []
    for version in ("1.0.0", "1.1.0"):
        (root / f"artifacts/clf/{version}.onnx").write_bytes(onnx_bytes(f"clf@{version}"))
        versions.append(
            {
                "version": version,
                "artifact": f"artifacts/clf/{version}.onnx",
                "format": "onnx",
                "reference_data": f"data/reference/clf-{version}.csv",
            }
        )
    repo.write_model("clf", versions)
    repo.deployment(
        "clf-prod",
        canary=("1.1.0", 20),
        target="kserve",
        monitoring={
            "predictions": f"{s3.uri}/events/",
            "window": {"records": 1000},
            "logger_url": "http://message-dumper.default.svc.cluster.local",
        },
    )
    repo.init_git()
    return repo


def test_payload_logger_events_in_s3_are_monitored_per_version(
    s3: S3Bucket, tmp_path: Path, env: dict[str, str]
) -> None:
    lines = []
    for i in range(40):
        endpoint = "canary" if i % 4 == 0 else "default"
        body = {"instances": [{"x": 10.0 + i % 5, "colour": "red"}]}
        lines.append(cloud_event("request", f"e{i}", body, f"2026-11-27T10:{i:02d}:00Z", endpoint))
        answer = {"predictions": [i % 2]}
        lines.append(
            cloud_event("response", f"e{i}", answer, f"2026-11-27T10:{i:02d}:01Z", endpoint)
        )
    lines.append(
        cloud_event("request", "late", {"instances": [[1]]}, "2026-11-27T11:00:00Z", "default")
    )
    s3.put(f"events/{DAY}/events.jsonl", jsonl(lines).encode())
    repo = kserve_repo(tmp_path / "repo", s3)
    outcome = run(repo.root)
    assert outcome.new_records == 40
    report = read_report(repo.root, "clf-prod")
    versions = report["versions"]
    assert (versions["1.0.0"]["records"], versions["1.1.0"]["records"]) == (30, 10)
    assert versions["1.0.0"]["latency_ms"]["p50"] == pytest.approx(1000.0)
    quality = report["data_quality"]
    assert quality["malformed_records"] == 1
    assert "late: a request whose response is not in this file" in json.dumps(
        quality["malformed_examples"]
    )


def test_logs_over_https_are_a_clear_error_not_a_fetch(
    tmp_path: Path, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    repo = repo_with(tmp_path / "repo", {"predictions": "https://logs.example.com/clf-prod/"})
    code = cli.main(["--no-color", "--repo", str(repo.root), "monitor", "--now", NOW])
    out = capsys.readouterr()
    assert code != 0
    assert "not over http(s)" in out.out + out.err
    assert "Traceback" not in out.out + out.err
