"""Times `validate`, `compile` and `--help` as whole processes on a 10,000-file repository.

Run: .venv/bin/python benchmarks/bench_validate.py [--files 10000]
Targets on a 2-core machine: validate 10,000 files in at most 3 s; --help in at most 150 ms.

"no cache" runs set MLOPS_GITOPS_NO_CACHE=1 (a fresh checkout); the others reuse the parse
cache that the first of them writes (shown apart): outside git, in $XDG_CACHE_HOME/mlops-gitops/.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _env import child_env
from _synth import write_repo

CLI = [sys.executable, "-m", "mlops_gitops"]


def cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(
    args: list[str], runs: int, env: dict[str, str] | None = None
) -> tuple[list[float], list[float]]:
    """Wall times, and user + system times (which a loaded machine inflates less)."""
    times, cpu = [], []
    for _ in range(runs):
        start, used = time.perf_counter(), cpu_of_children()
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL, env=env)
        times.append(time.perf_counter() - start)
        cpu.append(cpu_of_children() - used)
    return times, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--templates", action="store_true", help="deployments as *.yaml.j2 templates"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        per = (args.files - 1) // 5
        count = write_repo(
            root,
            models=per * 2,
            versions=4,
            deployments=per * 2,
            rules=per,
            templates=args.templates,
        )
        print(
            f"repository: {count} spec files ({per * 2} models x 4 versions, {per * 2} "
            f"deployments{' (templates)' if args.templates else ''}, {per} rules)"
        )
        no_cache = child_env(MLOPS_GITOPS_NO_CACHE="1")
        validate = [*CLI, "--repo", tmp, "validate"]
        compile_ = [*CLI, "--repo", tmp, "compile", "-o", str(root / "target")]
        for label, cmd, env, runs in (
            ("--help", [*CLI, "--help"], child_env(), args.runs),
            ("validate, no cache", validate, no_cache, args.runs),
            ("compile, no cache", compile_, no_cache, args.runs),
            ("validate, first", validate, child_env(), 1),
            ("validate, cached", validate, child_env(), args.runs),
            ("compile, cached", compile_, child_env(), args.runs),
        ):
            times, cpu = timed(cmd, runs, env)
            print(
                f"{label:20s} best {min(times) * 1000:8.1f} ms   "
                f"median {statistics.median(times) * 1000:8.1f} ms   "
                f"(cpu best {min(cpu) * 1000:8.1f} ms)"
            )


if __name__ == "__main__":
    main()
