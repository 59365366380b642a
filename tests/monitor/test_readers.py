"""Log readers: malformed corpora, watermarks under append/rotation/truncation, CSV, Parquet."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlops_gitops.monitor import formats, readers
from mlops_gitops.monitor.labels import read_labels
from mlops_gitops.monitor.readers import (
    MAX_EXAMPLES,
    ReadResult,
    Watermark,
    list_log_files,
    new_result,
    parse_time,
    read_new,
)
from tests.monitor.helpers import (
    START,
    append,
    flat_frame,
    jsonl,
    record,
    write_csv,
)


def read(
    root: Path, location: str = "logs/", previous: list[Watermark] | None = None
) -> tuple[pd.DataFrame, ReadResult]:
    """Everything new under `location`, as one frame, and what the reader reported."""
    result = new_result()
    files = list_log_files(location, root)
    frames = [b.frame for b in read_new(files, root, previous or [], result)]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return frame, result


def ids(frame: pd.DataFrame) -> list[str]:
    return [] if frame.empty else [str(v) for v in frame["request_id"]]


def good(i: int, **kw: Any) -> bytes:
    return (json.dumps(record(i, **kw)) + "\n").encode()


# ---------------------------------------------------------------- the malformed corpus

# (line, what the reader must say about it: None for a valid record, "" for a skipped blank)
JSONL_CORPUS: list[tuple[bytes, str | None]] = [
    (good(0), None),
    (b"{not json\n", "invalid JSON"),
    (b'{"model_version": "1.0.0", "features": {"x": 1}}\n', "timestamp missing"),
    (b'{"timestamp": "yesterday", "model_version": "1.0.0", "features": {}}\n', "not a time"),
    (b'{"timestamp": "2026-11-27T00:00:00Z", "features": {"x": 1}}\n', "model_version missing"),
    (b'{"timestamp": "2026-11-27T00:00:00Z", "model_version": 7, "features": {}}\n', "model_ver"),
    (b'{"timestamp": "2026-11-27T00:00:00Z", "model_version": "1.0.0"}\n', "features missing"),
    (b'{"timestamp": 1795000000, "model_version": "1.0.0", "features": [1, 2]}\n', "features"),
    (good(1)[:-2] + b', "latency_ms": "fast"}\n', "latency_ms is not a number"),
    (good(2).replace(b'"latency_ms": 7.0', b'"latency_ms": NaN'), "latency_ms is not finite"),
    (good(3).replace(b'"score": null', b'"score": true'), "score is not a number"),
    (good(4).replace(b'"error": null', b'"error": 500'), "error must be null"),
    (b"\n", ""),
    (b"   \r\n", ""),
    (b'{"timestamp"\x00: 1}\n', "invalid JSON"),
    (b"\x00\x00\x00\x00\n", "invalid JSON"),
    (b"\xff\xfe\xfa garbage\n", "invalid JSON"),
    (b"[1, 2, 3]\n", "not a JSON object"),
    (b'"just a string"\n', "not a JSON object"),
    (good(5), None),
    (good(6).replace(b'"timestamp": "2026-11-27T00:06:00Z"', b'"timestamp": NaN'), "timestamp"),
    (good(7).replace(b'"timestamp": "2026-11-27T00:07:00Z"', b'"timestamp": 1e300'), "timestamp"),
    (good(8).replace(b'"timestamp": "2026-11-27T00:08:00Z"', b'"timestamp": "nan"'), "timestamp"),
    (good(9).replace(b'"x": 9.0', b'"x": {"nested": [1]}'), "features.x"),
    (good(11).replace(b'"latency_ms": 6.0', b'"latency_ms": 1' + b"0" * 400), "latency_ms"),
    (good(12).replace(b'"x": 12.0', b'"x": 1' + b"0" * 30), "features.x is too large"),
    (good(13).replace(b'"prediction": 1', b'"prediction": -1' + b"0" * 30), "prediction is too"),
    (good(10), None),
]


def test_jsonl_corpus_counts_and_locates_every_malformed_record(tmp_path: Path) -> None:
    for line, _ in JSONL_CORPUS:
        append(tmp_path / "logs" / "a.jsonl", line)
    frame, result = read(tmp_path)
    expected_bad = [(n, why) for n, (_, why) in enumerate(JSONL_CORPUS, 1) if why]
    assert ids(frame) == ["r0", "r5", "r10"]
    assert result.malformed.count == len(expected_bad)
    assert len(result.malformed.examples) == MAX_EXAMPLES
    shown = expected_bad[:MAX_EXAMPLES]  # the first ones, in file order
    for example, (number, why) in zip(result.malformed.examples, shown, strict=True):
        assert example["path"] == "logs/a.jsonl"
        assert example["line"] == number
        assert why in example["error"], (number, example)
    # every line was consumed: a second read from the watermarks finds nothing
    (mark,) = result.watermarks
    assert mark.offset == (tmp_path / "logs" / "a.jsonl").stat().st_size
    assert mark.line == len(JSONL_CORPUS)
    again, second = read(tmp_path, previous=result.watermarks)
    assert again.empty and second.malformed.count == 0


@pytest.mark.parametrize("start", range(0, 25, 5))
def test_each_malformed_line_reported_with_its_own_line_number(tmp_path: Path, start: int) -> None:
    """Past the first few, examples are not kept; so read the corpus from five offsets."""
    path = tmp_path / "logs" / "a.jsonl"
    append(path, good(100))
    first, _ = read(tmp_path)
    (mark,) = read(tmp_path)[1].watermarks
    for line, _ in JSONL_CORPUS[start:]:
        append(path, line)
    frame, result = read(tmp_path, previous=[mark])
    assert len(first) == 1
    bad = [(n, why) for n, (_, why) in enumerate(JSONL_CORPUS[start:], 2) if why]
    assert [e["line"] for e in result.malformed.examples] == [n for n, _ in bad][:MAX_EXAMPLES]
    assert len(frame) == sum(1 for _, why in JSONL_CORPUS[start:] if why is None)


def test_partial_last_line_is_not_consumed_until_complete(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "a.jsonl"
    full = good(1)
    append(path, good(0) + full[:25])
    frame, result = read(tmp_path)
    assert ids(frame) == ["r0"]
    assert result.malformed.count == 0
    (mark,) = result.watermarks
    assert mark.offset == len(good(0)) and mark.line == 1
    append(path, full[25:-1])  # still no newline
    frame, result = read(tmp_path, previous=[mark])
    assert frame.empty and result.malformed.count == 0
    assert result.watermarks[0].offset == mark.offset
    append(path, b"\n")
    frame, result = read(tmp_path, previous=result.watermarks)
    assert ids(frame) == ["r1"] and result.malformed.count == 0
    assert result.watermarks[0].line == 2


def test_file_without_a_complete_first_record_waits(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "a.jsonl"
    append(path, good(0)[:10])
    frame, result = read(tmp_path)
    assert frame.empty and result.watermarks == []
    assert any("no complete record" in e for e in result.events)
    append(path, good(0)[10:])
    frame, result = read(tmp_path)
    assert ids(frame) == ["r0"]


def test_first_record_longer_than_the_identity_prefix(tmp_path: Path) -> None:
    """A record with many features can be longer than the bytes the identity is taken from."""
    big = record(0)
    big["features"] |= {f"f{i:04d}": float(i) for i in range(600)}
    line = (json.dumps(big) + "\n").encode()
    assert len(line) > readers.IDENTITY_BYTES
    path = tmp_path / "logs" / "a.jsonl"
    append(path, line)
    frame, result = read(tmp_path)
    assert ids(frame) == ["r0"]
    append(path, good(1))
    frame, result = read(tmp_path, previous=result.watermarks)
    assert ids(frame) == ["r1"]


def test_timestamps_in_every_accepted_form() -> None:
    assert parse_time("2026-11-27T00:00:00Z") == START.timestamp()
    assert parse_time("2026-11-27T01:00:00+01:00") == START.timestamp()
    assert parse_time("2026-11-27T00:00:00") == START.timestamp()  # no zone: UTC
    assert parse_time(START.timestamp()) == START.timestamp()
    assert parse_time(START.timestamp() * 1000) == START.timestamp()  # milliseconds
    assert parse_time(str(START.timestamp())) == START.timestamp()
    for bad in (None, "", "soon", True, float("nan"), float("inf"), 1e300, "nan", "1e400", [1]):
        assert parse_time(bad) is None, bad


# ---------------------------------------------------------------- watermarks


def test_append_reads_only_new_records(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "a.jsonl"
    append(path, jsonl(record(i) for i in range(3)))
    frame, result = read(tmp_path)
    assert ids(frame) == ["r0", "r1", "r2"] and result.new_records == 3
    append(path, jsonl(record(i) for i in range(3, 5)) + "oops\n")
    frame, result = read(tmp_path, previous=result.watermarks)
    assert ids(frame) == ["r3", "r4"] and result.new_records == 2
    assert result.malformed.examples == [
        {"path": "logs/a.jsonl", "line": 6, "error": result.malformed.examples[0]["error"]}
    ]
    assert result.events == []
    frame, result = read(tmp_path, previous=result.watermarks)
    assert frame.empty and result.new_records == 0


def test_watermark_round_trips_through_json(tmp_path: Path) -> None:
    append(tmp_path / "logs" / "a.jsonl", jsonl(record(i) for i in range(2)))
    _, result = read(tmp_path)
    restored = [Watermark.from_json(json.loads(json.dumps(w.to_json()))) for w in result.watermarks]
    assert restored == result.watermarks
    frame, _ = read(tmp_path, previous=restored)
    assert frame.empty


def test_rotation_to_dot_one_reads_the_unread_tail_and_the_new_file(tmp_path: Path) -> None:
    """logrotate: predictions.jsonl -> predictions.jsonl.1, and a new predictions.jsonl."""
    logs = tmp_path / "logs"
    path = logs / "predictions.jsonl"
    append(path, jsonl(record(i) for i in range(3)))
    _, result = read(tmp_path)
    append(path, jsonl(record(i) for i in range(3, 5)))  # written before rotation, not yet read
    path.rename(logs / "predictions.jsonl.1")
    append(path, jsonl(record(i) for i in range(5, 7)))
    frame, result = read(tmp_path, previous=result.watermarks)
    assert sorted(ids(frame)) == ["r3", "r4", "r5", "r6"]
    assert any("rotated" in e and "predictions.jsonl.1" in e for e in result.events)
    # the next rotation moves .1 to .2: still nothing read twice
    (logs / "predictions.jsonl.1").rename(logs / "predictions.jsonl.2")
    path.rename(logs / "predictions.jsonl.1")
    append(path, good(7))
    frame, result = read(tmp_path, previous=result.watermarks)
    assert ids(frame) == ["r7"]


def test_rotation_to_a_dated_name(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    append(logs / "current.jsonl", jsonl(record(i) for i in range(2)))
    _, result = read(tmp_path)
    append(logs / "current.jsonl", good(2))
    (logs / "current.jsonl").rename(logs / "2026-11-27.jsonl")
    frame, result = read(tmp_path, previous=result.watermarks)
    assert ids(frame) == ["r2"]
    assert any("rotated from logs/current.jsonl" in e for e in result.events)


def test_rotated_csv_keeps_being_read_as_csv(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    write_csv(logs / "p.csv", [record(i) for i in range(3)], ["x", "colour"])
    _, result = read(tmp_path)
    (logs / "p.csv").rename(logs / "p.csv.1")
    write_csv(logs / "p.csv", [record(i) for i in range(3, 5)], ["x", "colour"])
    frame, result = read(tmp_path, previous=result.watermarks)
    assert ids(frame) == ["r3", "r4"] and result.malformed.count == 0


def test_compressed_rotations_are_not_read_as_text(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    append(logs / "p.jsonl", good(0))
    append(logs / "p.jsonl.2.gz", b"\x1f\x8b\x08\x00 binary")
    assert [p.name for p in list_log_files("logs/", tmp_path)] == ["p.jsonl"]


def test_copytruncate_starts_the_file_over(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "a.jsonl"
    append(path, jsonl(record(i) for i in range(4)))
    _, result = read(tmp_path)
    path.write_bytes(b"")  # truncated in place ...
    append(path, good(10))  # ... and written again
    frame, result = read(tmp_path, previous=result.watermarks)
    assert ids(frame) == ["r10"]
    assert any("reading from the start" in e for e in result.events)


def test_truncated_to_a_shorter_file_with_the_same_first_record(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "a.jsonl"
    append(path, jsonl(record(i) for i in range(5)))
    _, result = read(tmp_path)
    path.write_bytes(good(0) + good(20))
    frame, result = read(tmp_path, previous=result.watermarks)
    assert ids(frame) == ["r0", "r20"]
    assert any("truncated" in e for e in result.events)
    assert result.watermarks[0].offset == path.stat().st_size
    assert result.watermarks[0].line == 2


def test_brand_new_file_is_read_from_the_start(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    append(logs / "a.jsonl", jsonl(record(i) for i in range(2)))
    _, result = read(tmp_path)
    append(logs / "b.jsonl", jsonl(record(i) for i in range(2, 4)))
    frame, result = read(tmp_path, previous=result.watermarks)
    assert ids(frame) == ["r2", "r3"]
    assert sorted(w.path for w in result.watermarks) == ["logs/a.jsonl", "logs/b.jsonl"]


def test_locations_folder_glob_single_file_and_hidden_files(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    for name in ("a.jsonl", "sub/b.ndjson", "c.csv", ".hidden.jsonl", "notes.txt", "d.parquet"):
        append(logs / name, "")
    names = [p.relative_to(tmp_path).as_posix() for p in list_log_files("logs", tmp_path)]
    assert names == ["logs/a.jsonl", "logs/c.csv", "logs/d.parquet", "logs/sub/b.ndjson"]
    assert [p.name for p in list_log_files("logs/*.jsonl", tmp_path)] == ["a.jsonl"]
    assert [p.name for p in list_log_files("logs/c.csv", tmp_path)] == ["c.csv"]
    assert list_log_files("missing/", tmp_path) == []
    assert list_log_files("s3://bucket/logs/", tmp_path) == []


# ---------------------------------------------------------------- CSV


def test_csv_with_feature_columns(tmp_path: Path) -> None:
    records = [
        record(0, score=0.25, label=1),
        record(1, colour="dark, red", error="timeout"),
        record(2, prediction="cat", latency=1.5),
    ]
    write_csv(tmp_path / "logs" / "p.csv", records, ["x", "colour"])
    frame, result = read(tmp_path)
    assert result.malformed.count == 0
    assert ids(frame) == ["r0", "r1", "r2"]
    assert frame["feature.x"].tolist() == [7.0, 8.0, 9.0]
    assert frame["feature.colour"].tolist() == ["red", "dark, red", "blue"]
    assert frame["timestamp"].tolist() == [START.timestamp() + 60 * i for i in range(3)]
    assert frame["score"].tolist()[0] == 0.25 and pd.isna(frame["score"].tolist()[1])
    assert frame["label"].tolist()[0] == 1
    assert frame["error"].tolist() == [False, True, False]  # whether the record had an error
    assert frame["prediction"].tolist() == ["0", "1", "cat"]  # numbers mixed with text: classes
    assert frame["latency_ms"].tolist() == [5.0, 6.0, 1.5]


def test_csv_malformed_rows(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "p.csv"
    write_csv(path, [record(0)], ["x", "colour"])
    header_fields = path.read_text().splitlines()[0].count(",") + 1
    row = path.read_text().splitlines()[1]
    append(path, row.replace("r0", "r1") + ",extra\n")  # line 3: too many fields
    append(path, "2026-11-27T00:00:00Z,r2\n")  # line 4: too few
    append(path, row.replace("r0", "r3").replace(",5.0,", ",slow,") + "\n")  # 5: latency
    append(path, row.replace("r0", "r4").replace("2026-11-27T00:00:00Z", "") + "\n")  # 6: time
    append(path, row.replace("r0", "r5").replace("1.0.0", "") + "\n")  # 7: version
    append(path, row.replace("r0", "r6").replace("red", "r\x00ed") + "\n")  # 8: NUL kept
    append(path, b"\xff\xfe," * (header_fields - 1) + b"\n")  # 9: not UTF-8
    append(path, row.replace("r0", "r7").replace(",5.0,", ",nan,") + "\n")  # 10: latency
    append(path, "\n")  # blank: skipped
    append(path, row.replace("r0", "r8") + "\r\n")  # CRLF is fine
    append(path, row.replace("r0", "r9")[:20])  # partial: waits
    frame, result = read(tmp_path)
    assert ids(frame) == ["r0", "r6", "r8"]
    assert frame["feature.colour"].tolist()[1] == "r\x00ed"
    assert result.malformed.count == 7
    lines = [e["line"] for e in result.malformed.examples]
    assert lines == [3, 4, 5, 6, 7]
    errors = [e["error"] for e in result.malformed.examples]
    assert f"{header_fields + 1} fields, the header has {header_fields}" in errors[0]
    assert "could not convert" in errors[2]
    assert "timestamp" in errors[3] and "model_version" in errors[4]
    append(path, row.replace("r0", "r9")[20:] + "\n")
    frame, result = read(tmp_path, previous=result.watermarks)
    assert ids(frame) == ["r9"] and result.malformed.count == 0


def test_csv_append_does_not_reread_the_header(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "p.csv"
    write_csv(path, [record(0), record(1)], ["x", "colour"])
    _, result = read(tmp_path)
    row = path.read_text().splitlines()[1]
    append(path, row.replace("r0", "r2") + "\n")
    frame, result = read(tmp_path, previous=result.watermarks)
    assert ids(frame) == ["r2"] and result.malformed.count == 0
    assert result.watermarks[0].line == 4


def test_csv_with_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "p.csv"
    write_csv(path, [record(0), record(1)], ["x", "colour"])
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    frame, result = read(tmp_path)
    assert ids(frame) == ["r0", "r1"] and result.malformed.count == 0


def test_csv_header_only_waits_for_a_record(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "p.csv"
    write_csv(path, [], ["x"])
    frame, result = read(tmp_path)
    assert frame.empty and result.malformed.count == 0


# ---------------------------------------------------------------- Parquet


def test_parquet_logs_with_feature_columns(tmp_path: Path) -> None:
    frame_in = flat_frame(record(i, score=i / 10, label=i % 2) for i in range(6))
    frame_in.loc[2, "model_version"] = None
    frame_in.loc[4, "timestamp"] = None
    (tmp_path / "logs").mkdir()
    frame_in.to_parquet(tmp_path / "logs" / "a.parquet", index=False)
    frame, result = read(tmp_path)
    assert ids(frame) == ["r0", "r1", "r3", "r5"]
    assert frame["feature.x"].tolist() == [7.0, 8.0, 10.0, 12.0]
    assert frame["timestamp"].tolist() == [START.timestamp() + 60 * i for i in (0, 1, 3, 5)]
    assert result.malformed.count == 2
    assert [(e["path"], e["line"]) for e in result.malformed.examples] == [
        ("logs/a.parquet", 3),
        ("logs/a.parquet", 5),
    ]
    assert result.watermarks[0].offset == 6
    # a second file: only its rows are new; the first is not read again
    flat_frame(record(i) for i in range(6, 8)).to_parquet(
        tmp_path / "logs" / "b.parquet", index=False
    )
    frame, result = read(tmp_path, previous=result.watermarks)
    assert ids(frame) == ["r6", "r7"] and result.malformed.count == 0


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_parquet_timestamp_columns_in_any_unit(tmp_path: Path, unit: str) -> None:
    base = int(START.timestamp())
    scale = {"s": 1, "ms": 1000, "us": 10**6, "ns": 10**9}[unit]
    table = pa.table(
        {
            "timestamp": pa.array([base * scale, None, (base + 90) * scale], pa.timestamp(unit)),
            "request_id": ["a", "b", "c"],
            "model_version": ["1.0.0"] * 3,
            "feature.x": [1.0, 2.0, 3.0],
            "latency_ms": [1.0, 2.0, 3.0],
        }
    )
    (tmp_path / "logs").mkdir()
    pq.write_table(table, tmp_path / "logs" / "a.parquet")
    frame, result = read(tmp_path)
    assert frame["timestamp"].tolist() == [base, base + 90]
    assert result.malformed.count == 1


def test_parquet_renamed_is_not_read_twice(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    flat_frame(record(i) for i in range(3)).to_parquet(tmp_path / "logs" / "a.parquet")
    _, result = read(tmp_path)
    os.rename(tmp_path / "logs" / "a.parquet", tmp_path / "logs" / "a-0001.parquet")
    frame, result = read(tmp_path, previous=result.watermarks)
    assert frame.empty


# ---------------------------------------------------------------- labels


def test_labels_from_jsonl_csv_and_parquet(tmp_path: Path) -> None:
    labels = tmp_path / "labels"
    append(labels / "a.jsonl", '{"request_id": "r1", "label": 1}\nnot json\n{"label": 0}\n')
    append(labels / "b.csv", "request_id,label\nr2,0\nr3,\n")
    pd.DataFrame({"request_id": ["r4"], "label": [1]}).to_parquet(labels / "c.parquet")
    assert read_labels("labels/", tmp_path) == {"r1": 1, "r2": 0, "r4": 1}
    assert read_labels(None, tmp_path) == {}


def test_malformed_label_records_are_counted(tmp_path: Path) -> None:
    labels = tmp_path / "labels"
    append(labels / "a.jsonl", '{"request_id": "r1", "label": 1}\n{"label": 0}\nnope\n\n')
    append(labels / "a.jsonl", '{"request_id": 7, "label": 0}\n')
    append(labels / "b.csv", "request_id,label\nr2,0\nr3,\n")
    append(labels / "c.parquet", b"PAR1 not really")
    pd.DataFrame({"request_id": ["r4"]}).to_parquet(labels / "d.parquet")
    bad = readers.Malformed()
    assert read_labels("labels/", tmp_path, bad) == {"r1": 1, "r2": 0, "7": 0}
    assert bad.count == 5
    where = [(e["path"], e["line"]) for e in bad.examples]
    assert where == [
        ("labels/a.jsonl", 2),
        ("labels/a.jsonl", 3),
        ("labels/b.csv", 3),
        ("labels/c.parquet", 0),
        ("labels/d.parquet", 0),
    ]


def test_unreadable_parquet_is_skipped_and_keeps_its_place(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    flat_frame(record(i) for i in range(3)).to_parquet(logs / "a.parquet")
    _, result = read(tmp_path)
    good_bytes = (logs / "a.parquet").read_bytes()
    (logs / "a.parquet").write_bytes(b"PAR1 being rewritten")
    (logs / "b.parquet").write_bytes(b"")
    frame, broken = read(tmp_path, previous=result.watermarks)
    assert frame.empty
    assert any("logs/a.parquet: unreadable" in e for e in broken.events)
    assert [w.path for w in broken.watermarks] == ["logs/a.parquet"]
    (logs / "a.parquet").write_bytes(good_bytes)
    (logs / "b.parquet").unlink()
    frame, _ = read(tmp_path, previous=broken.watermarks)
    assert frame.empty  # nothing read twice


def test_request_ids_are_text_in_every_format(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    numeric = [record(i) | {"request_id": 1000 + i} for i in range(2)]
    append(logs / "a.jsonl", jsonl(numeric))
    frame_in = flat_frame(record(i) for i in range(2, 4))
    frame_in["request_id"] = [1002, 1003]
    frame_in.to_parquet(logs / "b.parquet", index=False)
    write_csv(logs / "c.csv", [record(4) | {"request_id": 1004}], ["x"])
    frame, result = read(tmp_path)
    assert result.malformed.count == 0
    assert frame["request_id"].tolist() == ["1000", "1001", "1002", "1003", "1004"]


def test_parquet_watermarks_of_earlier_versions_still_match(tmp_path: Path) -> None:
    """Earlier versions described a file's statistics by their logical values; a watermark
    recorded by them is recognised, so an upgrade does not read every Parquet log again."""
    (tmp_path / "logs").mkdir()
    path = tmp_path / "logs" / "a.parquet"
    flat_frame(record(i) for i in range(3)).to_parquet(path, index=False)
    frame_in = pd.read_parquet(path)
    frame_in["timestamp"] = pd.to_datetime(frame_in["timestamp"])
    frame_in.to_parquet(path, index=False)  # a timestamp column: its statistics need pandas
    old = readers._parquet_identity(path, "logs/a.parquet", legacy=True)
    assert old.startswith("parquet:")
    frame, result = read(tmp_path, previous=[Watermark("logs/a.parquet", old, 3, 3)])
    assert frame.empty and result.events == []
    (mark,) = result.watermarks
    assert mark.identity.startswith("parquet2:") and mark.offset == 3


def test_a_line_too_long_to_be_a_record_is_reported_and_skipped_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(formats, "BLOCK_BYTES", 256)
    monkeypatch.setattr(formats, "MAX_LINE_BYTES", 1024)
    monkeypatch.setattr(formats, "LINE_SKIP_CHUNK", 100)
    path = tmp_path / "logs" / "a.jsonl"
    huge = good(50, request_id="r" * 5000)
    append(path, good(0) + good(1) + huge[:3000])  # the long line is still being written
    frame, result = read(tmp_path)
    assert ids(frame) == ["r0", "r1"] and result.malformed.count == 0
    (mark,) = result.watermarks
    assert (mark.offset, mark.line) == (len(good(0) + good(1)), 2)
    just_over = good(60, request_id="s" * 840)  # 1,030 bytes
    append(path, huge[3000:] + good(2) + just_over)
    frame, result = read(tmp_path, previous=[mark])
    assert ids(frame) == ["r2"]
    assert result.malformed.count == 2  # the line starting mid-block counts from its start
    assert [e["line"] for e in result.malformed.examples] == [3, 5]
    assert "longer than 1,024 bytes: not read" in result.malformed.examples[0]["error"]
    (mark,) = result.watermarks
    assert (mark.offset, mark.line) == (path.stat().st_size, 5)


def test_a_csv_row_too_long_to_be_a_record_is_reported_and_skipped_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(formats, "MAX_LINE_BYTES", 1024)
    monkeypatch.setattr(formats, "LINE_SKIP_CHUNK", 100)
    path = tmp_path / "logs" / "p.csv"
    write_csv(path, [record(0), record(1, request_id="r" * 5000), record(2)], ["x", "colour"])
    frame, result = read(tmp_path)
    assert ids(frame) == ["r0", "r2"]
    assert result.malformed.count == 1
    assert result.malformed.examples[0]["line"] == 3  # the header is line 1
    assert "longer than 1,024 bytes: not read" in result.malformed.examples[0]["error"]
    (mark,) = result.watermarks
    assert mark.offset == path.stat().st_size


@pytest.mark.parametrize(
    "nesting", [b"[" * 20_000 + b"]" * 20_000, b'{"a":' * 5_000 + b"1" + b"}" * 5_000]
)
def test_a_line_nested_thousands_deep_is_malformed_not_a_crash(
    tmp_path: Path, nesting: bytes
) -> None:
    """Arrow's JSON reader overflows its stack at 20,000 levels and Python's at about 1,000:
    such a line goes to the line parser, which names it."""
    path = tmp_path / "logs" / "a.jsonl"
    append(path, good(0) + b'{"x": ' + nesting + b"}\n" + good(1))
    frame, result = read(tmp_path)
    assert ids(frame) == ["r0", "r1"]
    assert result.malformed.count == 1 and result.malformed.examples[0]["line"] == 2
    (mark,) = result.watermarks
    assert mark.offset == path.stat().st_size
