"""Times `monitor` as a whole process on 1,000,000 records x 25 features (Parquet and JSONL).

Run: .venv/bin/python benchmarks/bench_monitor.py [--records 1000000] [--big 10000000]
Target (2-core machine): Parquet at most 6 s with peak RSS at most 600 MB. With --big, a
10,000,000-record Parquet log is processed in chunks with a 50,000-record window: peak RSS
should not grow with the log.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

NUMERIC = [f"n{i}" for i in range(20)]
CATEGORICAL = [f"c{i}" for i in range(5)]
ENV = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "NO_COLOR": "1"}


def features(rows: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data: dict[str, object] = {}
    for i, name in enumerate(NUMERIC):
        data[name] = rng.normal(i + (shift if i < 5 else 0.0), 1.0 + i / 10, rows)
    for i, name in enumerate(CATEGORICAL):
        categories = np.array([f"cat{k}" for k in range(4 + i)])
        data[name] = categories[rng.integers(0, len(categories), rows)]
    return pd.DataFrame(data)


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
    chunk = 1_000_000
    written = 0
    writer = None
    jsonl = open(root / "logs/bench/predictions.jsonl", "w") if log_format == "jsonl" else None  # noqa: SIM115
    while written < records:
        rows = min(chunk, records - written)
        frame = features(rows, 2 + written, shift=0.5)
        base = pd.Timestamp("2026-11-01", tz="UTC")
        core = pd.DataFrame(
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
        if jsonl is not None:
            stamps = core["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ").tolist()
            records_ = frame.to_dict("records")
            for i in range(rows):
                jsonl.write(
                    json.dumps(
                        {
                            "timestamp": stamps[i],
                            "request_id": core["request_id"].iat[i],
                            "model_version": "1.0.0",
                            "features": records_[i],
                            "prediction": int(core["prediction"].iat[i]),
                            "score": float(core["score"].iat[i]),
                            "latency_ms": float(core["latency_ms"].iat[i]),
                            "error": None,
                        }
                    )
                    + "\n"
                )
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


def run_monitor(root: Path) -> tuple[float, float]:
    """Wall seconds and the child's peak RSS in MB (VmHWM: getrusage's maxrss would carry
    the parent's high-water mark across fork and exec)."""
    start = time.perf_counter()
    code = (
        "import sys\n"
        "from mlops_gitops.cli import main\n"
        "args = ['--repo', sys.argv[1], 'monitor', '--no-commit', '--now', '2026-12-31']\n"
        "rc = main(args)\n"
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')]\n"
        "print('RSS', hwm[0].split()[1], file=sys.stderr)\n"
        "sys.exit(rc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(root)], env=ENV, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    rss = [line for line in done.stderr.splitlines() if line.startswith("RSS")]
    return elapsed, int(rss[-1].split()[1]) / 1024 if rss else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--big", type=int, default=0, help="also run a chunked log this big")
    parser.add_argument("--formats", default="parquet,jsonl", help="log formats to time")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for log_format in args.formats.split(","):
            root = Path(tmp) / log_format
            start = time.perf_counter()
            write_repo(root, log_format, args.records, window=args.records)
            took = time.perf_counter() - start
            print(f"{log_format}: wrote {args.records:,} records in {took:.0f} s")
            first = run_monitor(root)
            print(f"  first run (profiles the 1,000,000-row reference): {first[0]:.2f} s,")
            print(f"    peak RSS {first[1]:.0f} MB")
            cache = root / ".mlops" / "cache" / "monitor"
            for p in cache.iterdir() if cache.exists() else []:
                p.unlink()
            for p in (root / ".mlops" / "state" / "monitor").glob("*.json"):
                p.unlink()
            second = run_monitor(root)
            print(f"  with the stored profile: {second[0]:.2f} s, peak RSS {second[1]:.0f} MB")
        if args.big:
            for size in (args.big // 10, args.big):
                root = Path(tmp) / f"big-{size}"
                write_repo(root, "parquet", size, window=50_000)
                result = run_monitor(root)
                print(f"parquet {size:,} records, window 50,000: {result[0]:.1f} s,")
                print(f"    peak RSS {result[1]:.0f} MB")


if __name__ == "__main__":
    main()
