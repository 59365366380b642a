"""Times plan and status as whole processes on large synthetic repositories.

Run: .venv/bin/python benchmarks/bench_plan.py [--models 5000] [--runs 3] [--shared-artifact]
Targets (2-core machine): cold plan <= 5 s, unchanged plan <= 1 s with 5,000 models x 4
versions and 5,000 deployments; status --format json of 300 models x 20 versions <= 0.5 s.

`--shared-artifact` measures only the cold plan (no cache) of 5,000 models x 4 versions whose
versions all name one skops file (a real scikit-learn model): the cost of scanning the same
content 20,000 times, which must be scanned once (target <= 5 s).

The first run of each command is shown apart: it is the only one that finds no cache in
`.git/mlops-gitops/` (parsed spec files, artifact hashes). "no cache" runs set
MLOPS_GITOPS_NO_CACHE=1, as a fresh CI checkout would be.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _env import child_env

CLI = [sys.executable, "-m", "mlops_gitops"]
PROJECT = """apiVersion: mlops-gitops/v1
kind: Project
metadata: {name: bench}
"""
MODEL_HEAD = """apiVersion: mlops-gitops/v1
kind: Model
metadata: {{name: model-{i}}}
spec:
  task: classification
  versions:
"""
VERSION = """    - version: "1.{v}.0"
      artifact: artifacts/model-{i}/1.{v}.0/model.onnx
      format: onnx
      metrics: {{roc_auc: 0.9{v}}}
"""
DEPLOYMENT = """apiVersion: mlops-gitops/v1
kind: Deployment
metadata: {{name: deploy-{i}}}
spec:
  model: model-{i}
  stage: production
  version: "1.{stable}.0"
  canary: {{version: "1.{canary}.0", traffic: 10}}
  promotion:
    gates: {{roc_auc: ">= 0.90"}}
"""
ENV = child_env()


def onnx_bytes(name: str) -> bytes:
    """A minimal ONNX ModelProto (ir_version, a named graph, opset 17): it passes the content
    check of the `onnx` format without the onnx package."""
    graph = b"\x12" + bytes([len(name)]) + name.encode()
    return b"\x08\x08" + b"\x3a" + bytes([len(graph)]) + graph + b"\x42\x02\x10\x11"


SHARED_VERSION = """    - version: "1.{v}.0"
      artifact: artifacts/shared/model.skops
      format: skops
      metrics: {{roc_auc: 0.9{v}}}
"""


def write_shared_repo(root: Path, models: int, versions: int) -> None:
    """Every version of every model names the same skops file."""
    import skops.io
    from sklearn.linear_model import LogisticRegression

    (root / "models").mkdir(parents=True)
    (root / "deployments").mkdir()
    (root / "mlops.yaml").write_text(PROJECT)
    model = LogisticRegression().fit([[0.0, 1.0], [1.0, 0.0], [0.5, 0.2]], [0, 1, 0])
    (root / "artifacts" / "shared").mkdir(parents=True)
    (root / "artifacts" / "shared" / "model.skops").write_bytes(skops.io.dumps(model))
    for i in range(models):
        body = MODEL_HEAD.format(i=i) + "".join(SHARED_VERSION.format(v=v) for v in range(versions))
        (root / "models" / f"model-{i}.yaml").write_text(body)
        (root / "deployments" / f"deploy-{i}.yaml").write_text(
            DEPLOYMENT.format(i=i, stable=versions - 2, canary=versions - 1)
        )


def write_repo(root: Path, models: int, versions: int, deployments: int) -> None:
    (root / "models").mkdir(parents=True)
    (root / "deployments").mkdir()
    (root / "mlops.yaml").write_text(PROJECT)
    for i in range(models):
        body = MODEL_HEAD.format(i=i) + "".join(VERSION.format(i=i, v=v) for v in range(versions))
        (root / "models" / f"model-{i}.yaml").write_text(body)
        for v in range(versions):
            artifact = root / "artifacts" / f"model-{i}" / f"1.{v}.0" / "model.onnx"
            artifact.parent.mkdir(parents=True)
            artifact.write_bytes(onnx_bytes(f"model {i} {v}"))
    for i in range(deployments):
        (root / "deployments" / f"deploy-{i}.yaml").write_text(
            DEPLOYMENT.format(i=i, stable=versions - 2, canary=versions - 1)
        )


def cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cli(root: Path, *args: str, check: bool = True, cache: bool = True) -> float:
    """Wall time; the CPU time the run took is added to CPU_TIMES."""
    start, cpu = time.perf_counter(), cpu_of_children()
    done = subprocess.run(
        [*CLI, "--repo", str(root), *args],
        env=ENV if cache else {**ENV, "MLOPS_GITOPS_NO_CACHE": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    elapsed = time.perf_counter() - start
    CPU_TIMES.append(cpu_of_children() - cpu)
    if check and done.returncode not in (0, 2):
        raise SystemExit(f"{args} failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
    return elapsed


CPU_TIMES: list[float] = []
"""User + system time of each run: what a loaded machine does not inflate much."""


def figures(times: list[float], cpu: list[float]) -> str:
    return (
        f"best {min(times):6.2f} s  median {statistics.median(times):6.2f} s "
        f"(cpu best {min(cpu):5.2f} s)"
    )


def timed(root: Path, runs: int, *args: str) -> str:
    """The first run apart (it fills the caches), then the best and median of the others."""
    first = cli(root, *args)
    first_cpu = CPU_TIMES[-1]
    times = [cli(root, *args) for _ in range(max(runs - 1, 1))]
    cpu = CPU_TIMES[-len(times) :]
    return f"first {first:6.2f} s (cpu {first_cpu:5.2f} s), then {figures(times, cpu)}"


def uncached(root: Path, runs: int, *args: str) -> str:
    times = [cli(root, *args, cache=False) for _ in range(runs)]
    return figures(times, CPU_TIMES[-len(times) :])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--shared-artifact", action="store_true")
    args = parser.parse_args()
    if args.shared_artifact:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "shared"
            write_shared_repo(root, args.models, 4)
            subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True, env=ENV)
            print(f"{args.models} models x 4 versions sharing one skops file")
            print(f"cold plan, no cache  {uncached(root, args.runs, 'plan')}")
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "big"
        write_repo(root, args.models, 4, args.models)
        subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True, env=ENV)
        print(f"{args.models} models x 4 versions, {args.models} deployments")
        print(f"cold plan, no cache  {uncached(root, args.runs, 'plan')}")
        print(f"cold plan            {timed(root, args.runs, 'plan')}")
        start = time.perf_counter()
        cli(root, "apply", "--no-commit")
        print(f"(apply took {time.perf_counter() - start:.1f} s)")
        print(f"unchanged plan       {timed(root, args.runs, 'plan')}")
        print(f"status --format json {timed(root, args.runs, 'status', '--format', 'json')}")
        print(f"unchanged, no cache  {uncached(root, args.runs, 'plan')}")

        wide = Path(tmp) / "wide"
        write_repo(wide, 300, 20, 300)
        subprocess.run(["git", "init", "-q", "-b", "main", str(wide)], check=True, env=ENV)
        cli(wide, "apply", "--no-commit")
        shutil.rmtree(wide / ".git" / "mlops-gitops", ignore_errors=True)
        print("300 models x 20 versions (6,000 versions)")
        print(f"status --format json {timed(wide, args.runs, 'status', '--format', 'json')}")


if __name__ == "__main__":
    main()
