"""Recorded state written by older versions of the tool is migrated; newer state is refused.

`fixtures/state-v1/` is the state of `v1_repo()` as schema_version 1 wrote it: deployments kept
`deployed_version`, `stage` and `target` flat, model versions called their digest `digest`,
and `meta.json` had no schema_version at all.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mlops_gitops.errors import MlopsError
from mlops_gitops.state.records import SCHEMA_VERSION, migrate
from mlops_gitops.state.store import StateStore
from tests.support.cli import run_cli
from tests.support.git import commit_all, init_git
from tests.support.repos import SpecRepo, edit_file, tensor_artifact
from tests.support.values import NOW

FIXTURES = Path(__file__).parent / "fixtures"


def v1_repo(root: Path) -> Path:
    repo = SpecRepo(root)
    repo.write_project()
    repo.write_model("alpha", [tensor_artifact(repo, "alpha", v) for v in ("1.0.0", "1.1.0")])
    repo.write_deployment(
        "alpha-prod",
        {
            "model": "alpha",
            "stage": "production",
            "version": "1.0.0",
            "canary": {"version": "1.1.0", "traffic": 5},
        },
    )
    shutil.copytree(FIXTURES / "state-v1", root / ".mlops/state")
    init_git(root)
    return root


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return v1_repo(tmp_path / "repo")


def test_v1_state_loads_migrated(repo: Path) -> None:
    state = StateStore(repo / ".mlops/state").load()
    assert state.meta is not None
    assert (state.lineage, state.serial) == ("6b1f5a3e-7c2d-4e8f-9a0b-1c2d3e4f5a6b", 2)
    assert state.meta.schema_version == SCHEMA_VERSION
    deployment = state.deployments["alpha-prod"]
    assert deployment.schema_version == SCHEMA_VERSION
    assert deployment.version == "1.0.0"
    assert deployment.settings["stage"] == "production"
    assert deployment.settings["target"] == "local"
    assert [r.version for r in deployment.history] == ["1.1.0", "1.0.0", "1.0.0"]
    versions = state.models["alpha"].versions
    assert versions["1.0.0"].spec_digest == (
        "2f21c92f7784167a1e9b6501647f7bca5ab5c554a44848773cc9476dd1691830"
    )


def test_migrated_state_matches_the_specs_it_was_written_for(repo: Path) -> None:
    """Same meaning after migration: nothing to do, everything Synced."""
    planned = run_cli("--repo", repo, "plan", "--detailed-exitcode", "--now", NOW)
    assert (planned.code, planned.out) == (0, "No changes. Recorded state matches the specs.\n")
    status = json.loads(run_cli("--repo", repo, "status", "--format", "json").out)
    assert [(d["name"], d["sync"]) for d in status["deployments"]] == [("alpha-prod", "Synced")]
    # Reading never rewrites: the files stay as version 1 wrote them until an apply.
    on_disk = json.loads((repo / ".mlops/state/deployments/alpha-prod.json").read_text())
    assert on_disk["schema_version"] == 1


def test_apply_rewrites_migrated_records_in_the_current_schema(repo: Path) -> None:
    edit_file(repo / "deployments/alpha-prod.yaml", "traffic: 5", "traffic: 10")
    commit_all(repo, "canary to 10%")
    # The fixture has no store: the blobs come back from the artifacts the specs name.
    assert run_cli("--repo", repo, "store", "restore").code == 0
    applied = run_cli("--repo", repo, "apply", "--now", NOW)
    assert applied.code == 0, applied.seen
    state = repo / ".mlops/state"
    deployment = json.loads((state / "deployments/alpha-prod.json").read_text())
    assert deployment["schema_version"] == SCHEMA_VERSION
    assert "deployed_version" not in deployment and deployment["version"] == "1.0.0"
    assert deployment["settings"]["stage"] == "production"
    assert deployment["history"][-1]["canary"] == {"traffic": 10, "version": "1.1.0"}
    meta = json.loads((state / "meta.json").read_text())
    assert meta["schema_version"] == SCHEMA_VERSION
    assert (meta["lineage"], meta["serial"]) == ("6b1f5a3e-7c2d-4e8f-9a0b-1c2d3e4f5a6b", 3)
    model = json.loads((state / "models/alpha.json").read_text())
    assert model["schema_version"] == SCHEMA_VERSION
    assert "digest" not in model["versions"]["1.0.0"]
    assert run_cli("--repo", repo, "plan", "--detailed-exitcode", "--now", NOW).code == 0


@pytest.mark.parametrize("rel", ["meta.json", "models/alpha.json", "deployments/alpha-prod.json"])
def test_state_from_a_newer_tool_is_refused(repo: Path, rel: str) -> None:
    path = repo / ".mlops/state" / rel
    data = json.loads(path.read_text())
    data["schema_version"] = SCHEMA_VERSION + 1
    path.write_text(json.dumps(data))
    for command in (["plan"], ["apply", "--now", NOW], ["status"]):
        done = run_cli("--repo", repo, *command)
        assert done.code == 1, (command, done.seen)
        assert f"recorded state file {path} is unreadable" in done.err
        assert (
            f"written by a newer mlops-gitops (schema_version {SCHEMA_VERSION + 1} > "
            f"{SCHEMA_VERSION}); upgrade the tool"
        ) in done.err
        assert "Traceback" not in done.err
    assert json.loads(path.read_text())["schema_version"] == SCHEMA_VERSION + 1


def test_migrate_refuses_newer_and_upgrades_step_by_step() -> None:
    with pytest.raises(ValueError, match="newer mlops-gitops"):
        migrate({"schema_version": SCHEMA_VERSION + 5})
    migrated = migrate(
        {"kind": "Deployment", "deployed_version": "1", "stage": "staging", "target": "kserve"}
    )
    assert migrated == {
        "kind": "Deployment",
        "version": "1",
        "settings": {"stage": "staging", "target": "kserve"},
        "schema_version": SCHEMA_VERSION,
    }
    assert migrate({"schema_version": SCHEMA_VERSION, "x": 1}) == {
        "schema_version": SCHEMA_VERSION,
        "x": 1,
    }


def test_damaged_state_file_is_reported_not_trusted(repo: Path) -> None:
    (repo / ".mlops/state/models/alpha.json").write_text('{"kind": "Model", "name": 3}')
    with pytest.raises(MlopsError, match="is unreadable"):
        StateStore(repo / ".mlops/state").load()
