"""The kserve target: apply renders an InferenceService that validates against KServe's schema,
follows promotions, and is removed (and the removal committed) on undeploy."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.kserve.crd import assert_valid
from tests.support.cli import run_cli
from tests.support.example import STAGING
from tests.support.git import commit_all, commit_files, init_git
from tests.support.repos import SpecRepo, edit_file, engine_repo_v1, engine_repo_v2
from tests.support.values import NOW


def test_kserve_target_renders_a_valid_inference_service(loop_applied: Path) -> None:
    edit_file(loop_applied / STAGING, "  target: local", "  target: kserve")
    with (loop_applied / "mlops.yaml").open("a") as project:
        project.write("  targets: {kserve: {version: '0.21'}}\n")
    commit_all(loop_applied, "staging on kserve")
    done = run_cli("--repo", loop_applied, "apply", "--now", NOW)
    assert done.code == 0, done.seen
    rendered = loop_applied / "rendered/kserve/cancer-staging.yaml"
    text = rendered.read_text()
    assert text.startswith("# Rendered by mlops-gitops from the specs; do not edit by hand.\n")
    manifest = yaml.safe_load(text)
    assert_valid(manifest)
    assert manifest["kind"] == "InferenceService"
    assert manifest["metadata"]["name"] == "cancer-staging"
    predictor = manifest["spec"]["predictor"]
    assert predictor["canaryTrafficPercent"] == 50
    assert predictor["model"]["modelFormat"] == {"name": "skops", "version": "1"}
    assert predictor["model"]["runtime"] == "mlops-gitops-skops"
    state = json.loads((loop_applied / ".mlops/state/deployments/cancer-staging.json").read_text())
    assert predictor["model"]["storageUri"] == state["serving"]["canary"]["storage_uri"]
    assert predictor["model"]["storageUri"] == ".mlops/artifacts/kserve/cancer-detector/1.2.0/"
    assert (loop_applied / ".mlops/artifacts/kserve/cancer-detector/1.2.0/model.skops").is_file()
    assert state["serving"]["manifest"] == "rendered/kserve/cancer-staging.yaml"
    annotations = manifest["metadata"]["annotations"]
    assert annotations["mlops-gitops/stable-version"] == "1.1.0"
    assert annotations["mlops-gitops/canary-version"] == "1.2.0"
    assert "rendered/kserve/cancer-staging.yaml" in commit_files(loop_applied)
    assert "artifact store is a local folder" in done.out

    # Deterministic: rendering the same desired state again gives the same bytes.
    edit_file(loop_applied / STAGING, "  target: kserve", "  target: local")
    commit_all(loop_applied, "back to local")
    assert run_cli("--repo", loop_applied, "apply", "--now", NOW).code == 0
    assert not rendered.exists()  # the old target stops serving
    assert "rendered/kserve/cancer-staging.yaml" in commit_files(loop_applied)
    edit_file(loop_applied / STAGING, "  target: local", "  target: kserve")
    commit_all(loop_applied, "kserve again")
    assert run_cli("--repo", loop_applied, "apply", "--now", NOW).code == 0
    assert rendered.read_text() == text


def test_kserve_manifest_follows_promotion_and_undeploy(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    repo = engine_repo_v1(root)
    init_git(root)
    assert run_cli("--repo", root, "apply", "--now", NOW).code == 0
    path = root / "rendered/kserve/alpha-prod.yaml"
    first = yaml.safe_load(path.read_text())
    assert_valid(first)
    assert first["spec"]["predictor"]["canaryTrafficPercent"] == 10
    assert first["spec"]["predictor"]["model"]["resources"]["requests"] == {
        "cpu": "1",
        "memory": "1Gi",
    }
    engine_repo_v2(repo)
    commit_all(root, "v2")
    assert run_cli("--repo", root, "apply", "--now", NOW).code == 0
    second = yaml.safe_load(path.read_text())
    assert_valid(second)
    predictor = second["spec"]["predictor"]
    assert "canaryTrafficPercent" not in predictor
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (2, 4)
    assert second["metadata"]["annotations"]["mlops-gitops/stable-version"] == "1.1.0"

    # A tombstone undeploys it: the manifest is removed and the removal committed.
    SpecRepo(root).remove("deployments/alpha-prod.yaml")
    (root / "deployments/alpha-prod.yaml").write_text(
        "apiVersion: mlops-gitops/v1\nkind: Tombstone\nmetadata: {name: alpha-prod}\n"
        "spec: {kind: Deployment, reason: moved to another cluster}\n"
    )
    commit_all(root, "remove alpha-prod")
    plan = run_cli("--repo", root, "plan", "--now", NOW)
    assert "- undeploy Deployment/alpha-prod 1.1.0" in plan.out
    assert "replaced by a tombstone" in plan.out
    assert run_cli("--repo", root, "apply", "--now", NOW).code == 0
    assert not path.exists()
    assert "rendered/kserve/alpha-prod.yaml" in commit_files(root)
    record = json.loads((root / ".mlops/state/deployments/alpha-prod.json").read_text())
    assert record["status"] == "undeployed"
    assert run_cli("--repo", root, "plan", "--detailed-exitcode", "--now", NOW).code == 0
