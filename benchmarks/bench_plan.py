"""Times plan and status as whole processes on large synthetic repositories.

Run: .venv/bin/python benchmarks/bench_plan.py [--models 5000] [--runs 3]
Targets (2-core machine): cold plan <= 5 s, unchanged plan <= 1 s with 5,000 models x 4
versions and 5,000 deployments; status --format json of 300 models x 20 versions <= 0.5 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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
ENV = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "NO_COLOR": "1"}


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
            artifact.write_bytes(f"onnx model {i} {v}".encode() * 8)
    for i in range(deployments):
        (root / "deployments" / f"deploy-{i}.yaml").write_text(
            DEPLOYMENT.format(i=i, stable=versions - 2, canary=versions - 1)
        )


def cli(root: Path, *args: str, check: bool = True) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        [*CLI, "--repo", str(root), *args],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    elapsed = time.perf_counter() - start
    if check and done.returncode not in (0, 2):
        raise SystemExit(f"{args} failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
    return elapsed


def timed(root: Path, runs: int, *args: str) -> str:
    times = [cli(root, *args) for _ in range(runs)]
    return f"best {min(times):6.2f} s  median {statistics.median(times):6.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "big"
        write_repo(root, args.models, 4, args.models)
        subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True, env=ENV)
        print(f"{args.models} models x 4 versions, {args.models} deployments")
        print(f"cold plan           {timed(root, args.runs, 'plan')}")
        start = time.perf_counter()
        cli(root, "apply", "--no-commit")
        print(f"(apply took {time.perf_counter() - start:.1f} s)")
        print(f"unchanged plan      {timed(root, args.runs, 'plan')}")
        print(f"status --format json {timed(root, args.runs, 'status', '--format', 'json')}")

        wide = Path(tmp) / "wide"
        write_repo(wide, 300, 20, 300)
        subprocess.run(["git", "init", "-q", "-b", "main", str(wide)], check=True, env=ENV)
        cli(wide, "apply", "--no-commit")
        print("300 models x 20 versions (6,000 versions)")
        print(f"status --format json {timed(wide, args.runs, 'status', '--format', 'json')}")


if __name__ == "__main__":
    main()
