"""The artifact scanner: code-running payloads in pickles, every joblib compression, PyTorch
zips and skops files are unsafe; unreadable files are errors; clean files are clean.

The samples (tests/security/samples.py) are built at test time; nothing may load them.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path

import pytest

from mlops_gitops.providers.scan import scan
from tests.security.samples import CLEAN_SKOPS, Payload, evil_joblib, evil_pickle, untrusted_skops
from tests.support.artifacts import onnx_bytes, safetensors_bytes


def test_malicious_pickle_is_unsafe(tmp_path: Path) -> None:
    verdict = scan(evil_pickle(tmp_path / "m.pkl", tmp_path / "pwned"), "pickle")
    assert verdict.scanner == "picklescan"
    assert verdict.verdict == "unsafe"
    assert verdict.findings == ("dangerous global posix.system",)
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize(
    "compress",
    [0, 3, ("zlib", 3), ("gzip", 3), ("bz2", 3), ("lzma", 3), ("xz", 3)],
    ids=["none", "default", "zlib", "gzip", "bz2", "lzma", "xz"],
)
def test_malicious_joblib_is_unsafe_in_every_compression(tmp_path: Path, compress: object) -> None:
    path = evil_joblib(tmp_path / "m.joblib", tmp_path / "pwned", compress)
    verdict = scan(path, "joblib")
    assert verdict.verdict == "unsafe"
    assert "dangerous global posix.system" in verdict.findings


def test_malicious_pickle_inside_a_pytorch_zip_is_unsafe(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps(Payload(tmp_path / "pwned")))
        archive.writestr("archive/version", "3\n")
    path.write_bytes(buffer.getvalue())
    verdict = scan(path, "pytorch")
    assert verdict.verdict == "unsafe"


@pytest.mark.parametrize(
    ("data", "finding"),
    [
        (pickle.dumps({"weights": [1, 2, 3]})[:-4], "cannot parse"),
        (b"\x00\x01not a pickle at all", "cannot parse"),
        (b"", "cannot parse"),
    ],
    ids=["truncated", "garbage", "empty"],
)
def test_pickle_the_scanner_cannot_read_is_an_error(
    tmp_path: Path, data: bytes, finding: str
) -> None:
    path = tmp_path / "m.pkl"
    path.write_bytes(data)
    verdict = scan(path, "pickle")
    assert verdict.verdict == "error"
    assert finding in " ".join(verdict.findings)


def test_harmless_pickle_is_clean(tmp_path: Path) -> None:
    path = tmp_path / "m.pkl"
    path.write_bytes(pickle.dumps({"weights": [1.0, 2.0], "name": "x"}))
    assert scan(path, "pickle").verdict == "clean"


def test_clean_skops_file_is_clean() -> None:
    verdict = scan(CLEAN_SKOPS, "skops")
    assert (verdict.scanner, verdict.verdict, verdict.findings) == ("skops", "clean", ())


def test_skops_with_an_untrusted_type_is_unsafe_unless_trusted(tmp_path: Path) -> None:
    path = untrusted_skops(tmp_path / "m.skops")
    verdict = scan(path, "skops")
    assert verdict.verdict == "unsafe"
    assert verdict.findings[0] == "untrusted type math.sqrt"
    assert "trusted_types" in verdict.findings[1]
    assert scan(path, "skops", ["math.sqrt"]).verdict == "clean"


def test_skops_file_that_is_not_one_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "m.skops"
    path.write_bytes(b"PK but not really a zip")
    assert scan(path, "skops").verdict == "error"


@pytest.mark.parametrize(
    ("fmt", "data"),
    [("onnx", onnx_bytes("graph")), ("safetensors", safetensors_bytes(b"\x00" * 16))],
)
def test_formats_without_code_need_no_scan(tmp_path: Path, fmt: str, data: bytes) -> None:
    path = tmp_path / "m.bin"
    path.write_bytes(data)
    assert scan(path, fmt).verdict == "not-needed"


@pytest.mark.parametrize("fmt", ["onnx", "safetensors", "skops"])
def test_a_pickle_declared_as_another_format_is_unsafe(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / "m.bin"
    path.write_bytes(pickle.dumps(Payload(tmp_path / "pwned")))  # never read as a pickle
    verdict = scan(path, fmt)
    assert verdict.verdict == "unsafe"
    assert verdict.findings[0].startswith(f"declared {fmt}, but the file is a pickle stream")
    assert not (tmp_path / "pwned").exists()
