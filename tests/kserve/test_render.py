"""The kserve target renders, per artifact format, an InferenceService for a runtime that loads
it, checked against KServe's CRDs; what it cannot make loadable is a validation error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops_gitops.spec.targets import KSERVE_VERSIONS, RUNTIMES
from tests.kserve.crd import PROJECT, assert_valid, crd_errors
from tests.kserve.support import artifact, kserve_repo
from tests.support.cli import run_in
from tests.support.git import commit_all, init_git
from tests.support.repos import SpecRepo, edit_file

NOW = "2026-06-01T12:00:00+00:00"
FORMATS = {"jobs": "joblib", "pickles": "pickle", "skopsy": "skops", "onnxy": "onnx"}
SHIPPED_RUNTIME = PROJECT / "deploy" / "kserve" / "clusterservingruntime-skops.yaml"


def rendered(root: Path, name: str) -> dict[str, Any]:
    text = (root / "rendered" / "kserve" / f"{name}.yaml").read_text()
    manifest: dict[str, Any] = yaml.safe_load(text)
    return manifest


def test_every_format_renders_for_a_runtime_that_loads_it(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    kserve_repo(root, FORMATS)
    init_git(root)
    done = run_in(root, "apply", "--now", NOW)
    assert done.code == 0, done.seen
    expected_files = {
        "joblib": ["model.joblib"],
        "pickle": ["model.pkl"],
        "skops": ["model.skops"],
        "onnx": ["onnxy/1/model.onnx", "onnxy/config.pbtxt"],
    }
    for model, fmt in FORMATS.items():
        manifest = rendered(root, f"{model}-prod")
        assert_valid(manifest)
        spec = manifest["spec"]["predictor"]["model"]
        runtime = RUNTIMES[fmt]
        assert spec["runtime"] == runtime.name
        assert spec["modelFormat"] == {"name": runtime.model_format, "version": "1"}
        assert spec["protocolVersion"] == runtime.protocol
        # The canary's own folder, with a trailing slash so 1.0 never matches 1.0.0's keys.
        assert spec["storageUri"] == f".mlops/artifacts/kserve/{model}/1.0.0/"
        for version in ("1.0", "1.0.0"):
            folder = root / ".mlops/artifacts/kserve" / model / version
            files = sorted(
                p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()
            )
            assert files == expected_files[fmt], (model, version)
        annotations = manifest["metadata"]["annotations"]
        assert annotations["mlops-gitops/stable-storage-uri"] == (
            f".mlops/artifacts/kserve/{model}/1.0/"
        )
        assert annotations["mlops-gitops/kserve-version"] == "0.21"
    config = root / ".mlops/artifacts/kserve/onnxy/1.0/onnxy/config.pbtxt"
    assert config.read_text() == 'name: "onnxy"\nbackend: "onnxruntime"\n'
    skops = rendered(root, "skopsy-prod")["spec"]["predictor"]["model"]
    env_vars = {item["name"]: item["value"] for item in skops["env"]}
    assert env_vars["MLOPS_GITOPS_TRUSTED_TYPES"] == "[]"
    assert len(env_vars["MLOPS_GITOPS_SHA256"]) == 64


def test_the_shipped_skops_runtime_is_valid_and_serves_what_the_renderer_names() -> None:
    runtime = yaml.safe_load(SHIPPED_RUNTIME.read_text())
    assert_valid(runtime)
    skops = RUNTIMES["skops"]
    assert runtime["metadata"]["name"] == skops.name
    formats = runtime["spec"]["supportedModelFormats"]
    assert {"name": skops.model_format, "version": skops.format_version} in [
        {"name": f["name"], "version": f["version"]} for f in formats
    ]
    assert skops.protocol in runtime["spec"]["protocolVersions"]
    args = runtime["spec"]["containers"][0]["args"]
    assert "--model_dir=/mnt/models" in args


def test_the_crd_check_rejects_unknown_and_mistyped_fields() -> None:
    runtime = yaml.safe_load(SHIPPED_RUNTIME.read_text())
    runtime["spec"]["supportedModelFormats"][0]["autoselect"] = True
    runtime["spec"]["containers"][0]["args"] = "--model_dir=/mnt/models"
    errors = crd_errors(runtime)
    assert any("autoselect" in e for e in errors), errors
    assert any("args" in e for e in errors), errors


def test_logger_url_enables_the_payload_logger(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    url = "http://logs.monitoring.svc.cluster.local/kserve"
    kserve_repo(root, {"jobs": "joblib"}, deployment={"monitoring": {"logger_url": url}})
    init_git(root)
    assert run_in(root, "apply", "--now", NOW).code == 0
    manifest = rendered(root, "jobs-prod")
    assert_valid(manifest)
    assert manifest["spec"]["predictor"]["logger"] == {
        "mode": "all",
        "url": url,
        "metadataAnnotations": ["mlops-gitops/stable-version", "mlops-gitops/canary-version"],
    }


def test_changing_the_pinned_version_or_the_logger_rerenders(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    kserve_repo(root, {"jobs": "joblib"})
    init_git(root)
    assert run_in(root, "apply", "--now", NOW).code == 0
    edit_file(root / "mlops.yaml", "version: '0.21'", "version: '0.20'")
    commit_all(root, "older cluster")
    plan = run_in(root, "plan", "--now", NOW)
    assert "update Deployment/jobs-prod" in plan.out, plan.seen
    assert "kserve_version changed" in plan.out
    assert run_in(root, "apply", "--now", NOW).code == 0
    annotations = rendered(root, "jobs-prod")["metadata"]["annotations"]
    assert annotations["mlops-gitops/kserve-version"] == "0.20"
    assert run_in(root, "plan", "--detailed-exitcode", "--now", NOW).code == 0


# ---------------------------------------------------------------- what validate refuses


def validate(root: Path) -> str:
    done = run_in(root, "validate")
    assert done.code == 1, done.seen
    return done.out


@pytest.mark.parametrize("fmt", ["pytorch", "safetensors", "python"])
def test_a_format_no_runtime_loads_is_a_validation_error(tmp_path: Path, fmt: str) -> None:
    root = tmp_path / "repo"
    repo = kserve_repo(root, {"jobs": "joblib"})
    versions = [artifact(repo, "jobs", "1.0", "joblib"), artifact(repo, "jobs", "1.0.0", "joblib")]
    versions[1] = versions[1] | {"format": fmt}
    repo.write_model("jobs", versions)
    out = validate(root)
    assert "deployments/jobs-prod.yaml:" in out
    assert f"has format '{fmt}', which target kserve cannot render" in out
    assert "spec.canary.version" in out


def test_stable_and_canary_need_the_same_runtime(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    repo = kserve_repo(root, {"jobs": "joblib"})
    repo.write_model(
        "jobs", [artifact(repo, "jobs", "1.0", "joblib"), artifact(repo, "jobs", "1.0.0", "onnx")]
    )
    out = validate(root)
    assert "different KServe runtimes (kserve-sklearnserver, kserve-tritonserver)" in out


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("9wine", "must start with a letter"),
        ("wine-", "must not end with '-'"),
    ],
)
def test_names_must_be_dns_1035_labels(tmp_path: Path, name: str, why: str) -> None:
    root = tmp_path / "repo"
    repo = kserve_repo(root, {"jobs": "joblib"})
    repo.remove("deployments/jobs-prod.yaml")
    repo.write_deployment(
        name, {"model": "jobs", "stage": "production", "target": "kserve", "version": "1.0"}
    )
    out = validate(root)
    assert f"deployments/{name}.yaml:" in out
    assert f"deployment name '{name}' cannot be used by target kserve" in out
    assert why in out
    assert not (root / "rendered").exists()


def test_model_names_must_be_dns_1035_labels(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    kserve_repo(root, {"0wine": "onnx"})
    out = validate(root)
    assert "model name '0wine' cannot be used by target kserve" in out


def test_target_kserve_needs_a_pinned_version(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    repo = kserve_repo(root, {"jobs": "joblib"})
    repo.write_project(targets={})
    out = validate(root)
    assert "spec.targets.kserve.version" in out
    assert ", ".join(KSERVE_VERSIONS) in out


def test_an_unknown_kserve_version_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    repo = kserve_repo(root, {"jobs": "joblib"})
    repo.write_project(targets={"kserve": {"version": "0.9"}})
    out = validate(root)
    assert "mlops.yaml:" in out
    assert "spec.targets.kserve.version: '0.9' is not a KServe release the renderer knows" in out
    assert ", ".join(KSERVE_VERSIONS) in out
    # YAML reads an unquoted 0.20 as the number 0.2: the hint says to quote it.
    text = (root / "mlops.yaml").read_text().replace("'0.9'", "0.20")
    (root / "mlops.yaml").write_text(text)
    out = validate(root)
    assert 'YAML read the unquoted 0.20 as the number 0.2; quote it: "0.20"' in out


def test_logger_url_on_another_target_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    repo = SpecRepo(root)
    repo.write_project()
    repo.write_model("jobs", [artifact(repo, "jobs", "1.0", "joblib")])
    repo.write_deployment(
        "jobs-dev",
        {
            "model": "jobs",
            "stage": "development",
            "version": "1.0",
            "monitoring": {"logger_url": "http://sink.local/"},
        },
    )
    out = validate(root)
    assert "logger_url configures KServe's payload logger" in out


def test_a_symlink_in_the_store_cannot_redirect_a_layout(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    kserve_repo(root, {"jobs": "joblib"})
    init_git(root)
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / ".mlops/artifacts/kserve").mkdir(parents=True)
    (root / ".mlops/artifacts/kserve/jobs").symlink_to(outside, target_is_directory=True)
    done = run_in(root, "apply", "--now", NOW)
    assert done.code == 1, done.seen
    assert (
        "is a symbolic link" in done.out and "never writes or deletes through symlinks" in done.out
    )
    assert list(outside.iterdir()) == []
    assert not (root / "rendered/kserve/jobs-prod.yaml").exists()
