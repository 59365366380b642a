"""Repositories the tests start from: copies, and small spec repositories written from
Python values (`SpecRepo`) with safetensors artifacts of fixed bytes, which need no scan and
load instantly."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.support.artifacts import onnx_bytes, safetensors_bytes

PROJECT = Path(__file__).resolve().parents[2]
EXAMPLE_REPO = PROJECT / "example-repo"
SCHEMAS = PROJECT / "schemas"
API = "mlops-gitops/v1"


def copy_repo(source: Path, dest: Path, *, data: bool = True) -> Path:
    """A copy of a repository (git history, recorded state and artifact store included);
    without `data`, the models and data files that only training, serving and scans read."""
    ignored = ["__pycache__"] + ([] if data else ["*.skops", "*.csv"])
    shutil.copytree(source, dest, symlinks=True, ignore=shutil.ignore_patterns(*ignored))
    return dest


def edit_file(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, count))


def state_files(repo: Path, state_dir: str = ".mlops/state") -> dict[str, str]:
    """Every recorded state file by its path under the state folder."""
    root = repo / state_dir
    return {
        p.relative_to(root).as_posix(): p.read_text()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def dump_yaml(data: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(data), sort_keys=False, default_flow_style=False)


@dataclass
class SpecRepo:
    """A small spec repository written from Python values."""

    root: Path
    project_spec: dict[str, Any] = field(default_factory=dict)

    def write_project(self, name: str = "test", **spec: Any) -> None:
        """The Project; it pins the KServe version unless `targets` is given."""
        spec = {"targets": KSERVE_PROJECT["targets"]} | spec
        self.project_spec = spec
        self.write(
            "mlops.yaml",
            {"apiVersion": API, "kind": "Project", "metadata": {"name": name}, "spec": spec},
        )
        ignore = ".mlops/artifacts/\n.mlops/apply.lock\n.mlops/journal.json\n"
        (self.root / ".gitignore").write_text(ignore)

    def artifact(self, rel: str, data: bytes) -> str:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return hashlib.sha256(data).hexdigest()

    def tensor(self, model: str, version: str) -> dict[str, Any]:
        """A safetensors artifact of fixed pseudo-random bytes; its version entry."""
        rel = f"artifacts/{model}/{version}.safetensors"
        self.artifact(
            rel, safetensors_bytes(hashlib.sha256(f"{model}@{version}".encode()).digest() * 8)
        )
        return {"version": version, "artifact": rel, "format": "safetensors"}

    def write_model(
        self, name: str, versions: Sequence[Mapping[str, Any]], task: str = "classification"
    ) -> None:
        self.write(
            f"models/{name}.yaml",
            {
                "apiVersion": API,
                "kind": "Model",
                "metadata": {"name": name},
                "spec": {"task": task, "versions": [dict(v) for v in versions]},
            },
        )

    def write_deployment(self, name: str, spec: Mapping[str, Any]) -> None:
        self.write(
            f"deployments/{name}.yaml",
            {"apiVersion": API, "kind": "Deployment", "metadata": {"name": name}, "spec": spec},
        )

    def remove(self, rel: str) -> None:
        (self.root / rel).unlink()

    def write(self, rel: str, data: Mapping[str, Any]) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dump_yaml(data))


def tensor_artifact(repo: SpecRepo, model_name: str, v: str) -> dict[str, Any]:
    """A version entry with a safetensors artifact and a passing roc_auc."""
    return repo.tensor(model_name, v) | {"metrics": {"roc_auc": 0.95}}


def onnx_artifact(repo: SpecRepo, model_name: str, v: str) -> dict[str, Any]:
    """An ONNX artifact (a tiny linear model): no scan needed, loadable by every runtime."""
    rel = f"artifacts/{model_name}/{v}.onnx"
    repo.artifact(rel, onnx_bytes(f"{model_name}@{v}"))
    return {"version": v, "artifact": rel, "format": "onnx", "metrics": {"roc_auc": 0.95}}


KSERVE_PROJECT: dict[str, Any] = {"targets": {"kserve": {"version": "0.21"}}}
"""Project settings every repository with a kserve deployment needs."""


def engine_repo_v1(root: Path) -> SpecRepo:
    """Three models, four deployments (one on kserve), canaries and a requires_stage."""
    repo = SpecRepo(root)
    repo.write_project(prune=True, **KSERVE_PROJECT)
    repo.write_model("alpha", [onnx_artifact(repo, "alpha", v) for v in ("1.0.0", "1.1.0")])
    repo.write_model("beta", [tensor_artifact(repo, "beta", "1.0.0")])
    repo.write_model("gamma", [tensor_artifact(repo, "gamma", "1.0.0")])
    repo.write_deployment(
        "alpha-staging",
        {
            "model": "alpha",
            "stage": "staging",
            "version": "1.0.0",
            "canary": {"version": "1.1.0", "traffic": 20},
        },
    )
    repo.write_deployment(
        "alpha-prod",
        {
            "model": "alpha",
            "stage": "production",
            "target": "kserve",
            "version": "1.0.0",
            "canary": {"version": "1.1.0", "traffic": 10},
            "resources": {"cpu": "1", "memory": "1Gi"},
            "promotion": {"requires_stage": "staging", "gates": {"roc_auc": ">= 0.9"}},
        },
    )
    repo.write_deployment("beta-prod", {"model": "beta", "stage": "production", "version": "1.0.0"})
    repo.write_deployment(
        "gamma-web", {"model": "gamma", "stage": "development", "version": "1.0.0"}
    )
    return repo


def engine_repo_v2(repo: SpecRepo) -> None:
    """Edits touching every handler: register, promote, canary, settings, retire, undeploy."""
    repo.write_model(
        "alpha", [onnx_artifact(repo, "alpha", v) for v in ("1.0.0", "1.1.0", "1.2.0")]
    )
    repo.write_model("beta", [tensor_artifact(repo, "beta", "1.1.0")])
    repo.remove("models/gamma.yaml")
    repo.remove("deployments/gamma-web.yaml")
    repo.write_deployment(
        "alpha-staging",
        {
            "model": "alpha",
            "stage": "staging",
            "version": "1.1.0",
            "canary": {"version": "1.2.0", "traffic": 30},
        },
    )
    repo.write_deployment(
        "alpha-prod",
        {
            "model": "alpha",
            "stage": "production",
            "target": "kserve",
            "version": "1.1.0",
            "resources": {"cpu": "2", "memory": "1Gi"},
            "scaling": {"min_replicas": 2, "max_replicas": 4},
            "promotion": {"requires_stage": "staging", "gates": {"roc_auc": ">= 0.9"}},
        },
    )
    repo.write_deployment("beta-prod", {"model": "beta", "stage": "production", "version": "1.1.0"})
