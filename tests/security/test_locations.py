"""Issue 9.6: specs cannot make the tool read the runner's files or reach internal ports.

Artifact, training data, reference data, prediction log and label locations accept s3, gs,
gcs, az, abfs and https; http and file only with the Project's opt-ins; repository paths only
inside the repository; and a file must hold what its declared format says.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlops_gitops.monitor.readers import list_log_files
from mlops_gitops.providers.scan import scan
from tests.security.crafted import evil_pickle
from tests.support.artifacts import onnx_bytes, safetensors_bytes
from tests.support.cli import run_in
from tests.support.git import init_git
from tests.support.repos import SpecRepo
from tests.support.values import NOW

SHA256 = re.compile(r"\b[0-9a-f]{64}\b")


def model_repo(root: Path, version: dict[str, Any], **security: bool) -> SpecRepo:
    repo = SpecRepo(root)
    spec: dict[str, Any] = {"security": security} if security else {}
    repo.write_project(**spec)
    repo.write_model("leak", [{"version": "1.0.0", "format": "onnx"} | version])
    return repo


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A real listening socket on loopback: it must never see a connection."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    yield server
    server.close()


def assert_never_connected(server: socket.socket) -> None:
    server.setblocking(False)
    with pytest.raises(BlockingIOError):
        server.accept()


def test_proc_self_environ_is_refused_at_validate_and_never_hashed(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    model_repo(root, {"artifact": "file:///proc/self/environ"})
    init_git(root)
    validated = run_in(root, "validate")
    assert validated.code == 1
    assert re.search(
        r"models/leak\.yaml:\d+:\d+: Model/leak: spec\.versions\[0\]\.artifact: "
        r"'file:///proc/self/environ': file URIs read outside the repository",
        validated.seen,
    ), validated.seen
    planned = run_in(root, "plan", "--format", "json", "--now", NOW)
    assert planned.code == 1
    assert "file URIs read outside the repository" in planned.seen
    assert not SHA256.search(planned.seen) and "size" not in planned.out
    assert run_in(root, "apply", "--now", NOW).code == 1
    assert not (root / ".mlops/state").exists() and not (root / ".mlops/artifacts").exists()


def test_with_the_opt_in_a_local_file_is_still_checked_before_it_is_hashed(tmp_path: Path) -> None:
    """allow_local_uris lets the tool read it, but /proc/self/environ is no ONNX model: the
    step is blocked and its hash and size are never computed."""
    root = tmp_path / "repo"
    model_repo(root, {"artifact": "file:///proc/self/environ"}, allow_local_uris=True)
    init_git(root)
    assert run_in(root, "validate").code == 0
    planned = run_in(root, "plan", "--format", "json", "--now", NOW)
    (step,) = json.loads(planned.out)["steps"]
    assert step["status"] == "blocked"
    [blocked_by] = step["blocked_by"]
    assert blocked_by.startswith(
        "artifact file:///proc/self/environ is refused: declared onnx, but the file is text"
    )
    assert step["after"]["sha256"] is None and step["after"]["size"] is None
    assert not SHA256.search(json.dumps(step))


@pytest.mark.parametrize("scheme", ["ftp", "https", "http", "gopher"])
def test_internal_ports_are_never_contacted(
    tmp_path: Path, listener: socket.socket, scheme: str
) -> None:
    """ftp (any host) is refused by scheme; https to a loopback address needs the opt-in."""
    port = listener.getsockname()[1]
    root = tmp_path / "repo"
    model_repo(root, {"artifact": f"{scheme}://127.0.0.1:{port}/x"}, allow_insecure_http=True)
    init_git(root)
    validated = run_in(root, "validate", "--format", "json")
    assert validated.code == 1
    [problem] = json.loads(validated.out)["errors"]
    assert (problem["path"], problem["field"]) == ("models/leak.yaml", "spec.versions[0].artifact")
    assert problem["line"] is not None
    assert run_in(root, "plan", "--now", NOW).code == 1
    assert_never_connected(listener)


@pytest.mark.parametrize(
    ("location", "message"),
    [
        ("data:application/octet-stream;base64,AAAA", "the scheme data: is not accepted"),
        ("ftp://files.example.com/m.onnx", "the scheme ftp: is not accepted"),
        ("sftp://files.example.com/m.onnx", "the scheme sftp: is not accepted"),
        ("memory://m.onnx", "the scheme memory: is not accepted"),
        ("s3://bucket/m.onnx::file:///etc/passwd", "chained URLs"),
        ("simplecache::s3://bucket/m.onnx", "chained URLs"),
        ("http://example.com/m.onnx", "plain http is not accepted"),
        ("HTTP://example.com/m.onnx", "plain http is not accepted"),
        ("file:///etc/passwd", "file URIs read outside the repository"),
        ("https://169.254.169.254/latest/meta-data/", "link-local and metadata addresses"),
        ("https://[fd00:ec2::254]/latest/", "link-local and metadata addresses"),
        ("https://10.1.2.3/m.onnx", "names a loopback or private address"),
        ("https://localhost/m.onnx", "names a loopback or private address"),
        ("https://[::1/m.onnx", "is not a valid URL"),
        ("s3:bucket/m.onnx", "write s3 URIs as s3://host/path"),
    ],
)
def test_locations_outside_the_allowlist_are_validate_errors(
    tmp_path: Path, location: str, message: str
) -> None:
    """Each location field is checked, each error names its file, line and field."""
    root = tmp_path / "repo"
    repo = model_repo(
        root,
        {
            "artifact": location,
            "training_data": {"uri": location},
            "reference_data": location,
        },
    )
    repo.write_deployment(
        "leak-prod",
        {
            "model": "leak",
            "stage": "production",
            "version": "1.0.0",
            "monitoring": {"predictions": location, "labels": location},
        },
    )
    validated = run_in(root, "validate", "--format", "json")
    assert validated.code == 1
    problems = json.loads(validated.out)["errors"]
    assert {(p["path"], p["field"]) for p in problems} == {
        ("models/leak.yaml", "spec.versions[0].artifact"),
        ("models/leak.yaml", "spec.versions[0].training_data.uri"),
        ("models/leak.yaml", "spec.versions[0].reference_data"),
        ("deployments/leak-prod.yaml", "spec.monitoring.predictions"),
        ("deployments/leak-prod.yaml", "spec.monitoring.labels"),
    }
    assert all(message in p["message"] and p["line"] for p in problems), problems


@pytest.mark.parametrize(
    ("location", "security"),
    [
        ("s3://bucket/models/m.onnx", {}),
        ("gs://bucket/m.onnx", {}),
        ("gcs://bucket/m.onnx", {}),
        ("az://container/m.onnx", {}),
        ("abfs://container/m.onnx", {}),
        ("https://models.example.com/m.onnx", {}),
        ("http://models.example.com/m.onnx", {"allow_insecure_http": True}),
        ("https://10.1.2.3/m.onnx", {"allow_local_uris": True}),
        ("file:///srv/models/m.onnx", {"allow_local_uris": True}),
    ],
)
def test_allowed_locations_validate(
    tmp_path: Path, location: str, security: dict[str, bool]
) -> None:
    root = tmp_path / "repo"
    model_repo(root, {"artifact": location}, **security)
    assert run_in(root, "validate").code == 0


def test_the_metadata_address_stays_refused_with_every_opt_in(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    everything = {"allow_local_uris": True, "allow_insecure_http": True}
    model_repo(root, {"artifact": "http://169.254.169.254/latest/meta-data/"}, **everything)
    assert "link-local and metadata addresses" in run_in(root, "validate").seen


def test_http_training_sources_follow_the_same_rules(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    repo = model_repo(root, {"artifact": "artifacts/m.onnx"})
    repo.write(
        "pipelines/train.yaml",
        {
            "apiVersion": "mlops-gitops/v1",
            "kind": "TrainingPipeline",
            "metadata": {"name": "train"},
            "spec": {
                "model": "leak",
                "data_sources": [
                    {"type": "http", "url": "ftp://127.0.0.1/rows.json"},
                    {"type": "http", "url": "s3://bucket/rows.json"},
                    {"type": "file", "path": "file:///etc/passwd"},
                ],
                "features": {"target": "y"},
                "trainer": {"entrypoint": "trainers.x:train"},
            },
        },
    )
    problems = json.loads(run_in(root, "validate", "--format", "json").out)["errors"]
    assert [(p["field"], p["message"]) for p in problems] == [
        ("spec.data_sources[0].url", "the URL must start with http:// or https:// (it has ftp://)"),
        ("spec.data_sources[1].url", "the URL must start with http:// or https:// (it has s3://)"),
    ]
    # With the URLs mended, the file source's location is checked too.
    text = (root / "pipelines/train.yaml").read_text()
    text = text.replace("ftp://127.0.0.1/rows.json", "https://data.example.com/rows.json")
    (root / "pipelines/train.yaml").write_text(
        text.replace("s3://bucket/rows.json", "https://data.example.com/r.json")
    )
    problems = json.loads(run_in(root, "validate", "--format", "json").out)["errors"]
    assert [(p["field"], p["message"].split(": ", 1)[1][:30]) for p in problems] == [
        ("spec.data_sources[2].path", "file URIs read outside the rep"),
    ]


@pytest.mark.parametrize("field", ["artifact", "reference_data", "predictions"])
def test_symlinks_leaving_the_repository_are_validate_errors(tmp_path: Path, field: str) -> None:
    outside = tmp_path / "outside"
    (outside / "logs").mkdir(parents=True)
    (outside / "secret.csv").write_text("a,b\n1,2\n")
    root = tmp_path / "repo"
    repo = model_repo(root, {"artifact": "artifacts/m.onnx"})
    repo.artifact("artifacts/m.onnx", onnx_bytes("m"))
    (root / "data").mkdir()
    (root / "data/reference.csv").symlink_to(outside / "secret.csv")
    (root / "logs").symlink_to(outside / "logs")
    if field == "artifact":
        (root / "artifacts/m.onnx").unlink()
        (root / "artifacts/m.onnx").symlink_to(outside / "secret.csv")
    else:
        version = {"artifact": "artifacts/m.onnx", "reference_data": "data/reference.csv"}
        model_repo(root, version if field == "reference_data" else {"artifact": "artifacts/m.onnx"})
    if field == "predictions":
        repo.write_deployment(
            "leak-prod",
            {
                "model": "leak",
                "stage": "production",
                "version": "1.0.0",
                "monitoring": {"predictions": "logs/**/*.jsonl"},
            },
        )
    validated = run_in(root, "validate", "--format", "json")
    assert validated.code == 1
    [problem] = json.loads(validated.out)["errors"]
    assert "leads outside the repository through a symlink" in problem["message"]
    assert problem["field"].endswith(field)


def test_log_files_symlinked_outside_are_not_read(tmp_path: Path) -> None:
    """Checked again when reading: a log folder inside may hold a link to a file outside."""
    outside = tmp_path / "outside.jsonl"
    outside.write_text('{"secret": 1}\n')
    root = tmp_path / "repo"
    (root / "logs").mkdir(parents=True)
    (root / "logs/a.jsonl").write_text('{"x": 1}\n')
    (root / "logs/b.jsonl").symlink_to(outside)
    assert list_log_files("logs/", root) == [root / "logs/a.jsonl"]
    assert list_log_files("logs/*.jsonl", root) == [root / "logs/a.jsonl"]


def test_a_pickle_renamed_onnx_is_blocked_and_never_registered(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    root = tmp_path / "repo"
    repo = model_repo(root, {"artifact": "artifacts/m.onnx"})
    repo.artifact("artifacts/m.onnx", evil_pickle(marker))
    repo.write_deployment("leak-prod", {"model": "leak", "stage": "production", "version": "1.0.0"})
    init_git(root)
    planned = run_in(root, "plan", "--format", "json", "--now", NOW)
    steps = {s["id"]: s for s in json.loads(planned.out)["steps"]}
    register = steps["register:Model/leak@1.0.0"]
    assert register["status"] == "blocked"
    assert register["blocked_by"] == [
        "artifact artifacts/m.onnx is refused: declared onnx, but the file is a pickle stream"
        " (expected an ONNX protobuf ModelProto)"
    ]
    assert register["after"]["sha256"] is None
    assert steps["deploy:Deployment/leak-prod@1.0.0:stable"]["status"] == "blocked"
    assert run_in(root, "apply", "--now", NOW).code == 3
    assert not (root / ".mlops/state/models/leak.json").exists()
    assert not list((root / ".mlops").rglob("sha256/*/*"))
    assert not marker.exists()


def test_a_fifo_artifact_does_not_hang_the_plan(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    model_repo(root, {"artifact": "artifacts/m.onnx"})
    (root / "artifacts").mkdir()
    os.mkfifo(root / "artifacts/m.onnx")
    planned = json.loads(run_in(root, "plan", "--format", "json", "--now", NOW).out)
    assert planned["steps"][0]["blocked_by"] == ["artifact artifacts/m.onnx not found"]


def _zip(members: dict[str, bytes]) -> bytes:
    import io
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


@pytest.mark.parametrize(
    ("fmt", "data", "wanted"),
    [
        ("onnx", onnx_bytes("graph"), "not-needed"),
        ("onnx", b"\x08\x08" + hashlib.sha512(b"not a model").digest(), "error"),
        ("onnx", b"\x08\x08\x42\x02\x10\x11", "error"),  # no graph
        ("onnx", safetensors_bytes(b"x"), "error"),
        ("safetensors", safetensors_bytes(b"\x00" * 8), "not-needed"),
        ("safetensors", safetensors_bytes(b"\x00" * 8)[:-4], "error"),  # tensor past the end
        ("safetensors", b"\xff" * 8 + b"{}", "error"),  # header longer than the file
        ("safetensors", onnx_bytes("graph"), "error"),
        ("skops", _zip({"data.pkl": b"\x80\x04N."}), "error"),  # a zip without schema.json
        ("skops", b"\x80\x04N.", "unsafe"),
        ("joblib", b"# just text\n", "error"),
        ("joblib", b"\x80\x04N.", "clean"),
        ("pytorch", _zip({"archive/data.pkl": b"\x80\x02N."}), "clean"),
        ("pytorch", onnx_bytes("graph"), "error"),
    ],
)
def test_the_declared_format_is_checked_against_the_content(
    tmp_path: Path, fmt: str, data: bytes, wanted: str
) -> None:
    path = tmp_path / "artifact"
    path.write_bytes(data)
    verdict = scan(path, fmt)
    assert verdict.verdict == wanted, verdict.findings
