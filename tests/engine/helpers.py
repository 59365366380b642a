"""Helpers for the reconcile-engine tests: spec values in memory, spec repos on disk, git, CLI.

Two layers:

- in memory: `project()`, `model()`, `deployment()`, `manifest()` build the typed objects the
  planner reads; `synced_state()` is the recorded state an apply of that manifest leaves;
- on disk: `SpecRepo` writes small repositories (safetensors artifacts of random bytes, which
  need no scan and load instantly: `safetensors_bytes`) and commits them in a git repository
  whose environment is isolated from the machine (`git_env`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mlops_gitops.compile.manifest import Manifest
from mlops_gitops.plan.planner import (
    ArtifactFact,
    PlanInputs,
    deployment_config,
    plan,
    version_digest,
)
from mlops_gitops.spec import models as m
from mlops_gitops.state.records import (
    CanaryRecord,
    DeploymentRecord,
    Meta,
    ModelRecord,
    Revision,
    ScanRecord,
    VersionRecord,
)
from mlops_gitops.state.view import StateView

PROJECT_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_REPO = PROJECT_ROOT / "example-repo"
GOLDEN = PROJECT_ROOT / "tests" / "golden"
API = "mlops-gitops/v1"
NOW = "2026-03-01T12:00:00+00:00"
GIT_DATE = "2026-03-01T12:00:00+00:00"
LINEAGE = "00000000-0000-4000-8000-000000000000"

# ---------------------------------------------------------------- in-memory specs


def project(**spec: Any) -> m.Project:
    return m.Project.model_validate(
        {"apiVersion": API, "kind": "Project", "metadata": {"name": "test"}, "spec": spec}
    )


def version(v: str, fmt: str = "safetensors", **extra: Any) -> dict[str, Any]:
    return {"version": v, "format": fmt} | extra


def model(name: str, *versions: dict[str, Any] | str, task: str = "classification") -> m.Model:
    entries = [version(v) if isinstance(v, str) else v for v in versions]
    for entry in entries:
        entry.setdefault("artifact", f"artifacts/{name}/{entry['version']}/model.bin")
    return m.Model.model_validate(
        {
            "apiVersion": API,
            "kind": "Model",
            "metadata": {"name": name},
            "spec": {"task": task, "versions": entries},
        }
    )


def deployment(
    name: str,
    model_name: str,
    stable: str,
    *,
    stage: str = "production",
    canary: tuple[str, int] | None = None,
    gates: Mapping[str, str] | None = None,
    requires_stage: str | None = None,
    **spec: Any,
) -> m.Deployment:
    data: dict[str, Any] = {"model": model_name, "stage": stage, "version": stable} | spec
    if canary is not None:
        data["canary"] = {"version": canary[0], "traffic": canary[1]}
    promotion: dict[str, Any] = {}
    if gates:
        promotion["gates"] = dict(gates)
    if requires_stage:
        promotion["requires_stage"] = requires_stage
    if promotion:
        data["promotion"] = promotion
    return m.Deployment.model_validate(
        {"apiVersion": API, "kind": "Deployment", "metadata": {"name": name}, "spec": data}
    )


def tombstone(name: str) -> m.Tombstone:
    return m.Tombstone.model_validate(
        {
            "apiVersion": API,
            "kind": "Tombstone",
            "metadata": {"name": name},
            "spec": {"kind": "Deployment"},
        }
    )


def manifest(
    models: Iterable[m.Model] = (),
    deployments: Iterable[m.Deployment] = (),
    *,
    proj: m.Project | None = None,
    tombstones: Iterable[m.Tombstone] = (),
) -> Manifest:
    models = list(models)
    deployments = list(deployments)
    tombstones = list(tombstones)
    sources = {"Project/test": "mlops.yaml"}
    sources |= {f"Model/{x.metadata.name}": f"models/{x.metadata.name}.yaml" for x in models}
    sources |= {
        f"Deployment/{x.metadata.name}": f"deployments/{x.metadata.name}.yaml" for x in deployments
    }
    return Manifest(
        project=proj or project(),
        models={x.metadata.name: x for x in models},
        deployments={x.metadata.name: x for x in deployments},
        rules={},
        retirements={},
        pipelines={},
        tombstones={x.metadata.name: x for x in tombstones},
        sources=sources,
        inputs_sha256="0" * 64,
    )


def sha_of(model_name: str, v: str) -> str:
    """The sha256 a fake artifact of (model, version) has in these tests."""
    return hashlib.sha256(f"{model_name}@{v}".encode()).hexdigest()


def fact(model_name: str, v: str, **overrides: Any) -> ArtifactFact:
    base: dict[str, Any] = {
        "exists": True,
        "sha256": sha_of(model_name, v),
        "size": 100,
        "scan_verdict": "not-needed",
        "scanner": "none",
    }
    return ArtifactFact(**(base | overrides))


def facts_for(man: Manifest, **overrides: ArtifactFact) -> dict[tuple[str, str], ArtifactFact]:
    """A clean fact for every version in the manifest; override by `"model@version"` keys."""
    out = {}
    for name, mod in man.models.items():
        for entry in mod.spec.versions:
            out[(name, entry.version)] = fact(name, entry.version)
    for key, value in overrides.items():
        name, _, v = key.partition("@")
        out[(name, v)] = value
    return out


def version_record(
    man: Manifest,
    model_name: str,
    v: str,
    *,
    stages: Mapping[str, str] | None = None,
    status: str = "registered",
    sha256: str | None = None,
) -> VersionRecord:
    spec = man.version(model_name, v)
    assert spec is not None, (model_name, v)
    sha = sha256 or sha_of(model_name, v)
    return VersionRecord(
        version=v,
        status=status,  # type: ignore[arg-type]
        sha256=sha,
        size=100,
        format=spec.format,
        source=spec.artifact,
        blob=f"sha256/{sha[:2]}/{sha[2:]}",
        registered_at=NOW,
        archived_at=NOW if status == "archived" else None,
        metrics=dict(spec.metrics),
        spec_digest=version_digest(spec),
        scan=ScanRecord(scanner="none", scanner_version="-", verdict="not-needed"),
        stages=dict(stages or {}),
    )


def deployment_record(
    dep: m.Deployment, *, history: Sequence[str] = (), status: str = "deployed"
) -> DeploymentRecord:
    """The record an apply of `dep` leaves; `history` lists earlier stable versions."""
    config = deployment_config(dep.spec)
    canary = CanaryRecord(**config["canary"]) if config["canary"] else None
    revisions = [
        Revision(revision=i + 1, action="deploy", version=v, time=NOW)
        for i, v in enumerate([*history, dep.spec.version])
    ]
    revisions[-1] = revisions[-1].model_copy(update={"canary": canary})
    return DeploymentRecord(
        name=dep.metadata.name,
        model=dep.spec.model,
        status=status,  # type: ignore[arg-type]
        version=dep.spec.version,
        canary=canary,
        settings=config["settings"],
        history=revisions,
        updated_at=NOW,
    )


def synced_state(man: Manifest, *, serial: int = 1, lineage: str = LINEAGE) -> StateView:
    """The recorded state after every step of the manifest's plan was applied."""
    models: dict[str, ModelRecord] = {}
    stages: dict[tuple[str, str], dict[str, str]] = {}
    for dep in man.deployments.values():
        used = [dep.spec.version] + ([dep.spec.canary.version] if dep.spec.canary else [])
        for v in used:
            stages.setdefault((dep.spec.model, v), {})[dep.spec.stage] = NOW
    for name, mod in man.models.items():
        versions = {
            e.version: version_record(man, name, e.version, stages=stages.get((name, e.version)))
            for e in mod.spec.versions
        }
        models[name] = ModelRecord(name=name, task=mod.spec.task, versions=versions)
    deployments = {name: deployment_record(dep) for name, dep in man.deployments.items()}
    meta = Meta(lineage=lineage, serial=serial, updated_at=NOW)
    return StateView(models=models, deployments=deployments, meta=meta)


def with_records(
    state: StateView,
    models: Iterable[ModelRecord] = (),
    deployments: Iterable[DeploymentRecord] = (),
    drop_deployments: Iterable[str] = (),
) -> StateView:
    new_models = dict(state.models) | {r.name: r for r in models}
    new_deps = dict(state.deployments) | {r.name: r for r in deployments}
    for name in drop_deployments:
        new_deps.pop(name, None)
    return StateView(models=new_models, deployments=new_deps, meta=state.meta)


def with_version(state: StateView, model_name: str, record: VersionRecord) -> StateView:
    current = state.models[model_name]
    updated = current.model_copy(
        update={"versions": dict(current.versions) | {record.version: record}}
    )
    return with_records(state, models=[updated])


def make_plan(
    man: Manifest,
    state: StateView | None = None,
    *,
    facts: Mapping[tuple[str, str], ArtifactFact] | None = None,
    **kwargs: Any,
) -> Any:
    from datetime import datetime

    return plan(
        PlanInputs(
            manifest=man,
            state=state or StateView(),
            now=datetime.fromisoformat(NOW),
            facts=facts_for(man) if facts is None else facts,
            **kwargs,
        )
    )


# ---------------------------------------------------------------- git and processes


def git_env(home: Path) -> dict[str, str]:
    """An environment isolated from the machine's git configuration, with fixed dates."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("GIT_", "MLOPS_GITOPS_"))
    }
    home.mkdir(parents=True, exist_ok=True)
    env |= {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Test Author",
        "GIT_AUTHOR_EMAIL": "author@example.com",
        "GIT_AUTHOR_DATE": GIT_DATE,
        "GIT_COMMITTER_NAME": "Test Committer",
        "GIT_COMMITTER_EMAIL": "committer@example.com",
        "GIT_COMMITTER_DATE": GIT_DATE,
        "NO_COLOR": "1",
        "PYTHONHASHSEED": "0",
    }
    return env


def git(repo: Path, *args: str, env: Mapping[str, str] | None = None) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args],
        env=dict(env) if env is not None else None,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {done.stderr}")
    return done.stdout


def init_git(repo: Path, env: Mapping[str, str], message: str = "Initial specs") -> None:
    git(repo, "init", "-q", "-b", "main", env=env)
    git(repo, "add", "-A", env=env)
    git(repo, "commit", "-q", "-m", message, env=env)


def commit_all(repo: Path, message: str, env: Mapping[str, str]) -> str:
    git(repo, "add", "-A", env=env)
    git(repo, "commit", "-q", "-m", message, env=env)
    return git(repo, "rev-parse", "HEAD", env=env).strip()


@dataclass(frozen=True)
class Done:
    code: int
    out: str
    err: str

    @property
    def seen(self) -> str:
        return self.out + self.err


def cli(repo: Path, *args: str, env: Mapping[str, str], timeout: float = 120) -> Done:
    """`python -m mlops_gitops --repo repo args` in a fresh process."""
    done = subprocess.run(
        [sys.executable, "-m", "mlops_gitops", "--no-color", "--repo", str(repo), *args],
        env=dict(env),
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
    return Done(done.returncode, done.stdout, done.stderr)


def state_files(repo: Path, state_dir: str = ".mlops/state") -> dict[str, str]:
    root = repo / state_dir
    return {
        p.relative_to(root).as_posix(): p.read_text()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def trailers(repo: Path, env: Mapping[str, str], key: str = "Mlops-Step") -> list[str]:
    """Values of one trailer over the whole history, oldest first."""
    out = git(repo, "log", "--reverse", "--format=%B%x1e", env=env)
    found = []
    for body in out.split("\x1e"):
        for line in body.splitlines():
            if line.startswith(f"{key}: "):
                found.append(line.split(": ", 1)[1])
    return found


# ---------------------------------------------------------------- spec repositories on disk


def dump_yaml(data: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(data), sort_keys=False, default_flow_style=False)


@dataclass
class SpecRepo:
    """A small spec repository written from Python values."""

    root: Path
    project_spec: dict[str, Any] = field(default_factory=dict)

    def write_project(self, **spec: Any) -> None:
        """The Project; it pins the KServe version unless `targets` is given."""
        spec = {"targets": KSERVE_PROJECT["targets"]} | spec
        self.project_spec = spec
        self._write(
            "mlops.yaml",
            {"apiVersion": API, "kind": "Project", "metadata": {"name": "test"}, "spec": spec},
        )
        ignore = ".mlops/artifacts/\n.mlops/apply.lock\n.mlops/journal.json\n"
        (self.root / ".gitignore").write_text(ignore)

    def artifact(self, rel: str, data: bytes) -> str:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return hashlib.sha256(data).hexdigest()

    def write_model(
        self, name: str, versions: Sequence[Mapping[str, Any]], task: str = "classification"
    ) -> None:
        self._write(
            f"models/{name}.yaml",
            {
                "apiVersion": API,
                "kind": "Model",
                "metadata": {"name": name},
                "spec": {"task": task, "versions": [dict(v) for v in versions]},
            },
        )

    def write_deployment(self, name: str, spec: Mapping[str, Any]) -> None:
        self._write(
            f"deployments/{name}.yaml",
            {"apiVersion": API, "kind": "Deployment", "metadata": {"name": name}, "spec": spec},
        )

    def remove(self, rel: str) -> None:
        (self.root / rel).unlink()

    def _write(self, rel: str, data: Mapping[str, Any]) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dump_yaml(data))


def copy_example(dest: Path, env: Mapping[str, str]) -> Path:
    """A git repository holding a copy of example-repo (with its skops models).

    The Project's policies are left out: these tests are about the reconcile loop, and
    policies such as `min_time_in_stage` would need a clock that moves between applies
    (policies have tests of their own).
    """
    shutil.copytree(EXAMPLE_REPO, dest, ignore=shutil.ignore_patterns("__pycache__"))
    project = dest / "mlops.yaml"
    lines = project.read_text().splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith("  policies:"))
    end = start + 1
    while end < len(lines) and (lines[end].startswith("    ") or not lines[end].strip()):
        end += 1
    project.write_text("".join([*lines[:start], *lines[end:]]))
    init_git(dest, env)
    return dest


def edit_file(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, count))


_SHA40 = re.compile(r"\b[0-9a-f]{40}\b")
_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")


def normalize(text: str, repo: Path | None = None) -> str:
    """Replace commit shas, lineages and temporary paths so golden files are stable."""
    if repo is not None:
        for real in {str(repo.resolve()), str(repo)}:
            text = text.replace(real, "<repo>")
    text = _SHA40.sub("<commit>", text)
    return _UUID.sub("<lineage>", text)


def read_json(text: str) -> Any:
    return json.loads(text)


# ---------------------------------------------------------------- artifact files


def safetensors_bytes(payload: bytes) -> bytes:
    """A well-formed safetensors file holding `payload` as one uint8 tensor: it passes the
    content check of the `safetensors` format, needs no scan and loads instantly."""
    size = len(payload)
    header = {"weights": {"dtype": "U8", "shape": [size], "data_offsets": [0, size]}}
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + payload


# ---------------------------------------------------------------- the crash-test repository


def tensor_artifact(repo: SpecRepo, model_name: str, v: str) -> dict[str, Any]:
    """A safetensors artifact of fixed pseudo-random bytes: no scan needed, loads instantly."""
    rel = f"artifacts/{model_name}/{v}.safetensors"
    repo.artifact(rel, safetensors_bytes(hashlib.sha256(f"{model_name}@{v}".encode()).digest() * 8))
    return {"version": v, "artifact": rel, "format": "safetensors", "metrics": {"roc_auc": 0.95}}


@functools.cache
def onnx_bytes(seed: str, features: int = 3) -> bytes:
    """A real ONNX model (output = input @ W + b, W from the seed): loads in onnxruntime and
    passes onnx.checker; the same seed gives the same bytes."""
    import onnx
    from onnx import TensorProto, helper

    weights = [(b % 7) / 7.0 for b in hashlib.sha256(seed.encode()).digest()[:features]]
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["input", "W"], ["product"]),
            helper.make_node("Add", ["product", "B"], ["output"]),
        ],
        "linear",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", features])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 1])],
        [
            helper.make_tensor("W", TensorProto.FLOAT, [features, 1], weights),
            helper.make_tensor("B", TensorProto.FLOAT, [1], [0.5]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def onnx_artifact(repo: SpecRepo, model_name: str, v: str) -> dict[str, Any]:
    """An ONNX artifact (a tiny linear model): no scan needed, loadable by every runtime."""
    rel = f"artifacts/{model_name}/{v}.onnx"
    repo.artifact(rel, onnx_bytes(f"{model_name}@{v}"))
    return {"version": v, "artifact": rel, "format": "onnx", "metrics": {"roc_auc": 0.95}}


KSERVE_PROJECT = {"targets": {"kserve": {"version": "0.21"}}}
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
