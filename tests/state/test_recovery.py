"""Trustworthy records in real git repositories: the clean tree, lost or rolled-back state,
and the artifact store's upkeep (issue 10, items 1-3)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mlops_gitops.state import chain
from tests.support.cli import run_in
from tests.support.git import commit_all, git, init_git
from tests.support.repos import edit_file, engine_repo_v1, state_files
from tests.support.values import NOW

PROD = "deployments/cancer-prod.yaml"
STAGING = "deployments/cancer-staging.yaml"
STORE = ".mlops/artifacts"
LATER = "2026-03-02T12:00:00+00:00"


@pytest.fixture
def applied(loop_applied: Path) -> Path:
    """example-repo (without policies) in git, applied at NOW and committed."""
    return loop_applied


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").strip()


def message(repo: Path, rev: str = "HEAD") -> str:
    return git(repo, "log", "-1", "--format=%B", rev)


def meta(repo: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((repo / ".mlops/state/meta.json").read_text())
    return data


def blobs(repo: Path) -> list[Path]:
    return sorted(p for p in (repo / STORE / "sha256").rglob("*") if p.is_file())


# ---------------------------------------------------------------- the clean tree


@pytest.mark.parametrize("staged", [False, True])
def test_uncommitted_spec_edit_is_refused_and_nothing_applied(applied: Path, staged: bool) -> None:
    before = head(applied)
    state = meta(applied)
    edit_file(applied / PROD, "traffic: 20 ", "traffic: 40 ")
    if staged:
        git(applied, "add", PROD)
    done = run_in(applied, "apply", "--now", LATER)
    assert done.code == 1
    assert f"uncommitted changes in files the specs are read from: {PROD}" in done.err
    assert "--allow-dirty" in done.err
    assert head(applied) == before
    assert meta(applied) == state
    refused = run_in(applied, "reconcile", "--now", LATER)
    assert refused.code == 1 and PROD in refused.err
    assert head(applied) == before


def test_untracked_spec_and_artifact_files_are_refused(applied: Path) -> None:
    model = applied / "models/cancer-detector.yaml"
    (applied / "artifacts/cancer-detector/1.3.0").mkdir()
    shutil.copy(
        applied / "artifacts/cancer-detector/1.2.0/model.skops",
        applied / "artifacts/cancer-detector/1.3.0/model.skops",
    )
    text = model.read_text()
    entry = text[text.index('    - version: "1.2.0"') :]
    model.write_text(text + entry.replace('"1.2.0"', '"1.3.0"').replace("/1.2.0/", "/1.3.0/"))
    commit_all(applied, "1.3.0 in the spec, its artifact left out")
    git(applied, "rm", "-q", "--cached", "artifacts/cancer-detector/1.3.0/model.skops")
    git(applied, "commit", "-q", "-m", "untrack the artifact")
    rule = (applied / "rules/diabetes-latency.yaml").read_text()
    (applied / "rules/extra.yaml").write_text(rule.replace("name: diabetes-latency", "name: extra"))
    done = run_in(applied, "apply", "--now", LATER)
    assert done.code == 1
    assert "artifacts/cancer-detector/1.3.0/model.skops" in done.err
    assert "rules/extra.yaml" in done.err


def test_many_read_paths_are_asked_about_by_folder_and_filtered(
    applied: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past MAX_PATHSPECS paths git is asked about top folders; only read files count."""
    from mlops_gitops import workspace

    monkeypatch.setattr(workspace, "MAX_PATHSPECS", 1)
    (applied / "artifacts/notes.txt").write_text("not an artifact any version names\n")
    (applied / "data/reference/scratch.csv").write_text("a,b\n")
    assert run_in(applied, "apply", "--now", LATER).code == 0
    artifact = applied / "artifacts/cancer-detector/1.0.0/model.skops"
    artifact.write_bytes(artifact.read_bytes() + b"\0")
    done = run_in(applied, "apply", "--now", LATER)
    assert done.code == 1
    assert "from: artifacts/cancer-detector/1.0.0/model.skops\n" in done.err


@pytest.mark.parametrize(
    "change",
    ["untracked artifact", "untracked spec file", "deleted reference data"],
)
def test_many_read_paths_still_see_untracked_and_deleted_files(
    applied: Path, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    """Past MAX_PATHSPECS untracked files are listed only in the folders read whole; a
    read file elsewhere counts as untracked when the index does not hold it."""
    from mlops_gitops import workspace

    monkeypatch.setattr(workspace, "MAX_PATHSPECS", 1)
    artifact = "artifacts/cancer-detector/1.0.0/model.skops"
    if change == "untracked artifact":
        git(applied, "rm", "-q", "--cached", artifact)
        git(applied, "commit", "-qm", "Forget an artifact in the index")
        expected = artifact
    elif change == "untracked spec file":
        (applied / "models/new.yaml").write_text("# not yet added\n")
        expected = "models/new.yaml"
    else:
        expected = "data/reference/cancer-detector-1.0.0.csv"
        (applied / expected).unlink()
    done = run_in(applied, "apply", "--now", LATER)
    assert done.code == 1, done.seen
    assert expected in done.err


def test_allow_dirty_applies_and_records_it(applied: Path) -> None:
    edit_file(applied / PROD, "traffic: 20 ", "traffic: 40 ")
    planned = run_in(applied, "plan", "--now", LATER)
    assert planned.code == 0
    assert "warning: planned from uncommitted changes (deployments/cancer-prod.yaml)" in (
        planned.err
    )
    assert "update Deployment/cancer-prod" in planned.out
    done = run_in(applied, "apply", "--now", LATER, "--allow-dirty")
    assert done.code == 0, done.seen
    assert "Mlops-Spec-Dirty: true" in message(applied)
    assert meta(applied)["spec_dirty"] is True
    edit_file(applied / PROD, "traffic: 40 ", "traffic: 50 ")
    commit_all(applied, "traffic 50")
    clean = run_in(applied, "apply", "--now", LATER)
    assert clean.code == 0, clean.seen
    assert "spec_dirty" not in meta(applied)


def test_files_apply_does_not_read_may_be_dirty(applied: Path) -> None:
    (applied / "NOTES.md").write_text("notes\n")
    (applied / "trainers/cancer.py").write_text(
        (applied / "trainers/cancer.py").read_text() + "# note\n"
    )
    edit_file(applied / PROD, "traffic: 20 ", "traffic: 30 ")
    commit_all(applied, "traffic 30")
    (applied / "NOTES.md").write_text("more notes\n")
    done = run_in(applied, "apply", "--now", LATER)
    assert done.code == 0, done.seen
    assert "Mlops-Spec-Dirty" not in message(applied)


# ---------------------------------------------------------------- lost and rolled-back state


def test_lost_state_is_refused_then_restored_and_production_serves(applied: Path) -> None:
    from tests.serve.helpers import LiveServer

    recorded = head(applied)
    before = state_files(applied)
    shutil.rmtree(applied / ".mlops")
    done = run_in(applied, "apply", "--now", LATER)
    assert done.code == 1
    assert (
        f"the recorded state is missing: git history last recorded lineage {meta_at(applied)}"
        f" at serial 1 in commit {recorded[:12]}" in done.err
    )
    assert "mlops-gitops state restore" in done.err
    assert head(applied) == recorded
    assert run_in(applied, "plan", "--now", LATER).code == 1

    restored = run_in(applied, "state", "restore")
    assert restored.code == 0, restored.seen
    assert f"Restored {len(before)} state files from {recorded[:12]}" in restored.out
    assert state_files(applied) == before
    status = json.loads(run_in(applied, "status", "--format", "json").out)
    prod = next(d for d in status["deployments"] if d["name"] == "cancer-prod")
    assert prod["sync"] == "Synced"
    assert prod["health"].startswith("Degraded (artifact of 1.1.0 missing")
    assert run_in(applied, "status", "--detailed-exitcode").code == 2

    assert run_in(applied, "store", "restore").code == 0
    assert run_in(applied, "status", "--detailed-exitcode").code == 0
    assert run_in(applied, "plan", "--now", LATER, "--detailed-exitcode").code == 0
    with LiveServer(applied) as server, server.client() as client:
        answer = client.post("/v1/models/cancer-prod:predict", json={"instances": [[14.0] * 10]})
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["predictions"]) == 1


def meta_at(repo: Path, rev: str = "HEAD") -> str:
    data = json.loads(git(repo, "show", f"{rev}:.mlops/state/meta.json"))
    return str(data["lineage"])


def test_committed_state_rollback_is_refused_and_restored_with_a_trailer(applied: Path) -> None:
    first = head(applied)
    edit_file(applied / PROD, "traffic: 20 ", "traffic: 30 ")
    commit_all(applied, "traffic 30")
    assert run_in(applied, "apply", "--now", LATER).code == 0
    second = head(applied)
    git(applied, "checkout", first, "--", ".mlops/state")
    commit_all(applied, "an accidental revert of the state")
    done = run_in(applied, "apply", "--now", LATER)
    assert done.code == 1
    assert "the recorded state is at serial 1, behind the history" in done.err
    assert f"at serial 2 in commit {second[:12]}" in done.err

    older = run_in(applied, "state", "restore", "--from", first)
    assert older.code == 1
    assert "restoring it would undo applied steps" in older.err

    restored = run_in(applied, "state", "restore")
    assert restored.code == 0, restored.seen
    assert f"Mlops-Restore: {second}" in message(applied)
    assert meta(applied)["serial"] == 2
    assert run_in(applied, "plan", "--now", LATER, "--detailed-exitcode").code == 0
    edit_file(applied / PROD, "traffic: 30 ", "traffic: 40 ")
    commit_all(applied, "traffic 40")
    assert run_in(applied, "apply", "--now", LATER).code == 0
    assert meta(applied)["serial"] == 3


def test_another_lineage_is_refused(applied: Path) -> None:
    path = applied / ".mlops/state/meta.json"
    data = json.loads(path.read_text())
    data["lineage"] = "11111111-2222-4333-8444-555555555555"
    path.write_text(json.dumps(data))
    done = run_in(applied, "plan", "--now", LATER)
    assert done.code == 1
    assert "another lineage (11111111-2222-4333-8444-555555555555)" in done.err


def test_a_first_apply_starts_a_lineage_and_no_commit_applies_stay_ahead(applied: Path) -> None:
    assert meta(applied)["serial"] == 1
    edit_file(applied / PROD, "traffic: 20 ", "traffic: 30 ")
    commit_all(applied, "traffic 30")
    assert run_in(applied, "apply", "--now", LATER, "--no-commit").code == 0
    assert meta(applied)["serial"] == 2  # ahead of the history's 1: allowed
    assert run_in(applied, "plan", "--now", LATER).code == 0


def test_a_hand_typed_serial_trailer_is_not_a_record(applied: Path) -> None:
    """A commit that claims `Mlops-Serial: 9` without its state moving there proves nothing."""
    (applied / "NOTES.md").write_text("notes\n")
    git(applied, "add", "NOTES.md")
    git(applied, "commit", "-q", "-m", "notes\n\nMlops-Step: x\nMlops-Serial: 9")
    assert run_in(applied, "plan", "--now", LATER).code == 0


def test_the_last_apply_is_found_behind_batches_of_commits_that_only_claim_one(
    applied: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Claims are checked a batch at a time; ones that prove nothing fill the first batches."""
    monkeypatch.setattr(chain, "BATCH", 2)
    real = head(applied)
    path = applied / ".mlops/state/meta.json"
    for indent in range(5):  # the same record, other bytes: it touches the file, no more
        path.write_text(json.dumps(meta(applied), indent=indent + 1) + "\n")
        git(
            applied, "commit", "-q", "-am", f"reformat\n\nMlops-Step: x\nMlops-Serial: {indent + 7}"
        )
    assert run_in(applied, "plan", "--now", LATER).code == 0
    shutil.rmtree(applied / ".mlops/state")
    done = run_in(applied, "plan", "--now", LATER)
    assert done.code == 1
    assert f"serial 1 in commit {real[:12]}" in done.err


# ---------------------------------------------------------------- the artifact store


def test_lost_store_is_verified_restored_and_deploys_again(applied: Path) -> None:
    shutil.rmtree(applied / STORE)
    verified = run_in(applied, "store", "verify", "--format", "json")
    assert verified.code == 1
    report = json.loads(verified.out)
    assert report["checked"] == 5 and report["ok"] is False
    assert {v for m in report["missing"] for v in m["versions"]} == {
        "cancer-detector@1.0.0",
        "cancer-detector@1.1.0",
        "cancer-detector@1.2.0",
        "diabetes-progression@1.0.0",
        "diabetes-progression@2.0.0",
    }
    edit_file(applied / PROD, "traffic: 20 ", "traffic: 30 ")
    commit_all(applied, "traffic 30")
    failed = run_in(applied, "apply", "--now", LATER)
    assert failed.code == 1
    assert "is missing from the artifact store; run `mlops-gitops store restore`" in failed.out

    restored = run_in(applied, "store", "restore")
    assert restored.code == 0, restored.seen
    assert "Restored 5 blobs." in restored.out
    assert run_in(applied, "store", "verify").code == 0
    assert all(oct(p.stat().st_mode)[-3:] == "444" for p in blobs(applied))
    deployed = run_in(applied, "apply", "--now", LATER)
    assert deployed.code == 0, deployed.seen


def test_corrupt_blob_is_degraded_and_only_the_right_bytes_restore_it(
    applied: Path, tmp_path: Path
) -> None:
    state = json.loads((applied / ".mlops/state/models/cancer-detector.json").read_text())
    blob = applied / STORE / state["versions"]["1.1.0"]["blob"]
    blob.chmod(0o644)
    blob.write_bytes(blob.read_bytes()[:-1] + b"!")
    status = json.loads(run_in(applied, "status", "--format", "json").out)
    prod = next(d for d in status["deployments"] if d["name"] == "cancer-prod")
    assert prod["health"] == "Degraded (artifact of 1.1.0 corrupt)"
    verified = run_in(applied, "store", "verify")
    assert verified.code == 1 and "corrupt  sha256/" in verified.out

    # The spec's artifact now holds other bytes, and another store has the same bad copy:
    # neither is accepted.
    artifact = applied / "artifacts/cancer-detector/1.1.0/model.skops"
    good = artifact.read_bytes()
    artifact.write_bytes(good + b"tampered")
    failed = run_in(applied, "store", "restore")
    assert failed.code == 1
    assert "has other content" in failed.out
    other = tmp_path / "other-store"
    shutil.copytree(applied / STORE, other)
    assert run_in(applied, "store", "restore", "--from", str(other)).code == 1
    assert store_digest(blob) != state["versions"]["1.1.0"]["sha256"]

    artifact.write_bytes(good)
    assert run_in(applied, "store", "restore").code == 0
    assert store_digest(blob) == state["versions"]["1.1.0"]["sha256"]
    assert run_in(applied, "status", "--detailed-exitcode").code == 0


def store_digest(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_restore_from_another_store(applied: Path, tmp_path: Path) -> None:
    backup = tmp_path / "backup"
    shutil.copytree(applied / STORE, backup)
    shutil.rmtree(applied / STORE)
    shutil.rmtree(applied / "artifacts")  # the specs' sources are gone too
    done = run_in(applied, "store", "restore", "--from", str(backup))
    assert done.code == 0, done.seen
    assert f"from {backup}/sha256/" in done.out
    assert run_in(applied, "store", "verify").code == 0


def test_gc_keeps_referenced_and_recently_archived_blobs(applied: Path) -> None:
    # Retire diabetes-progression 1.0.0: no deployment uses it, so dropping it from the
    # spec archives it at LATER.
    model = applied / "models/diabetes-progression.yaml"
    text = model.read_text()
    start = text.index('    - version: "1.0.0"')
    end = text.index('    - version: "2.0.0"')
    model.write_text(text[:start] + text[end:])
    commit_all(applied, "drop diabetes 1.0.0")
    assert run_in(applied, "apply", "--now", LATER).code == 0
    record = json.loads((applied / ".mlops/state/models/diabetes-progression.json").read_text())
    archived = record["versions"]["1.0.0"]
    assert archived["status"] == "archived"
    stray = applied / STORE / "sha256/00" / ("0" * 62)
    stray.parent.mkdir()
    stray.write_bytes(b"nothing names me")
    (applied / STORE / "README").write_text("not a blob\n")
    before = blobs(applied)

    dry = run_in(applied, "store", "gc", "--dry-run", "--now", LATER)
    assert dry.code == 0
    assert "would remove sha256/00/" in dry.out and "Would remove 1 blobs; kept 5." in dry.out
    assert blobs(applied) == before

    soon = run_in(applied, "store", "gc", "--now", "2026-05-01T00:00:00+00:00")
    assert "Removed 1 blobs; kept 5." in soon.out
    assert not stray.exists() and (applied / STORE / "README").exists()
    assert (applied / STORE / archived["blob"]).exists()  # archived 60 days ago: kept

    late = run_in(applied, "store", "gc", "--format", "json", "--now", "2026-06-01T00:00:00+00:00")
    assert json.loads(late.out)["removed"] == [archived["blob"]]
    assert not (applied / STORE / archived["blob"]).exists()
    assert run_in(applied, "store", "verify", "--now", "2026-06-01T00:00:00+00:00").code == 0


def test_a_remote_store_is_verified_restored_and_collected(tmp_path: Path) -> None:
    """The same upkeep through fsspec (its in-memory filesystem stands in for object storage)."""
    import uuid

    import fsspec

    store = f"memory://store-{uuid.uuid4().hex}"
    repo = engine_repo_v1(tmp_path / "repo")
    repo.write_project(prune=True, artifact_store=store)
    init_git(repo.root)
    assert run_in(repo.root, "apply", "--now", NOW).code == 0
    fs, top = fsspec.core.url_to_fs(store)
    try:
        stored = sorted(fs.find(f"{top}/sha256"))
        assert len(stored) == 4
        fs.rm(stored[0])
        fs.pipe(f"{top}/sha256/00/{'0' * 62}", b"nothing names me")
        assert run_in(repo.root, "store", "verify").code == 1
        assert run_in(repo.root, "status", "--detailed-exitcode").code == 2
        assert run_in(repo.root, "store", "restore").code == 0
        collected = json.loads(run_in(repo.root, "store", "gc", "--format", "json").out)
        assert collected["removed"] == [f"sha256/00/{'0' * 62}"] and collected["kept"] == 4
        assert sorted(fs.find(f"{top}/sha256")) == stored
        assert run_in(repo.root, "store", "verify").code == 0
    finally:
        fs.rm(top, recursive=True)
