"""Times `validate`, `compile` and `--help` as whole processes on a 10,000-file repository.

Run: .venv/bin/python benchmarks/bench_validate.py [--files 10000]
Targets on a 2-core machine: validate 10,000 files in at most 3 s; --help in at most 150 ms.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _synth import write_repo

CLI = [sys.executable, "-m", "mlops_gitops"]


def timed(args: list[str], runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        per = (args.files - 1) // 5
        count = write_repo(root, models=per * 2, versions=4, deployments=per * 2, rules=per)
        print(
            f"repository: {count} spec files ({per * 2} models x 4 versions, "
            f"{per * 2} deployments, {per} rules)"
        )
        for label, cmd in (
            ("--help", [*CLI, "--help"]),
            ("validate", [*CLI, "--repo", tmp, "validate"]),
            ("compile", [*CLI, "--repo", tmp, "compile", "-o", str(root / "target")]),
        ):
            best, median = timed(cmd, args.runs)
            print(f"{label:10s} best {best * 1000:8.1f} ms   median {median * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
