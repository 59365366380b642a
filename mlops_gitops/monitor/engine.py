"""Engines: read the partitions of a window and summarise them, here or on a Dask cluster.

Both engines run the same functions: each partition (one log file from its watermark) is read
batch by batch into a :class:`~.window.Window` of its own, and the windows are merged. The
local engine does this in this process, one partition after another; the Dask engine sends each
partition to a worker of an existing cluster (``dask.distributed``) and merges what the workers
send back on the client. Results are equal except where a sketch is used, and then within its
rank error (merging sketches in another order gives another sketch of the same data).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlops_gitops.errors import MlopsError
from mlops_gitops.monitor.prepare import Rows, SummaryPlan, prepare
from mlops_gitops.monitor.readers import Partition, PartitionRead, Watermark, read_partition
from mlops_gitops.monitor.records import Malformed
from mlops_gitops.monitor.spill import spilling
from mlops_gitops.monitor.summary import WindowSummary
from mlops_gitops.monitor.window import Piece, Policy, Window

CONNECT_TIMEOUT = "30s"


@dataclass(frozen=True)
class Job:
    """Everything a worker needs besides the partition: plain data, sent once per cluster."""

    plan: SummaryPlan
    policy: Policy
    not_after: float


def read_window(part: Partition, job: Job) -> tuple[Window, PartitionRead]:
    """One partition, read and summarised into a window of its own (runs on a worker)."""
    window = Window(job.plan, job.policy)
    read = PartitionRead(Watermark(part.rel, part.identity), Malformed())
    row0, last, batch = 0, None, 0
    for table, span in read_partition(part, read, job.not_after, job.plan.columns()):
        batch = batch + 1 if span == last else 0
        last = span
        rows = prepare(table, job.plan, part.index, row0)
        row0 += rows.size
        window.add(rows, span, batch)
    return window, read


def reread(part: Partition, piece: Piece, job: Job) -> Rows:
    """A piece of a partition read again (the same rows, so the same row numbers)."""
    read = PartitionRead(Watermark(part.rel, part.identity), Malformed())
    batches = read_partition(part, read, job.not_after, job.plan.columns(), piece.span)
    for number, (table, _) in enumerate(batches):
        if number == piece.batch:
            return prepare(table, job.plan, part.index, piece.row0)
    raise MlopsError(f"{part.rel}: the log changed while it was read; run monitor again")


def run_local(parts: list[Partition], job: Job) -> tuple[WindowSummary, list[PartitionRead]]:
    """Here, one partition after another; exact values wait on disk (see :mod:`.spill`)."""
    window = Window(job.plan, job.policy)
    reads = []
    with spilling():
        for part in parts:
            partial, read = read_window(part, job)
            window.absorb(partial)
            reads.append(read)
        by_index = {p.index: p for p in parts}
        summary = window.finish(lambda index, piece: reread(by_index[index], piece, job))
    return summary, reads


def run_dask(
    address: str, parts: list[Partition], job: Job
) -> tuple[WindowSummary, list[PartitionRead]]:
    """The same work on the workers of the Dask cluster at `address`; merged here."""
    try:
        from distributed import Client
    except ImportError:
        raise MlopsError(
            "monitoring.engine dask needs dask.distributed: pip install 'mlops-gitops[dask]'"
        ) from None
    try:
        client: Any = Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)  # type: ignore[no-untyped-call]
    except OSError as exc:
        raise MlopsError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
    with client:
        shared = client.scatter(job, broadcast=True)
        futures = client.map(read_window, parts, job=shared, pure=False)
        window = Window(job.plan, job.policy)
        reads = []
        for partial, read in client.gather(futures):
            window.absorb(partial)
            reads.append(read)
        by_index = {p.index: p for p in parts}

        def again(index: int, piece: Piece) -> Rows:
            future = client.submit(reread, by_index[index], piece, shared, pure=False)
            rows: Rows = future.result()
            return rows

        summary = window.finish(again)
    return summary, reads
