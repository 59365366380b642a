"""The server's state and the steps every prediction takes, whatever its protocol.

The served set is read from recorded state; when an apply changes it, a new set is loaded
in the background and swapped in whole, so requests in flight finish on the old models and
none fail. A prediction is routed (404 unknown, 503 not ready), its rows checked against
the model, predicted in a batch, counted and logged, with the log bounded.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlops_gitops.serve.batch import Outcome, infer_groups
from mlops_gitops.serve.limits import Limits
from mlops_gitops.serve.logs import bounded, line, scalar
from mlops_gitops.serve.metrics import Metrics
from mlops_gitops.serve.models import Loaded
from mlops_gitops.serve.registry import Registry, Served, build_registry, choose, state_signature

RELOAD_SECONDS = 1.0
LOG_BYTES_PER_REQUEST = 1024 * 1024
"""Most bytes of prediction records one request writes; the records past it are counted as
dropped (a large batch is logged in part, never verbatim without bound)."""
OFF_LOOP_ROWS = 64
"""Requests with more rows than this are logged in a worker thread, off the event loop."""


class HttpError(Exception):
    """A request that gets an error answer: its status and the message that names why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Server:
    def __init__(
        self, repo_root: Path, freeze_gc: bool = False, limits: Limits | None = None
    ) -> None:
        self.root = repo_root
        self.limits = limits or Limits()
        self.metrics = Metrics()
        self.registry: Registry = build_registry(repo_root, {})
        self._stop = threading.Event()
        self._reloader: threading.Thread | None = None
        self.freeze_gc = freeze_gc
        """Keep the loaded models and libraries out of the cyclic garbage collector: with
        them in, each full collection walks every object and stalls requests for up to
        ~150 ms; frozen, it takes a few ms. (A process-wide setting: the `serve` command.)"""
        if freeze_gc:
            gc.collect()
            gc.freeze()

    def start_reloader(self) -> None:
        self._reloader = threading.Thread(target=self._watch, name="reload", daemon=True)
        self._reloader.start()

    def _watch(self) -> None:
        state_dir = self.root / ".mlops" / "state"
        try:
            from mlops_gitops.workspace import Workspace

            state_dir = Workspace.load(self.root).state_store.root
        except Exception:
            pass
        while not self._stop.wait(RELOAD_SECONDS):
            try:
                if state_signature(state_dir) == self.registry.signature:
                    continue
                old = self.registry
                logs = {n: s.log for n, s in old.deployments.items() if s.log is not None}
                self.registry = build_registry(self.root, logs)  # swapped whole
                if self.freeze_gc:
                    gc.freeze()  # the new models too
                for served in old.deployments.values():
                    if served.log is not None and all(
                        s.log is not served.log for s in self.registry.deployments.values()
                    ):
                        served.log.close()
            except Exception:
                continue  # keep serving the last good set

    def close(self) -> None:
        self._stop.set()
        for served in self.registry.deployments.values():
            if served.log is not None:
                served.log.close()

    def lookup(self, name: str) -> Served:
        """A ready deployment: 404 when there is none of that name, 503 when not ready."""
        served = self.registry.deployments.get(name)
        if served is None:
            raise HttpError(404, f"no deployment {name!r}")
        if not served.ready:
            raise HttpError(503, f"deployment {name!r} is not ready: {served.error or 'loading'}")
        return served

    def check_request_id(self, request_id: str | None) -> None:
        if request_id is not None and len(request_id) > self.limits.max_request_id:
            raise HttpError(
                400,
                f"the request id has {len(request_id)} characters; at most "
                f"{self.limits.max_request_id} are accepted",
            )

    def predict(self, name: str, body: Any, request_id: str | None) -> dict[str, Any]:
        """One V1 request, predicted alone in the calling thread (for tests and tools)."""
        from mlops_gitops.serve import v1

        served = self.lookup(name)
        model = choose(served, request_id)
        rows = v1.rows(body, model, self.limits.max_instances)  # body: already parsed
        start = time.perf_counter()
        (outcome,) = infer_groups(model, [rows])
        self.record(served, model, rows, outcome, request_id, start)
        return v1.answer(outcome, model)

    async def infer(
        self, served: Served, model: Loaded, rows: list[list[Any]], request_id: str | None
    ) -> Outcome:
        """Predict in the model's batch; counted and logged. Raises HttpError 400 or 500."""
        start = time.perf_counter()
        outcome = await served.batcher(model).predict(rows)
        if len(rows) > OFF_LOOP_ROWS:
            await asyncio.to_thread(self.record, served, model, rows, outcome, request_id, start)
        else:
            self.record(served, model, rows, outcome, request_id, start)
        return outcome

    def record(
        self,
        served: Served,
        model: Loaded,
        rows: list[list[Any]],
        outcome: Outcome,
        request_id: str | None,
        start: float,
    ) -> None:
        """Count and log a finished prediction; raise the request's error, if any."""
        elapsed = time.perf_counter() - start
        if outcome.bad_input:
            raise HttpError(400, f"the instances do not fit the model: {outcome.error}")
        error = outcome.error
        self.metrics.observe(served.name, model.version, elapsed, error is not None)
        if served.log is not None:
            self._log(served, model, rows, outcome, request_id, elapsed)
        if error is not None:
            raise HttpError(500, f"prediction failed: {error}")

    def _log(
        self,
        served: Served,
        model: Loaded,
        rows: list[list[Any]],
        outcome: Outcome,
        request_id: str | None,
        elapsed: float,
    ) -> None:
        assert served.log is not None
        now = datetime.now(UTC).isoformat()
        base = request_id or uuid.uuid4().hex
        latency = round(elapsed * 1000.0 / len(rows), 3)
        names = model.features or [f"x{j}" for j in range(max(len(r) for r in rows))]
        probabilities = outcome.probabilities
        lines: list[str] = []
        size, cut = 0, 0
        for i, row in enumerate(rows):
            features, shortened = bounded(dict(zip(names, row, strict=False)))
            prediction, long_prediction = scalar(outcome.predictions[i])
            cut += shortened or long_prediction
            score = None
            if probabilities is not None and len(probabilities[i]) == 2:
                score, _ = scalar(float(probabilities[i][1]))
            text = line(
                {
                    "timestamp": now,
                    "request_id": base if len(rows) == 1 else f"{base}-{i}",
                    "model_version": model.version,
                    "features": features,
                    "prediction": prediction,
                    "score": score,
                    "latency_ms": latency,
                    "error": outcome.error,
                }
            )
            size += len(text)
            if size > LOG_BYTES_PER_REQUEST and lines:
                self.metrics.log_dropped(served.name, "request_budget", len(rows) - i)
                break
            lines.append(text)
        if cut:
            self.metrics.log_truncated(served.name, cut)
        if not served.log.append_lines(lines):
            self.metrics.log_dropped(served.name, "buffer_full", len(lines))
