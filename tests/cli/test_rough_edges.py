"""The rough edges a new user hits first (issue 15, item 7), each as the user would meet it."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from mlops_gitops import fsguard
from mlops_gitops.automate.rules import _edit
from mlops_gitops.spec import models as spec_models
from mlops_gitops.spec.edit import SpecEditor
from mlops_gitops.workspace import Workspace
from tests.support.cli import run_in
from tests.support.git import commit_all, init_git
from tests.support.repos import SpecRepo, dump_yaml, engine_repo_v1, tensor_artifact
from tests.support.values import NOW


def _applied_engine_repo(tmp_path: Path) -> Path:
    repo = engine_repo_v1(tmp_path / "repo")
    init_git(repo.root)
    done = run_in(repo.root, "apply", "--now", NOW)
    assert done.code == 0, done.seen
    return repo.root


def _health(repo: Path) -> dict[str, str]:
    data = json.loads(run_in(repo, "status", "--format", "json").out)
    return {d["name"]: d["health"] for d in data["deployments"]}


def test_status_health_says_what_each_target_checked(tmp_path: Path) -> None:
    repo = _applied_engine_repo(tmp_path)
    health = _health(repo)
    # kserve: the tool only renders a manifest; it never claims the cluster serves it.
    assert health["alpha-prod"] == "Rendered"
    # local safetensors: the artifact is present, but no load check exists for the format.
    assert health["beta-prod"] == "Present"
    (repo / "rendered/kserve/alpha-prod.yaml").unlink()
    assert _health(repo)["alpha-prod"] == (
        "Degraded (manifest rendered/kserve/alpha-prod.yaml missing)"
    )


def test_status_looks_only_inside_the_rendered_folder_for_a_manifest(tmp_path: Path) -> None:
    """A state file naming a manifest outside rendered/kserve (a crafted pull request) is not
    taken as rendered, whatever file it names."""
    repo = _applied_engine_repo(tmp_path)
    record_file = repo / ".mlops/state/deployments/alpha-prod.json"
    record = json.loads(record_file.read_text())
    record["serving"]["manifest"] = "rendered/kserve/../../mlops.yaml"
    record_file.write_text(json.dumps(record))
    assert _health(repo)["alpha-prod"].startswith("Degraded (manifest")


def test_status_health_of_a_local_skops_model_whose_bytes_changed(loop_applied: Path) -> None:
    repo = loop_applied
    assert _health(repo)["diabetes-prod"] == "Loadable"
    state = json.loads((repo / ".mlops/state/deployments/diabetes-prod.json").read_text())
    blob = repo / ".mlops/artifacts" / state["serving"]["stable"]["blob"]
    blob.chmod(0o644)
    blob.write_bytes(b"not a zip file")
    assert _health(repo)["diabetes-prod"] == "Degraded (artifact of 2.0.0 corrupt)"


def _serve_in_turn(tmp_path: Path, retire: str) -> Path:
    """d has served 1.0.0, then 1.1.0, then 1.2.0; a retirement plan retired `retire`."""
    repo = SpecRepo(tmp_path / "repo")
    repo.write_project()
    versions = [tensor_artifact(repo, "alpha", v) for v in ("1.0.0", "1.1.0", "1.2.0")]
    repo.write_model("alpha", versions)
    init_git(repo.root)
    for served in ("1.0.0", "1.1.0", "1.2.0"):
        repo.write_deployment("d", {"model": "alpha", "stage": "staging", "version": served})
        commit_all(repo.root, f"serve {served}")
        assert run_in(repo.root, "apply", "--now", NOW).code == 0
    plan = {
        "apiVersion": "mlops-gitops/v1",
        "kind": "RetirementPlan",
        "metadata": {"name": "retire-old"},
        "spec": {
            "model": "alpha",
            "version": retire,
            "retirement_date": "2020-01-01",
            "replacement": "1.2.0",
        },
    }
    (repo.root / "retirements").mkdir()
    (repo.root / "retirements/retire-old.yaml").write_text(dump_yaml(plan))
    commit_all(repo.root, "retire")
    return repo.root


def test_rollback_without_to_skips_a_retired_version(tmp_path: Path) -> None:
    repo = _serve_in_turn(tmp_path, retire="1.1.0")
    done = run_in(repo, "rollback", "d")
    assert done.code == 0, done.seen
    assert "rollback d to 1.0.0" in done.out
    assert 'version: "1.0.0"' in (repo / "deployments/d.yaml").read_text() or (
        "version: 1.0.0" in (repo / "deployments/d.yaml").read_text()
    )


def test_rollback_without_to_and_only_retired_versions_left_is_an_error(tmp_path: Path) -> None:
    repo = _serve_in_turn(tmp_path, retire="1.1.0")
    versions = [tensor_artifact(SpecRepo(repo), "alpha", v) for v in ("1.1.0", "1.2.0")]
    SpecRepo(repo).write_model("alpha", versions)  # 1.0.0 left the spec
    commit_all(repo, "drop 1.0.0")
    done = run_in(repo, "rollback", "d")
    assert done.code == 1
    assert "skipped retired or archived: 1.1.0, 1.0.0" in done.err


def test_scale_action_says_what_it_changed(tmp_path: Path) -> None:
    repo = engine_repo_v1(tmp_path / "repo")
    workspace = Workspace.load(repo.root)
    spec = workspace.manifest.deployments["beta-prod"].spec
    editor = SpecEditor((repo.root / "deployments/beta-prod.yaml").read_text(), "beta-prod.yaml")
    action = spec_models.ScaleAction(type="scale_deployment", min_replicas=2, max_replicas=5)
    record = _edit(editor, action, spec, workspace, "beta-prod")
    assert record["detail"] == "replicas 1-1 -> 2-5"


def test_written_files_honour_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        repo = _applied_engine_repo(tmp_path)
        written = [
            *sorted((repo / ".mlops/state").rglob("*.json")),
            repo / "rendered/kserve/alpha-prod.yaml",
        ]
        assert written
        for path in written:
            assert stat.S_IMODE(path.stat().st_mode) == 0o644, path
        os.umask(0o002)  # a group-shared checkout
        fsguard.write(tmp_path, tmp_path / "shared/file.txt", b"x")
        assert stat.S_IMODE((tmp_path / "shared/file.txt").stat().st_mode) == 0o664
    finally:
        os.umask(previous)


def test_prometheus_and_data_quality_gates_pass_and_misspelled_canary_checks_fail_validate(
    tmp_path: Path,
) -> None:
    repo = SpecRepo(tmp_path / "repo")
    repo.write_project()
    repo.write_model("alpha", [tensor_artifact(repo, "alpha", v) for v in ("1.0.0", "1.1.0")])
    canary = {
        "version": "1.1.0",
        "traffic": 10,
        "analysis": {"interval": "1h", "checks": [{"metric": "error_rate", "max": 0.05}]},
    }
    gates: dict[str, object] = {
        "prometheus:sum(up)": ">= 1",
        "roc_auc": ">= 0.9",
        "labelled": ">= 100",  # how many labelled records: the report has it
        "data_quality": {"max_invalid_share": 0.01},
    }
    spec = {"model": "alpha", "stage": "staging", "version": "1.0.0", "canary": canary}
    repo.write_deployment("d", {**spec, "promotion": {"gates": gates}})
    assert run_in(repo.root, "validate").code == 0
    canary["analysis"]["checks"] = [{"metric": "eror_rate", "max": 0.05}]  # type: ignore[index]
    repo.write_deployment("d", {**spec, "canary": canary, "promotion": {"gates": gates}})
    done = run_in(repo.root, "validate")
    assert done.code == 1
    assert "spec.canary.analysis.checks[0].metric: check metric 'eror_rate'" in done.out
    assert "did you mean 'error_rate'?" in done.out
