"""`compile`: the manifest is byte-identical across runs, folders and processes, versioned,
and hashes its inputs; an invalid repository gives no manifest."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.support.cli import run_cli, run_process
from tests.support.corpus import build_case
from tests.support.repos import EXAMPLE_REPO, copy_repo


def _compile(repo: Path, out: Path) -> bytes:
    run_cli("--repo", repo, "compile", "-o", out, expect=0)
    return (out / "manifest.json").read_bytes()


def test_compile_is_byte_identical_across_runs_and_folders(tmp_path: Path) -> None:
    first = copy_repo(EXAMPLE_REPO, tmp_path / "a" / "repo", data=False)
    second = copy_repo(EXAMPLE_REPO, tmp_path / "elsewhere" / "other-name", data=False)
    one = _compile(first, tmp_path / "out1")
    again = _compile(first, tmp_path / "out2")
    other = _compile(second, tmp_path / "out3")
    assert one == again == other
    assert str(tmp_path).encode() not in one


@pytest.mark.slow
def test_compile_is_byte_identical_across_processes(tmp_path: Path) -> None:
    """Different hash seeds must not reorder anything (sets, dicts built from sets)."""
    outputs = []
    for seed in ("1", "2"):
        out = tmp_path / f"out-{seed}"
        run_process(
            "--repo", EXAMPLE_REPO, "compile", "-o", out, env={"PYTHONHASHSEED": seed}, expect=0
        )
        outputs.append((out / "manifest.json").read_bytes())
    assert outputs[0] == outputs[1]


def test_manifest_is_versioned_and_hashes_its_inputs(tmp_path: Path) -> None:
    repo = copy_repo(EXAMPLE_REPO, tmp_path / "repo", data=False)
    manifest = json.loads(_compile(repo, tmp_path / "out"))
    assert manifest["format_version"] == "1"
    assert re.fullmatch(r"[0-9a-f]{64}", manifest["inputs_sha256"])
    assert manifest["sources"]["Deployment/diabetes-prod"] == "deployments/diabetes-prod.yaml.j2"
    assert manifest["deployments"]["cancer-prod"]["resolved"]["traffic"] == {
        "stable": 80,
        "canary": 20,
    }


@pytest.mark.parametrize(
    "rel", ["models/cancer-detector.yaml", "deployments/diabetes-prod.yaml.j2", "mlops.yaml"]
)
def test_inputs_hash_changes_when_a_spec_file_changes(rel: str, tmp_path: Path) -> None:
    repo = copy_repo(EXAMPLE_REPO, tmp_path / "repo", data=False)
    before = json.loads(_compile(repo, tmp_path / "out1"))["inputs_sha256"]
    with (repo / rel).open("a", encoding="utf-8") as handle:
        handle.write("# a comment changes no value, but the inputs changed\n")
    after = json.loads(_compile(repo, tmp_path / "out2"))["inputs_sha256"]
    assert before != after


def test_compile_of_an_invalid_repository_fails_without_a_manifest(tmp_path: Path) -> None:
    repo = build_case("canary-equals-stable", tmp_path)
    run = run_cli("--repo", str(repo), "compile", "-o", str(tmp_path / "out"))
    assert run.code == 1
    assert "deployments/fraud-prod.yaml:10:5: Deployment/fraud-prod" in run.err
    assert "Traceback" not in run.seen
    assert not (tmp_path / "out" / "manifest.json").exists()
