"""Prometheus text exposition of request counts, errors, latency histograms, refusals and
prediction-log cuts."""

from __future__ import annotations

import threading
from collections import defaultdict

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str], int] = defaultdict(int)
        self.errors: dict[tuple[str, str], int] = defaultdict(int)
        self.bad: dict[str, int] = defaultdict(int)
        self.buckets: dict[tuple[str, str], list[int]] = {}
        self.sums: dict[tuple[str, str], float] = defaultdict(float)
        self.protocols: dict[tuple[str, str], int] = defaultdict(int)
        self.refusals: dict[str, int] = defaultdict(int)
        self.dropped: dict[tuple[str, str], int] = defaultdict(int)
        self.truncated: dict[str, int] = defaultdict(int)

    def observe(self, deployment: str, version: str, seconds: float, failed: bool) -> None:
        key = (deployment, version)
        with self._lock:
            self.requests[key] += 1
            if failed:
                self.errors[key] += 1
            counts = self.buckets.setdefault(key, [0] * len(BUCKETS))
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    counts[i] += 1
            self.sums[key] += seconds

    def bad_request(self, deployment: str) -> None:
        with self._lock:
            self.bad[deployment] += 1

    def protocol(self, deployment: str, protocol: str) -> None:
        with self._lock:
            self.protocols[(deployment, protocol)] += 1

    def refused(self, reason: str) -> None:
        """A request refused before any deployment was chosen (auth, size, timeouts)."""
        with self._lock:
            self.refusals[reason] += 1

    def log_dropped(self, deployment: str, reason: str, count: int) -> None:
        with self._lock:
            self.dropped[(deployment, reason)] += count

    def log_truncated(self, deployment: str, count: int) -> None:
        with self._lock:
            self.truncated[deployment] += count

    def _counters(self) -> list[str]:
        lines = [
            "# HELP mlops_protocol_requests_total Prediction requests by deployment and protocol.",
            "# TYPE mlops_protocol_requests_total counter",
        ]
        for (d, p), n in sorted(self.protocols.items()):
            lines.append(f'mlops_protocol_requests_total{{deployment="{d}",protocol="{p}"}} {n}')
        lines += [
            "# HELP mlops_refused_requests_total Requests refused by the server's limits.",
            "# TYPE mlops_refused_requests_total counter",
        ]
        for reason, n in sorted(self.refusals.items()):
            lines.append(f'mlops_refused_requests_total{{reason="{reason}"}} {n}')
        lines += [
            "# HELP mlops_log_records_dropped_total Prediction records not logged.",
            "# TYPE mlops_log_records_dropped_total counter",
        ]
        for (d, reason), n in sorted(self.dropped.items()):
            labels = f'deployment="{d}",reason="{reason}"'
            lines.append(f"mlops_log_records_dropped_total{{{labels}}} {n}")
        lines += [
            "# HELP mlops_log_records_truncated_total Prediction records logged with values cut.",
            "# TYPE mlops_log_records_truncated_total counter",
        ]
        for d, n in sorted(self.truncated.items()):
            lines.append(f'mlops_log_records_truncated_total{{deployment="{d}"}} {n}')
        return lines

    def render(self) -> str:
        lines = [
            "# HELP mlops_requests_total Prediction requests by deployment and version.",
            "# TYPE mlops_requests_total counter",
        ]
        with self._lock:
            for (d, v), n in sorted(self.requests.items()):
                lines.append(f'mlops_requests_total{{deployment="{d}",version="{v}"}} {n}')
            lines += [
                "# HELP mlops_request_errors_total Requests whose prediction failed.",
                "# TYPE mlops_request_errors_total counter",
            ]
            for (d, v), n in sorted(self.errors.items()):
                lines.append(f'mlops_request_errors_total{{deployment="{d}",version="{v}"}} {n}')
            lines += [
                "# HELP mlops_bad_requests_total Requests rejected with 400.",
                "# TYPE mlops_bad_requests_total counter",
            ]
            for d, n in sorted(self.bad.items()):
                lines.append(f'mlops_bad_requests_total{{deployment="{d}"}} {n}')
            lines += [
                "# HELP mlops_request_seconds Prediction latency.",
                "# TYPE mlops_request_seconds histogram",
            ]
            for (d, v), counts in sorted(self.buckets.items()):
                labels = f'deployment="{d}",version="{v}"'
                for bound, count in zip(BUCKETS, counts, strict=True):
                    lines.append(f'mlops_request_seconds_bucket{{{labels},le="{bound}"}} {count}')
                total = self.requests[(d, v)]
                lines.append(f'mlops_request_seconds_bucket{{{labels},le="+Inf"}} {total}')
                lines.append(f"mlops_request_seconds_sum{{{labels}}} {self.sums[(d, v)]:.6f}")
                lines.append(f"mlops_request_seconds_count{{{labels}}} {total}")
            lines += self._counters()
        return "\n".join(lines) + "\n"
