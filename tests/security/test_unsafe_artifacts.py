"""Artifacts that could run code when loaded are blocked before anything registers them: in the
plan, in apply (even when swapped after planning), and behind a symlink leaving the repository.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import joblib
import pytest

from tests.security.samples import CLEAN_SKOPS, Payload, evil_joblib, evil_pickle, untrusted_skops
from tests.support.cli import run_cli
from tests.support.git import init_git
from tests.support.repos import SpecRepo
from tests.support.values import NOW


@pytest.fixture
def scanned_repo(tmp_path: Path) -> Path:
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
    init_git(root)
    return root


def test_unsafe_artifacts_are_blocked_in_the_plan_and_never_registered(
    scanned_repo: Path, tmp_path: Path
) -> None:
    planned = run_cli("--repo", scanned_repo, "plan", "--format", "json", "--now", NOW)
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

    applied = run_cli("--repo", scanned_repo, "apply", "--now", NOW)
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

    status = json.loads(run_cli("--repo", scanned_repo, "status", "--format", "json").out)
    lifecycle = {(v["model"], v["version"]): v["status"] for v in status["models"]}
    assert lifecycle[("evil", "1.0.0")] == lifecycle[("evil", "1.1.0")] == "pending"
    assert lifecycle[("good", "1.0.0")] == "registered"


def test_artifact_swapped_for_a_malicious_one_after_planning_fails_the_step(
    scanned_repo: Path, tmp_path: Path
) -> None:
    """The executor checks again what it stores: a saved plan cannot smuggle another file in."""
    planfile = tmp_path / "plan.json"
    assert run_cli("--repo", scanned_repo, "plan", "-o", str(planfile), "--now", NOW).code == 0
    good = scanned_repo / "artifacts/good/model.skops"
    joblib.dump(Payload(tmp_path / "pwned"), good)  # same path, now a pickle
    applied = run_cli("--repo", scanned_repo, "apply", str(planfile), "--now", NOW, "--allow-dirty")
    assert applied.code == 1, applied.seen
    assert "failed   register Model/good 1.0.0: artifact artifacts/good/model.skops changed" in (
        applied.out
    )
    assert not (scanned_repo / ".mlops/state/models/good.json").exists()
    assert not (tmp_path / "pwned").exists()


def test_artifact_symlinked_outside_the_repository_is_refused(tmp_path: Path) -> None:
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
    init_git(root)
    planned = run_cli("--repo", root, "plan", "--now", NOW)
    assert planned.code == 1
    assert "models/leak.yaml:" in planned.seen
    assert "spec.versions[0].artifact: artifacts/model.safetensors leads outside the" in (
        planned.seen
    )
    assert run_cli("--repo", root, "apply", "--now", NOW).code == 1
    assert not (root / ".mlops/artifacts").exists()
