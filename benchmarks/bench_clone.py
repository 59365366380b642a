"""Times plan, status, validate on fresh clones of an applied repository (no cache anywhere).

Run: .venv/bin/python benchmarks/bench_clone.py --source DIR [--runs 5] [--python PY ...]

DIR is a git repository whose specs were applied and the state committed (bench_plan.py
--keep DIR makes one: 5,000 models x 4 versions, 5,000 deployments). Every run clones DIR
anew (`git clone --no-hardlinks`), so `.git/mlops-gitops/` holds nothing and the page cache is
the only thing warm. "after one-model commit" edits one model's metrics in the clone, commits,
then plans. Targets (issue 13, 2-core machine): plan <= 1.0 s, status --format json <= 0.3 s,
validate <= 2 s, plan after a one-model commit <= 1.0 s.

Several `--python` interpreters (each with its own checkout of mlops-gitops installed) are
measured in turn on the same clones, run by run, so their ratio holds on a noisy machine.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ENV = {
    **os.environ,
    "GIT_CONFIG_NOSYSTEM": "1",
    "NO_COLOR": "1",
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--python", action="append", default=[])
    args = parser.parse_args()
    pythons = args.python or [os.environ.get("PYTHON", "python")]
    cases = [*COMMANDS, "plan after one-model commit"]
    walls: dict[tuple[str, str], list[float]] = {}
    cpus: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-clone-") as tmp:
        for i in range(args.runs):
            for p, python in enumerate(pythons):
                for case in cases:
                    root = clone(args.source, Path(tmp) / f"c{i}-{p}-{len(walls)}-{case[:4]}")
                    if case == "plan after one-model commit":
                        one_model_commit(root)
                        wall, cpu = run(python, root, ["plan"])
                    else:
                        wall, cpu = run(python, root, COMMANDS[case])
                    walls.setdefault((python, case), []).append(wall)
                    cpus.setdefault((python, case), []).append(cpu)
                    subprocess.run(["rm", "-rf", str(root)], check=True)
    for case in cases:
        base = statistics.median(walls[(pythons[0], case)])
        for python in pythons:
            wall = statistics.median(walls[(python, case)])
            cpu = statistics.median(cpus[(python, case)])
            print(
                f"{case:28} {python:45} median {wall:6.2f} s (cpu {cpu:5.2f} s)"
                f"  ratio to first {wall / base:4.2f}"
            )


if __name__ == "__main__":
    main()
