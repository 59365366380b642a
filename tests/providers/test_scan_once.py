"""Issue 13.1: artifacts are scanned once per content, not once per version.

A verdict is keyed by (sha256, format, scanner and its version, rules, trusted types). One
run scans each distinct key once, reads scanner versions once, scans distinct artifacts in
worker processes, and reuses a verdict recorded in state for the same key.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import skops.io

from mlops_gitops.providers import scan as scan_mod
from mlops_gitops.providers.scan import ScanJob, scan_many, verdict_key
from mlops_gitops.spec.check import load
from mlops_gitops.workspace import Workspace
from tests.security.crafted import evil_pickle
from tests.support.cli import run_in
from tests.support.git import init_git
from tests.support.repos import EXAMPLE_REPO, SpecRepo, onnx_artifact
from tests.support.values import NOW

SKOPS = EXAMPLE_REPO / "artifacts/cancer-detector/1.0.0/model.skops"


def counting(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> list[Any]:
    """Calls of `owner.name`, still doing their work."""
    calls: list[Any] = []
    real: Callable[..., Any] = getattr(owner, name)

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(args or kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, spy)
    return calls


@pytest.fixture(autouse=True)
def fresh_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """As in a new process: no verdict remembered, scanner versions not read yet."""
    monkeypatch.setattr(scan_mod, "_SCANNED", {})
    monkeypatch.setattr(scan_mod, "_RECALLED", {})
    scan_mod.package_version.cache_clear()


def shared_repo(root: Path, models: int, versions: int) -> SpecRepo:
    repo = SpecRepo(root)
    repo.write_project()
    (root / "artifacts").mkdir(parents=True)
    shutil.copy(SKOPS, root / "artifacts/shared.skops")
    for i in range(models):
        repo.write_model(
            f"m{i}",
            [
                {"version": f"1.{v}.0", "artifact": "artifacts/shared.skops", "format": "skops"}
                for v in range(versions)
            ],
        )
    return repo


def test_one_file_named_by_many_versions_is_audited_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "repo"
    shared_repo(root, models=50, versions=4)
    audits = counting(monkeypatch, skops.io, "get_untrusted_types")
    lookups = counting(monkeypatch, metadata, "version")
    workspace = Workspace.open(load(root))
    facts = workspace.facts(workspace.state_store.load())
    assert len(facts) == 200
    assert {(f.scanner, f.scan_verdict) for f in facts.values()} == {("skops", "clean")}
    assert len(audits) == 1
    assert lookups == [("skops",)]


def test_distinct_artifacts_are_scanned_in_workers_each_once(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    paths = {}
    for name, data in {
        "a": b"\x80\x04N.",
        "b": b"\x80\x04K\x01.",
        "evil": evil_pickle(marker),
    }.items():
        paths[name] = tmp_path / f"{name}.pkl"
        paths[name].write_bytes(data)
    jobs = [
        ScanJob(verdict_key(name, "pickle"), str(path), "pickle", ())
        for name, path in paths.items()
        for _ in range(3)
    ]
    verdicts = scan_many(jobs)
    assert {key: v.verdict for key, v in verdicts.items()} == {
        verdict_key("a", "pickle"): "clean",
        verdict_key("b", "pickle"): "clean",
        verdict_key("evil", "pickle"): "unsafe",
    }
    assert scan_mod.scanned(verdict_key("evil", "pickle")) is not None
    assert not marker.exists()


def test_the_key_changes_with_everything_a_verdict_depends_on() -> None:
    base = verdict_key("ab" * 32, "skops", ["x.Y"])
    assert base == verdict_key("ab" * 32, "skops", ["x.Y", "x.Y"])
    assert (
        len(
            {
                base,
                verdict_key("cd" * 32, "skops", ["x.Y"]),
                verdict_key("ab" * 32, "skops", []),
                verdict_key("ab" * 32, "pickle", ["x.Y"]),
            }
        )
        == 4
    )


def test_a_recorded_verdict_is_reused_for_unchanged_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After apply, an edit of a version's metrics re-inspects the artifact (an update step):
    the verdict recorded under the same key is used, the file is not audited again. A change
    of the trusted types is a new key: scanned again."""
    root = tmp_path / "repo"
    shared_repo(root, models=1, versions=1)
    init_git(root)
    assert run_in(root, "apply", "--now", NOW).code == 0
    record = json.loads((root / ".mlops/state/models/m0.json").read_text())
    scanned = record["versions"]["1.0.0"]["scan"]
    assert scanned["verdict"] == "clean" and len(scanned["key"]) == 64

    text = (root / "models/m0.yaml").read_text()
    (root / "models/m0.yaml").write_text(
        text.replace("format: skops", "format: skops\n    metrics: {f1: 0.9}")
    )
    monkeypatch.setattr(scan_mod, "_SCANNED", {})
    audits = counting(monkeypatch, skops.io, "get_untrusted_types")
    workspace = Workspace.open(load(root))
    [fact] = workspace.facts(workspace.state_store.load()).values()
    assert (fact.scanner, fact.scan_verdict) == ("skops", "clean")
    assert audits == []

    (root / "models/m0.yaml").write_text(
        text.replace("format: skops", "format: skops\n    trusted_types: [a.B]")
    )
    workspace = Workspace.open(load(root))
    [fact] = workspace.facts(workspace.state_store.load()).values()
    assert fact.scan_verdict == "clean"
    assert len(audits) == 1


def test_formats_without_code_are_judged_by_their_content_check_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cold plan of thousands of ONNX or safetensors files opens each once: the content
    check that reads it for its hash gives the verdict. Pickle bytes named `onnx` are still
    refused by that check."""
    repo = SpecRepo(tmp_path / "repo")
    repo.write_project()
    versions = [onnx_artifact(repo, "m", f"1.{v}.0") for v in range(3)]
    versions.append(repo.tensor("m", "2.0.0"))
    repo.artifact("artifacts/m/evil.onnx", evil_pickle(tmp_path / "pwned"))
    versions.append({"version": "3.0.0", "artifact": "artifacts/m/evil.onnx", "format": "onnx"})
    repo.write_model("m", versions)
    scans = counting(monkeypatch, scan_mod, "scan")
    monkeypatch.setattr(scan_mod, "PARALLEL_MIN", 10**6)  # any scan would run here, seen
    workspace = Workspace.open(load(repo.root))
    facts = workspace.facts(workspace.state_store.load())
    judged = {version: (f.scanner, f.scan_verdict) for (_, version), f in facts.items()}
    assert judged == {
        "1.0.0": ("none", "not-needed"),
        "1.1.0": ("none", "not-needed"),
        "1.2.0": ("none", "not-needed"),
        "2.0.0": ("none", "not-needed"),
        "3.0.0": (None, None),
    }
    assert "is refused" in (facts[("m", "3.0.0")].error or "")
    assert scans == []
    key = verdict_key(facts[("m", "1.0.0")].sha256 or "", "onnx")
    assert scan_mod.scanned(key) is not None  # as good as a scan: apply may register with it
