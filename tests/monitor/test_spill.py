"""Exact values spilled to a temporary file while a window is read: read back bit for bit, the
file kept within twice the live values, and a run's memory no longer holding the window."""

from __future__ import annotations

import errno
import gc
import io
import os
import pickle
import tempfile
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlops_gitops import api
from mlops_gitops.monitor import engine, spill
from mlops_gitops.monitor.summary import Quantiles
from tests.monitor.helpers import NOW, MonitorRepo, read_report

LIMIT, K = 1_000_000, 200


def test_spilled_values_read_back_exactly_and_travel_as_data() -> None:
    rng = np.random.default_rng(3)
    parts: list[np.ndarray[Any, Any]] = [
        rng.normal(size=5_000),
        rng.normal(size=7_000).astype(np.float32),
        np.arange(9.0),
    ]
    with spill.spilling():
        quantiles = Quantiles()
        for part in parts:
            quantiles.add(part, LIMIT, K)
    kinds = [type(v) for v in quantiles.values]
    assert kinds == [spill.Spilled, spill.Spilled, np.ndarray]  # the small part stays
    everything = np.concatenate([p.astype(np.float64) for p in parts])
    assert np.array_equal(quantiles.array(), everything)
    assert np.array_equal(quantiles.sorted_array(), np.sort(everything))
    copy = pickle.loads(pickle.dumps(quantiles))  # to a Dask worker or back: arrays, no file
    assert all(isinstance(v, np.ndarray) for v in copy.values)
    assert np.array_equal(copy.sorted_array(), np.sort(everything))


def test_outside_spilling_values_stay_in_memory() -> None:
    quantiles = Quantiles()
    quantiles.add(np.arange(100_000.0), LIMIT, K)
    assert isinstance(quantiles.values[0], np.ndarray)


def test_dropped_parts_are_compacted_away(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spill, "COMPACT_BYTES", 1 << 20)
    file = spill.SpillFile(spill._temporary())
    rng = np.random.default_rng(4)
    kept: list[tuple[spill.Spilled, np.ndarray[Any, Any]]] = []
    for i in range(200):  # 200 x 64 KB written, one part in ten kept
        values = rng.normal(size=8_192)
        part = file.put(values)
        assert part is not None
        if i % 10 == 0:
            kept.append((part, values))
        del part
        gc.collect(0)  # the young generation holds the part just dropped; a full pass costs seconds
        assert os.fstat(file.file.fileno()).st_size <= 2 * file.live + (1 << 20) + 65_536
    assert file.live == len(kept) * 65_536
    for part, values in kept:
        assert np.array_equal(part.load(), values)


class FillingFile(io.BufferedRandom):
    """A temporary file on a disk with `room` bytes left."""

    room = 0

    def write(self, data: Any) -> int:
        size = memoryview(data).nbytes
        if size > FillingFile.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        FillingFile.room -= size
        return super().write(data)


def filling() -> io.BufferedRandom:
    handle, path = tempfile.mkstemp()
    os.unlink(path)
    return FillingFile(io.FileIO(handle, "w+b"))


def test_a_full_disk_while_compacting_keeps_every_part_readable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(spill, "COMPACT_BYTES", 1 << 40)  # none while the parts are written
    file = spill.SpillFile(spill._temporary())
    rng = np.random.default_rng(6)
    kept = []
    for i in range(40):  # 40 x 64 KB, one part in four kept: past the compaction threshold
        values = rng.normal(size=8_192)
        part = file.put(values)
        assert part is not None
        if i % 4 == 0:
            kept.append((part, values))
        del part
        gc.collect(0)
    FillingFile.room = 3 * 65_536  # the fresh file fills up in the middle of the copy
    monkeypatch.setattr(spill, "_temporary", filling)
    monkeypatch.setattr(spill, "COMPACT_BYTES", 0)  # the next put compacts first
    assert file.put(rng.normal(size=8_192)) is None  # kept in memory by its caller
    for part, values in kept:
        assert np.array_equal(part.load(), values)


def test_no_temporary_file_means_values_stay_in_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    def refused() -> io.BufferedRandom:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(spill, "_temporary", refused)
    with spill.spilling():
        quantiles = Quantiles()
        quantiles.add(np.arange(100_000.0), LIMIT, K)
    assert isinstance(quantiles.values[0], np.ndarray)


def _parquet_repo(root: Path, rows: int) -> MonitorRepo:
    spec = MonitorRepo(root)
    spec.deployment("clf-prod", monitoring={"predictions": "logs/", "window": {"records": rows}})
    rng = np.random.default_rng(5)
    frame = pd.DataFrame(
        {
            "timestamp": pd.Timestamp("2026-11-27", tz="UTC")
            + pd.to_timedelta(np.arange(rows) * 0.05, unit="s"),
            "model_version": "1.0.0",
            "prediction": rng.integers(0, 2, rows),
            "score": rng.random(rows),
            "latency_ms": rng.lognormal(1.5, 0.3, rows),
            "feature.x": rng.normal(10.0, 2.0, rows),
            "feature.colour": rng.choice(["red", "green", "blue"], rows),
        }
    )
    (root / "logs").mkdir()
    frame.to_parquet(root / "logs" / "part-0.parquet", index=False, row_group_size=50_000)
    return spec


def test_a_window_is_not_held_in_memory_and_the_report_is_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """400,000 records: x and latency are 6.4 MB of exact float64 values. Arrow's own memory
    is not traced: what is measured is what the window keeps in numpy."""
    peaks: dict[str, int] = {}
    reports: dict[str, Any] = {}
    original = engine.run_local

    def traced(*args: Any) -> Any:
        tracemalloc.start()
        try:
            return original(*args)
        finally:
            peaks[name] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()

    monkeypatch.setattr(engine, "run_local", traced)
    for name, min_bytes in (("spilled", spill.MIN_BYTES), ("held", 1 << 62)):
        monkeypatch.setattr(spill, "MIN_BYTES", min_bytes)
        spec = _parquet_repo(tmp_path / name, 400_000)
        api.monitor(spec.root, now=NOW, commit=False)
        reports[name] = read_report(spec.root, "clf-prod")
    assert reports["spilled"] == reports["held"]
    assert reports["spilled"]["window"]["records"] == 400_000
    assert peaks["held"] - peaks["spilled"] > 5_500_000  # most of the 6.4 MB is on disk
