"""Artifacts that could run code when loaded are blocked before anything registers them.

Malicious samples are built at test time: a pickle whose `__reduce__` calls `os.system`, the
same payload in every joblib compression and in a PyTorch-style zip; the command it would run
touches a marker file, so the tests also prove nothing ever loads them.
"""

from __future__ import annotations

import io
import json
import math
import os
import pickle
import shutil
import zipfile
from pathlib import Path

import joblib
import pytest
import skops.io as sio
from sklearn.preprocessing import FunctionTransformer

from mlops_gitops.providers.scan import scan
from tests.engine.conftest import RunCli
from tests.engine.helpers import (
    EXAMPLE_REPO,
    NOW,
    SpecRepo,
    init_git,
    onnx_bytes,
    safetensors_bytes,
)

CLEAN_SKOPS = EXAMPLE_REPO / "artifacts/cancer-detector/1.0.0/model.skops"


class Payload:
    """Unpickling this runs a shell command."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def evil_pickle(path: Path, marker: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(Payload(marker)))
    return path


def evil_joblib(path: Path, marker: Path, compress: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(Payload(marker), path, compress=compress)
    return path


def untrusted_skops(path: Path) -> Path:
    """A scikit-learn object that refers to a function outside sklearn, numpy and scipy."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sio.dump(FunctionTransformer(func=math.sqrt), path)
    return path


# ---------------------------------------------------------------- the scanner


def test_malicious_pickle_is_unsafe(tmp_path: Path) -> None:
    verdict = scan(evil_pickle(tmp_path / "m.pkl", tmp_path / "pwned"), "pickle")
    assert verdict.scanner == "picklescan"
    assert verdict.verdict == "unsafe"
    assert verdict.findings == ("dangerous global posix.system",)
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize(
    "compress",
    [0, 3, ("zlib", 3), ("gzip", 3), ("bz2", 3), ("lzma", 3), ("xz", 3)],
    ids=["none", "default", "zlib", "gzip", "bz2", "lzma", "xz"],
)
def test_malicious_joblib_is_unsafe_in_every_compression(tmp_path: Path, compress: object) -> None:
    path = evil_joblib(tmp_path / "m.joblib", tmp_path / "pwned", compress)
    verdict = scan(path, "joblib")
    assert verdict.verdict == "unsafe"
    assert "dangerous global posix.system" in verdict.findings


def test_malicious_pickle_inside_a_pytorch_zip_is_unsafe(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps(Payload(tmp_path / "pwned")))
        archive.writestr("archive/version", "3\n")
    path.write_bytes(buffer.getvalue())
    verdict = scan(path, "pytorch")
    assert verdict.verdict == "unsafe"


@pytest.mark.parametrize(
    ("data", "finding"),
    [
        (pickle.dumps({"weights": [1, 2, 3]})[:-4], "cannot parse"),
        (b"\x00\x01not a pickle at all", "cannot parse"),
        (b"", "cannot parse"),
    ],
    ids=["truncated", "garbage", "empty"],
)
def test_pickle_the_scanner_cannot_read_is_an_error(
    tmp_path: Path, data: bytes, finding: str
) -> None:
    path = tmp_path / "m.pkl"
    path.write_bytes(data)
    verdict = scan(path, "pickle")
    assert verdict.verdict == "error"
    assert finding in " ".join(verdict.findings)


def test_harmless_pickle_is_clean(tmp_path: Path) -> None:
    path = tmp_path / "m.pkl"
    path.write_bytes(pickle.dumps({"weights": [1.0, 2.0], "name": "x"}))
    assert scan(path, "pickle").verdict == "clean"


def test_clean_skops_file_is_clean() -> None:
    verdict = scan(CLEAN_SKOPS, "skops")
    assert (verdict.scanner, verdict.verdict, verdict.findings) == ("skops", "clean", ())


def test_skops_with_an_untrusted_type_is_unsafe_unless_trusted(tmp_path: Path) -> None:
    path = untrusted_skops(tmp_path / "m.skops")
    verdict = scan(path, "skops")
    assert verdict.verdict == "unsafe"
    assert verdict.findings[0] == "untrusted type math.sqrt"
    assert "trusted_types" in verdict.findings[1]
    assert scan(path, "skops", ["math.sqrt"]).verdict == "clean"


def test_skops_file_that_is_not_one_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "m.skops"
    path.write_bytes(b"PK but not really a zip")
    assert scan(path, "skops").verdict == "error"


@pytest.mark.parametrize(
    ("fmt", "data"),
    [("onnx", onnx_bytes("graph")), ("safetensors", safetensors_bytes(b"\x00" * 16))],
)
def test_formats_without_code_need_no_scan(tmp_path: Path, fmt: str, data: bytes) -> None:
    path = tmp_path / "m.bin"
    path.write_bytes(data)
    assert scan(path, fmt).verdict == "not-needed"


@pytest.mark.parametrize("fmt", ["onnx", "safetensors", "skops"])
def test_a_pickle_declared_as_another_format_is_unsafe(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / "m.bin"
    path.write_bytes(pickle.dumps(Payload(tmp_path / "pwned")))  # never read as a pickle
    verdict = scan(path, fmt)
    assert verdict.verdict == "unsafe"
    assert verdict.findings[0].startswith(f"declared {fmt}, but the file is a pickle stream")
    assert not (tmp_path / "pwned").exists()


# ---------------------------------------------------------------- plan and apply


@pytest.fixture
def scanned_repo(tmp_path: Path, env: dict[str, str]) -> Path:
    root = tmp_path / "repo"
    marker = tmp_path / "pwned"
    repo = SpecRepo(root)
    repo.write_project()
    evil_pickle(root / "artifacts/evil/model.pkl", marker)
    evil_joblib(root / "artifacts/evil/model.joblib", marker, 3)
    untrusted_skops(root / "artifacts/custom/model.skops")
    (root / "artifacts/good").mkdir(parents=True)
    shutil.copy(CLEAN_SKOPS, root / "artifacts/good/model.skops")
    repo.write_model(
        "evil",
        [
            {"version": "1.0.0", "artifact": "artifacts/evil/model.pkl", "format": "pickle"},
            {"version": "1.1.0", "artifact": "artifacts/evil/model.joblib", "format": "joblib"},
        ],
    )
    repo.write_model(
        "custom",
        [
            {"version": "1.0.0", "artifact": "artifacts/custom/model.skops", "format": "skops"},
            {
                "version": "1.1.0",
                "artifact": "artifacts/custom/model.skops",
                "format": "skops",
                "trusted_types": ["math.sqrt"],
            },
        ],
    )
    repo.write_model(
        "good", [{"version": "1.0.0", "artifact": "artifacts/good/model.skops", "format": "skops"}]
    )
    repo.write_deployment("evil-prod", {"model": "evil", "stage": "production", "version": "1.1.0"})
    init_git(root, env)
    return root


def test_unsafe_artifacts_are_blocked_in_the_plan_and_never_registered(
    scanned_repo: Path, run: RunCli, tmp_path: Path
) -> None:
    planned = run(scanned_repo, "plan", "--format", "json", "--now", NOW)
    assert planned.code == 0, planned.seen
    steps = {s["id"]: s for s in json.loads(planned.out)["steps"]}
    assert {k: v["status"] for k, v in steps.items()} == {
        "register:Model/custom@1.0.0": "blocked",
        "register:Model/custom@1.1.0": "ready",
        "register:Model/evil@1.0.0": "blocked",
        "register:Model/evil@1.1.0": "blocked",
        "register:Model/good@1.0.0": "ready",
        "deploy:Deployment/evil-prod@1.1.0:stable": "blocked",
    }
    assert steps["register:Model/evil@1.0.0"]["blocked_by"] == [
        "security scan (picklescan) found unsafe content: dangerous global posix.system"
    ]
    assert steps["register:Model/evil@1.1.0"]["blocked_by"] == [
        "security scan (picklescan) found unsafe content: dangerous global posix.system"
    ]
    assert steps["register:Model/custom@1.0.0"]["blocked_by"][0].startswith(
        "security scan (skops) found unsafe content: untrusted type math.sqrt"
    )
    assert steps["register:Model/good@1.0.0"]["after"]["scan"] == "clean"

    applied = run(scanned_repo, "apply", "--now", NOW)
    assert applied.code == 3, applied.seen
    state = scanned_repo / ".mlops/state/models"
    assert sorted(p.name for p in state.iterdir()) == ["custom.json", "good.json"]
    custom = json.loads((state / "custom.json").read_text())
    assert sorted(custom["versions"]) == ["1.1.0"]
    scan_record = custom["versions"]["1.1.0"]["scan"]
    assert scan_record["scanner"] == "skops" and scan_record["verdict"] == "clean"
    assert scan_record["scanner_version"] not in ("", "not installed")
    blobs = [p for p in (scanned_repo / ".mlops/artifacts").rglob("*") if p.is_file()]
    evil = {(scanned_repo / f"artifacts/evil/model.{x}").read_bytes() for x in ("pkl", "joblib")}
    assert not any(p.read_bytes() in evil for p in blobs)
    assert not (tmp_path / "pwned").exists()

    status = json.loads(run(scanned_repo, "status", "--format", "json").out)
    lifecycle = {(v["model"], v["version"]): v["status"] for v in status["models"]}
    assert lifecycle[("evil", "1.0.0")] == lifecycle[("evil", "1.1.0")] == "pending"
    assert lifecycle[("good", "1.0.0")] == "registered"


def test_artifact_swapped_for_a_malicious_one_after_planning_fails_the_step(
    scanned_repo: Path, run: RunCli, tmp_path: Path
) -> None:
    """The executor checks again what it stores: a saved plan cannot smuggle another file in."""
    planfile = tmp_path / "plan.json"
    assert run(scanned_repo, "plan", "-o", str(planfile), "--now", NOW).code == 0
    good = scanned_repo / "artifacts/good/model.skops"
    joblib.dump(Payload(tmp_path / "pwned"), good)  # same path, now a pickle
    applied = run(scanned_repo, "apply", str(planfile), "--now", NOW, "--allow-dirty")
    assert applied.code == 1, applied.seen
    assert "failed   register Model/good 1.0.0: artifact artifacts/good/model.skops changed" in (
        applied.out
    )
    assert not (scanned_repo / ".mlops/state/models/good.json").exists()
    assert not (tmp_path / "pwned").exists()


def test_artifact_symlinked_outside_the_repository_is_refused(
    tmp_path: Path, run: RunCli, env: dict[str, str]
) -> None:
    secret = tmp_path / "outside" / "secret.bin"
    secret.parent.mkdir()
    secret.write_bytes(b"host secret")
    root = tmp_path / "repo"
    repo = SpecRepo(root)
    repo.write_project()
    (root / "artifacts").mkdir()
    (root / "artifacts/model.safetensors").symlink_to(secret)
    repo.write_model(
        "leak",
        [{"version": "1.0.0", "artifact": "artifacts/model.safetensors", "format": "safetensors"}],
    )
    init_git(root, env)
    planned = run(root, "plan", "--now", NOW)
    assert planned.code == 1
    assert "models/leak.yaml:" in planned.seen
    assert "spec.versions[0].artifact: artifacts/model.safetensors leads outside the" in (
        planned.seen
    )
    assert run(root, "apply", "--now", NOW).code == 1
    assert not (root / ".mlops/artifacts").exists()
