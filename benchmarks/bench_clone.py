"""Times plan, status, validate on fresh clones of an applied repository (no cache anywhere).

Run: .venv/bin/python benchmarks/bench_clone.py --source DIR [--runs 5] [--python PY ...]

DIR is a git repository whose specs were applied and the state committed (for example
bench_plan.py's 5,000 models x 4 versions and 5,000 deployments, then `apply`). It is cloned
once (`git clone --no-hardlinks`: cloning 30,000 files takes minutes here); before every run the
clone's cache in `.git/mlops-gitops/` is removed, so each run finds what a fresh CI clone finds.
"after one-model commit" plans (keeping that run's cache, as CI would keep it), commits a change
to one model's metrics, times the next plan, then resets the commit. Targets (issue 13, 2-core
machine): plan <= 1.0 s, status --format json <= 0.3 s, validate <= 2 s, plan after a one-model
commit <= 1.0 s.

Several `--python` interpreters (each with its own checkout of mlops-gitops installed) are
measured in turn on the same clone, run by run, so their ratio holds on a noisy machine.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from _env import child_env

ENV = child_env(
    GIT_AUTHOR_NAME="bench",
    GIT_AUTHOR_EMAIL="bench@example.com",
    GIT_COMMITTER_NAME="bench",
    GIT_COMMITTER_EMAIL="bench@example.com",
)
COMMANDS = {
    "plan": ["plan"],
    "status --format json": ["status", "--format", "json"],
    "validate": ["validate"],
}


def cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(python: str, root: Path, args: list[str]) -> tuple[float, float]:
    """(wall, cpu) of one whole process."""
    start, cpu = time.perf_counter(), cpu_of_children()
    done = subprocess.run(
        [python, "-m", "mlops_gitops", "--repo", str(root), *args],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    wall = time.perf_counter() - start
    if done.returncode not in (0, 2, 3):
        raise SystemExit(f"{python} {args} failed: {done.stderr.decode()[-2000:]}")
    return wall, cpu_of_children() - cpu


def clone(source: Path, into: Path) -> Path:
    subprocess.run(
        ["git", "clone", "-q", "--no-hardlinks", str(source), str(into)], check=True, env=ENV
    )
    return into


def one_model_commit(root: Path) -> None:
    path = root / "models" / "model-0.yaml"
    text = path.read_text()
    path.write_text(re.sub(r"roc_auc: 0\.9(\d)", r"roc_auc: 0.8\1", text, count=1))
    subprocess.run(["git", "-C", str(root), "commit", "-qam", "one model"], check=True, env=ENV)


def no_cache(root: Path) -> None:
    """What a fresh clone has: nothing in the git common dir's cache."""
    shutil.rmtree(root / ".git" / "mlops-gitops", ignore_errors=True)


def measure(python: str, root: Path, case: str) -> tuple[float, float]:
    no_cache(root)
    if case != ONE_MODEL:
        return run(python, root, COMMANDS[case])
    run(python, root, ["plan"])  # the plan before the commit: its cache is what CI keeps
    one_model_commit(root)
    try:
        return run(python, root, ["plan"])
    finally:
        subprocess.run(["git", "-C", str(root), "reset", "-q", "--hard", "HEAD~1"], check=True)


ONE_MODEL = "plan after one-model commit"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--python", action="append", default=[])
    args = parser.parse_args()
    pythons = args.python or [os.environ.get("PYTHON", "python")]
    cases = [*COMMANDS, ONE_MODEL]
    walls: dict[tuple[str, str], list[float]] = {}
    cpus: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-clone-") as tmp:
        root = clone(args.source, Path(tmp) / "clone")
        for _ in range(args.runs):
            for case in cases:
                for python in pythons:
                    wall, cpu = measure(python, root, case)
                    walls.setdefault((python, case), []).append(wall)
                    cpus.setdefault((python, case), []).append(cpu)
    for case in cases:
        base = statistics.median(walls[(pythons[0], case)])
        for python in pythons:
            wall = statistics.median(walls[(python, case)])
            cpu = statistics.median(cpus[(python, case)])
            print(
                f"{case:28} {python:45} median {wall:6.2f} s (cpu {cpu:5.2f} s)"
                f"  ratio to first {wall / base:4.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
