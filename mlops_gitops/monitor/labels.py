"""Label files: request_id -> label, from JSONL, CSV or Parquet, local or in object storage.

Records without both fields are counted with file and line, never fatal. Objects are read
whole, within MAX_LABEL_BYTES each.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path, PurePosixPath
from typing import IO, Any

from mlops_gitops.monitor import formats
from mlops_gitops.monitor.readers import _rel, list_log_files, log_format
from mlops_gitops.monitor.records import Malformed
from mlops_gitops.spec import locations
from mlops_gitops.spec.models import SecuritySettings

MAX_LABEL_BYTES = 1 << 30
"""One label object read from object storage."""


def read_labels(
    location: str | None,
    repo_root: Path,
    bad: Malformed | None = None,
    security: SecuritySettings | None = None,
) -> dict[str, Any]:
    """request_id -> label from the label files at `location` (a path or a URI prefix)."""
    bad = bad if bad is not None else Malformed()
    if not location:
        return {}
    labels: dict[str, Any] = {}
    if locations.is_remote(location):
        from mlops_gitops.monitor.objects import list_objects, read_bytes

        for obj in list_objects(location, security):
            kind = log_format(PurePosixPath(obj.uri))  # type: ignore[arg-type]
            data = read_bytes(obj.uri, MAX_LABEL_BYTES)
            _read_one(io.BytesIO(data), kind, obj.uri, labels, bad)
        return labels
    for path in list_log_files(location, repo_root):
        with open(path, "rb") as handle:
            _read_one(handle, log_format(path), _rel(path, repo_root), labels, bad)
    return labels


def _read_one(
    handle: IO[bytes], kind: str, rel: str, labels: dict[str, Any], bad: Malformed
) -> None:
    if kind == ".csv":
        text = io.TextIOWrapper(handle, encoding="utf-8-sig", errors="replace", newline="")
        rows = csv.DictReader(text)
        try:
            for row in rows:
                if row.get("request_id") and row.get("label") not in (None, ""):
                    labels[row["request_id"]] = formats.number(row["label"])
                else:
                    bad.add(rel, rows.line_num, "request_id or label missing")
        except csv.Error as exc:
            bad.add(rel, rows.line_num, f"bad CSV: {exc}")
        return
    if kind == ".parquet":
        _read_parquet(handle, rel, labels, bad)
        return
    for line, raw in enumerate(handle, 1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except ValueError:
            bad.add(rel, line, "invalid JSON")
            continue
        if (
            isinstance(record, dict)
            and record.get("request_id") not in (None, "")
            and "label" in record
        ):
            labels[str(record["request_id"])] = record["label"]
        else:
            bad.add(rel, line, "request_id or label missing")


def _read_parquet(handle: IO[bytes], rel: str, labels: dict[str, Any], bad: Malformed) -> None:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(handle, columns=["request_id", "label"])
    except Exception as exc:  # not Parquet, or no request_id/label columns
        bad.add(rel, 0, f"unreadable label file: {exc}")
        return
    pairs = zip(
        table.column("request_id").to_pylist(), table.column("label").to_pylist(), strict=True
    )
    for number, (rid, label) in enumerate(pairs, 1):
        if rid is not None and label is not None:
            labels[str(rid)] = label
        else:
            bad.add(rel, number, "request_id or label missing")
