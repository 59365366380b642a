"""The simulation bar of the canary analysis, at full size.

(a) 1,000 A/A canaries (no real difference), each analysed 24 times as data accrues: the
    share aborted must stay at most alpha + 0.01.
(b) A real 2-point accuracy loss with 5,000 records per version: aborted, never promoted, in
    at least 90% of runs.

    .venv/bin/python benchmarks/bench_sequential.py
"""

from __future__ import annotations

import time

from mlops_gitops.automate.simulation import simulate

ALPHA = 0.05


def main() -> None:
    started = time.perf_counter()
    for base in (0.95, 0.90):
        aa = simulate(1000, 24, 5000, base, base, margin=0.01, alpha=ALPHA, seed=1)
        print(
            f"(a) A/A at accuracy {base:.2f}, 1000 runs x 24 looks: aborted "
            f"{aa.abort_share:.3f} (bar <= {ALPHA + 0.01:.2f}), promoted {aa.promote_share:.3f}"
        )
        loss = simulate(1000, 24, 5000, base, base - 0.02, margin=0.01, alpha=ALPHA, seed=2)
        print(
            f"(b) 2-point loss {base:.2f} -> {base - 0.02:.2f}, 5000 per version, 1000 runs: "
            f"aborted {loss.abort_share:.3f} (bar >= 0.90), promoted {loss.promote_share:.3f}"
        )
    print(f"{time.perf_counter() - started:.1f}s")


if __name__ == "__main__":
    main()
