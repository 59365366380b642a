"""Predictions: several requests' rows in one call into the model, failures kept apart."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlops_gitops.serve.models import Loaded

MAX_BATCH_ROWS = 256
"""Most instances one call into a model predicts (a request larger than this runs alone)."""


@dataclass
class Outcome:
    predictions: list[Any]
    probabilities: list[Any] | None
    error: str | None = None
    bad_input: bool = False


def _frame(rows: list[list[Any]], features: list[str] | None) -> Any:
    if features is None:
        return np.asarray(rows)
    import pandas as pd

    return pd.DataFrame(rows, columns=features)


def _infer(model: Loaded, rows: list[list[Any]]) -> tuple[list[Any], list[Any] | None]:
    x = rows if model.rows_as == "rows" else _frame(rows, model.features)
    if model.prepare is not None:
        x = model.prepare(x)
    predictions = np.asarray(model.predict(x)).tolist()
    probabilities = np.asarray(model.proba(x)).tolist() if model.proba is not None else None
    if len(predictions) != len(rows):
        raise RuntimeError(f"the model returned {len(predictions)} predictions for {len(rows)}")
    return predictions, probabilities


def infer_groups(model: Loaded, groups: list[list[list[Any]]]) -> list[Outcome]:
    """Predict the rows of several requests in one call into the model.

    If the joint call fails, each request is predicted alone, so one request's bad input
    fails only that request. A ValueError or TypeError of a request predicted alone means
    its instances do not fit the model (a 400); anything else is the model's error (a 500).
    """
    rows = [row for group in groups for row in group]
    try:
        predictions, probabilities = _infer(model, rows)
    except Exception as exc:
        if len(groups) > 1:
            return [out for group in groups for out in infer_groups(model, [group])]
        bad = isinstance(exc, (ValueError, TypeError))
        return [Outcome([None] * len(rows), None, f"{type(exc).__name__}: {exc}", bad)]
    outcomes, start = [], 0
    for group in groups:
        end = start + len(group)
        outcomes.append(
            Outcome(
                predictions[start:end],
                probabilities[start:end] if probabilities is not None else None,
            )
        )
        start = end
    return outcomes


class Batcher:
    """One loaded model's predictions, batched without waiting.

    Requests that arrive while a batch runs go together into the next one, so concurrent
    single-instance requests share one call into the model: a scikit-learn call costs far
    more in input validation than in arithmetic, nearly the same for 1 row as for 100. A
    lone request runs at once; the model runs in a worker thread, off the event loop.
    """

    def __init__(self, model: Loaded, max_rows: int = MAX_BATCH_ROWS) -> None:
        self.model = model
        self.max_rows = max_rows
        self._queue: deque[tuple[list[list[Any]], asyncio.Future[Outcome]]] = deque()
        self._task: asyncio.Task[None] | None = None

    async def predict(self, rows: list[list[Any]]) -> Outcome:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Outcome] = loop.create_future()
        self._queue.append((rows, future))
        if self._task is None:
            self._task = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch = [self._queue.popleft()]
                total = len(batch[0][0])
                while self._queue and total + len(self._queue[0][0]) <= self.max_rows:
                    total += len(self._queue[0][0])
                    batch.append(self._queue.popleft())
                groups = [rows for rows, _ in batch]
                try:
                    outcomes = await asyncio.to_thread(infer_groups, self.model, groups)
                except BaseException as exc:  # never leave a request waiting
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    raise
                for (_, future), outcome in zip(batch, outcomes, strict=True):
                    if not future.done():  # the client may have gone away
                        future.set_result(outcome)
        finally:
            self._task = None
