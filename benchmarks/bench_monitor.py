"""Times `monitor` as a whole process: 1,000,000 records x 25 features (Parquet and JSON lines)
and a 10,000,000-record window (Parquet), each the median of several runs.

Run: .venv/bin/python benchmarks/bench_monitor.py [--records 1000000] [--big 10000000]
     [--formats parquet,jsonl] [--runs 3] [--data DIR] [--compare DIR]

Targets (2-core machine): 1M Parquet records at most 3 s and 400 MB peak RSS; 1M JSONL records
at most 6 s and 600 MB; a 10M-record window at most 30 s and 1 GB. Every run starts from the
recorded state of a fresh clone (no monitor state, no report), with the reference profile
already stored. `--compare DIR` runs the same data with the package found in DIR (a checkout of
main, say), alternating the runs of both, and prints the ratio; `--data DIR` keeps the generated
logs between invocations (writing 1M JSON lines takes minutes). Peak RSS is the child's VmHWM
(getrusage's maxrss would carry the parent's high-water mark across fork and exec).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _env import PROJECT, child_env

NUMERIC = [f"n{i}" for i in range(20)]
CATEGORICAL = [f"c{i}" for i in range(5)]
ENV = child_env()


def features(rows: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data: dict[str, object] = {}
    for i, name in enumerate(NUMERIC):
        data[name] = rng.normal(i + (shift if i < 5 else 0.0), 1.0 + i / 10, rows)
    for i, name in enumerate(CATEGORICAL):
        categories = np.array([f"cat{k}" for k in range(4 + i)])
        data[name] = categories[rng.integers(0, len(categories), rows)]
    return pd.DataFrame(data)


def _core(written: int, rows: int) -> pd.DataFrame:
    base = pd.Timestamp("2026-11-01", tz="UTC")
    return pd.DataFrame(
        {
            "timestamp": base + pd.to_timedelta(np.arange(written, written + rows), unit="s"),
            "request_id": [f"r{i}" for i in range(written, written + rows)],
            "model_version": "1.0.0",
            "prediction": np.random.default_rng(written).integers(0, 2, rows),
            "score": np.random.default_rng(written + 1).random(rows),
            "latency_ms": np.random.default_rng(written + 2).lognormal(1.5, 0.3, rows),
            "error": None,
        }
    )


def _jsonl_chunk(handle: object, core: pd.DataFrame, frame: pd.DataFrame) -> None:
    stamps = core["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ").tolist()
    records = frame.to_dict("records")
    write = handle.write  # type: ignore[attr-defined]
    for i in range(len(frame)):
        record = {
            "timestamp": stamps[i],
            "request_id": core["request_id"].iat[i],
            "model_version": "1.0.0",
            "features": records[i],
            "prediction": int(core["prediction"].iat[i]),
            "score": float(core["score"].iat[i]),
            "latency_ms": float(core["latency_ms"].iat[i]),
            "error": None,
        }
        write(json.dumps(record) + "\n")


def write_repo(root: Path, log_format: str, records: int, window: int) -> None:
    for folder in ("models", "deployments", "data", "logs/bench"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "mlops.yaml").write_text(
        "apiVersion: mlops-gitops/v1\nkind: Project\nmetadata: {name: bench}\n"
    )
    (root / "models" / "m.yaml").write_text(
        "apiVersion: mlops-gitops/v1\nkind: Model\nmetadata: {name: m}\nspec:\n"
        "  task: classification\n  versions:\n"
        '    - {version: "1.0.0", artifact: a.onnx, format: onnx,'
        " reference_data: data/reference.parquet}\n"
    )
    (root / "deployments" / "bench.yaml").write_text(
        "apiVersion: mlops-gitops/v1\nkind: Deployment\nmetadata: {name: bench}\nspec:\n"
        '  model: m\n  stage: production\n  version: "1.0.0"\n'
        f"  monitoring: {{predictions: logs/bench/, window: {{records: {window}}}}}\n"
    )
    features(1_000_000, 1).to_parquet(root / "data" / "reference.parquet")
    chunk, written, writer = 1_000_000, 0, None
    jsonl = open(root / "logs/bench/predictions.jsonl", "w") if log_format == "jsonl" else None  # noqa: SIM115
    while written < records:
        rows = min(chunk, records - written)
        frame, core = features(rows, 2 + written, shift=0.5), _core(written, rows)
        if jsonl is not None:
            _jsonl_chunk(jsonl, core, frame)
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(
                pd.concat([core, frame.add_prefix("feature.")], axis=1), preserve_index=False
            )
            if writer is None:
                writer = pq.ParquetWriter(root / "logs/bench/predictions.parquet", table.schema)
            writer.write_table(table, row_group_size=200_000)
        written += rows
    if writer is not None:
        writer.close()
    if jsonl is not None:
        jsonl.close()
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True, env=ENV)


CHILD = (
    "import sys\n"
    "from mlops_gitops.cli import main\n"
    "args = ['--repo', sys.argv[1], 'monitor', '--no-commit', '--now', '2026-12-31']\n"
    "rc = main(args)\n"
    "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')]\n"
    "print('RSS', hwm[0].split()[1], file=sys.stderr)\n"
    "sys.exit(rc)\n"
)


def fresh(root: Path) -> None:
    """The state of a fresh clone: no monitor state, no report, no local cache."""
    for path in (root / ".mlops/state/monitor", root / "reports", root / ".mlops/cache"):
        shutil.rmtree(path, ignore_errors=True)


def run_monitor(root: Path, code: Path) -> tuple[float, float, float]:
    """Wall seconds, the child's peak RSS in MB and its CPU seconds (user + system: less
    sensitive than wall time to other work on a shared machine), with the package in `code`."""
    fresh(root)
    env = {**ENV, "PYTHONPATH": str(code)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(root)],
        env=env,
        cwd=root.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    rss = [line for line in done.stderr.splitlines() if line.startswith("RSS")]
    return elapsed, int(rss[-1].split()[1]) / 1024 if rss else float("nan"), cpu


def measure(root: Path, codes: dict[str, Path], runs: int) -> dict[str, tuple[float, ...]]:
    """Medians per package. Runs alternate between the packages, so a change in the machine's
    load during the measurement weighs on both alike."""
    for code in codes.values():
        run_monitor(root, code)  # stores the reference profile: later runs measure monitoring
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in codes}
    for _ in range(runs):
        for name, code in codes.items():
            results[name].append(run_monitor(root, code))
    return {
        name: tuple(statistics.median(r[i] for r in found) for i in range(3))
        for name, found in results.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--big", type=int, default=0, help="also a Parquet window this big")
    parser.add_argument("--formats", default="parquet,jsonl", help="log formats to time")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--data", type=Path, help="keep generated repositories here")
    parser.add_argument("--compare", type=Path, help="also time the package in this folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data or Path(tmp)
        cases = [(f, args.records) for f in args.formats.split(",")]
        if args.big:
            cases.append(("parquet", args.big))
        codes = {"this": PROJECT} | ({"compare": args.compare} if args.compare else {})
        print(f"median of {args.runs} runs; command: {' '.join(sys.argv)}")
        for log_format, size in cases:
            root = data / f"{log_format}-{size}"
            if not (root / "logs").exists():
                start = time.perf_counter()
                write_repo(root, log_format, size, window=size)
                print(f"{log_format} {size:,}: wrote in {time.perf_counter() - start:.0f} s")
            figures = measure(root, codes, args.runs)
            line = f"{log_format} {size:,} records, window {size:,}: "
            line += ", ".join(
                f"{n} {t:.2f} s ({c:.2f} s CPU) {m:.0f} MB" for n, (t, m, c) in figures.items()
            )
            if "compare" in figures:
                (t0, m0, c0), (t1, m1, c1) = figures["this"], figures["compare"]
                line += f"; ratio time {t0 / t1:.2f}, CPU {c0 / c1:.2f}, memory {m0 / m1:.2f}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
