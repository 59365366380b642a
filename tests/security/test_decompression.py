"""Issue 9.7 (decompression): a small compressed artifact cannot cost gigabytes or minutes.

A 1.9 MB gzip of zeros declared `joblib` took 3.9 GB and 12 s to scan. Pickle streams are
now decompressed while they are read, within `MAX_DECOMPRESSED`, and walked without holding
them; each budget is an error naming the artifact and the limit.
"""

from __future__ import annotations

import bz2
import json
import lzma
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from mlops_gitops.providers import pickles
from mlops_gitops.providers.scan import scan
from tests.support.cli import run_in
from tests.support.git import init_git
from tests.support.repos import SpecRepo
from tests.support.values import NOW

ZEROS = b"\0" * (16 * 1024**2)


def gzip_member(data: bytes) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    return packer.compress(data) + packer.flush()


def zeros_bomb(kind: str, gigabytes: float = 1.9) -> bytes:
    """Zeros, compressed: members of 16 MiB repeated (gzip, bz2 and xz read concatenated
    members as one stream, as joblib does)."""
    repeat = int(gigabytes * 1024**3 // len(ZEROS))
    if kind == "gzip":
        return gzip_member(ZEROS) * repeat
    if kind == "bz2":
        return bz2.compress(ZEROS, 9) * repeat
    if kind == "xz":
        return lzma.compress(ZEROS) * repeat
    return zlib.compress(ZEROS, 9)  # one zlib stream


MEASURE = """
import json, resource, sys, time
from pathlib import Path
from mlops_gitops.providers import pickles
from mlops_gitops.providers.scan import scan
path, fmt = Path(sys.argv[1]), sys.argv[2]
pickles.MAX_DECOMPRESSED = int(sys.argv[4])
scan(Path(sys.argv[3]), "joblib")  # imports and warm-up, before measuring
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
verdict = scan(path, fmt)
seconds = time.perf_counter() - start
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(json.dumps({"verdict": verdict.verdict, "findings": verdict.findings,
                  "seconds": seconds, "grown_kib": grown}))
"""


def measured(
    path: Path, fmt: str, tmp_path: Path, limit: int = pickles.MAX_DECOMPRESSED
) -> dict[str, object]:
    """Scan in a fresh interpreter: peak memory (max RSS) growth and time of the scan."""
    small = tmp_path / "warm.joblib"
    small.write_bytes(b"\x80\x04N.")
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(path), fmt, str(small), str(limit)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["gzip", "bz2", "xz", "zlib"])
def test_a_zeros_bomb_declared_joblib_is_refused_fast_with_little_memory(
    tmp_path: Path, kind: str
) -> None:
    path = tmp_path / "model.joblib"
    path.write_bytes(zeros_bomb(kind))
    if kind == "gzip":
        assert 1.5e6 < path.stat().st_size < 2.5e6  # the 1.9 MB of the report
    result = measured(path, "joblib", tmp_path)
    assert result["verdict"] == "error"
    assert result["findings"] == ["cannot parse: byte b'\\x00' is not a pickle opcode"]
    assert isinstance(result["seconds"], float) and result["seconds"] < 2.0
    assert isinstance(result["grown_kib"], int) and result["grown_kib"] < 64 * 1024


def big_bytes_pickle(size: int) -> bytes:
    """A valid pickle start (PROTO 4, BINBYTES8 of `size` zeros), gzip compressed."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    out = [packer.compress(b"\x80\x04\x8e" + struct.pack("<Q", size))]
    chunk = b"\0" * (16 * 1024**2)
    for _ in range(size // len(chunk)):
        out.append(packer.compress(chunk))
    out.append(packer.compress(b"\x94."))
    return b"".join(out) + packer.flush()


@pytest.mark.slow
def test_a_valid_pickle_too_large_once_decompressed_is_refused_while_reading(
    tmp_path: Path,
) -> None:
    """A stream just over the budget (here 128 MiB, the mechanism of the 512 MiB default) is
    refused once the budget is read, never held: memory grows far less than it decompresses."""
    limit = 128 * 1024**2
    path = tmp_path / "model.joblib"
    path.write_bytes(big_bytes_pickle(limit))
    result = measured(path, "joblib", tmp_path, limit)
    assert result["verdict"] == "error"
    assert result["findings"] == [
        f"model.joblib: the gzip container holds more than {limit:,} bytes"
        " (the limit, MAX_DECOMPRESSED); refusing to scan it"
    ]
    assert isinstance(result["grown_kib"], int) and result["grown_kib"] < 32 * 1024


def test_the_same_pickle_within_the_budget_is_scanned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "model.joblib"
    path.write_bytes(big_bytes_pickle(16 * 1024**2))
    assert scan(path, "joblib").verdict == "clean"
    monkeypatch.setattr(pickles, "MAX_DECOMPRESSED", 8 * 1024**2)
    verdict = scan(path, "joblib")
    assert verdict.verdict == "error"
    assert "more than 8,388,608 bytes (the limit, MAX_DECOMPRESSED)" in verdict.findings[0]


def test_a_stream_of_tiny_opcodes_is_refused_at_the_opcode_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each opcode would be one more entry in a scanner's list: counted, not listed."""
    monkeypatch.setattr(pickles, "MAX_OPCODES", 10_000)
    path = tmp_path / "model.pkl"
    path.write_bytes(gzip_member(b"\x80\x04" + b"N0" * 20_000 + b"N."))
    verdict = scan(path, "joblib")
    assert verdict.verdict == "error"
    assert verdict.findings == ("the pickle holds more than 10,000 opcodes (MAX_OPCODES)",)


def test_the_budget_is_a_located_blocked_step_naming_the_artifact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pickles, "MAX_DECOMPRESSED", 8 * 1024**2)
    root = tmp_path / "repo"
    repo = SpecRepo(root)
    repo.write_project()
    repo.artifact("artifacts/big/model.joblib", big_bytes_pickle(16 * 1024**2))
    repo.write_model(
        "big",
        [{"version": "1.0.0", "artifact": "artifacts/big/model.joblib", "format": "joblib"}],
    )
    init_git(root)
    planned = json.loads(run_in(root, "plan", "--format", "json", "--now", NOW).out)
    (step,) = planned["steps"]
    assert step["blocked_by"] == [
        "security scan (picklescan) could not check artifacts/big/model.joblib: model.joblib:"
        " the gzip container holds more than 8,388,608 bytes (the limit, MAX_DECOMPRESSED);"
        " refusing to scan it"
    ]


def test_a_zip_declaring_more_than_the_budget_is_refused_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """skops and PyTorch files are zips: their declared sizes bound what is decompressed."""
    import io
    import zipfile

    monkeypatch.setattr(pickles, "MAX_DECOMPRESSED", 1024**2)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("schema.json", json.dumps({"a": 1}))
        archive.writestr("archive/data.pkl", b"\x80\x04N.")
        archive.writestr("zeros.npy", b"\0" * (4 * 1024**2))
    for fmt in ("skops", "pytorch"):
        path = tmp_path / f"model.{fmt}"
        path.write_bytes(out.getvalue())
        verdict = scan(path, fmt)
        assert verdict.verdict == "error"
        assert (
            "decompresses to more than 1,048,576 bytes (the limit, MAX_DECOMPRESSED)"
            in (verdict.findings[0])
        )
