"""Security scans of model artifacts before they are registered; every doubt blocks.

Pickle-based formats (pickle, joblib, PyTorch zip) can run code when loaded, so they are read
by picklescan without being loaded; compressed joblib files are decompressed first. skops
files are audited with skops' own untrusted-type check. ONNX and safetensors hold no code.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from mlops_gitops.errors import MlopsError

SAFE_SKOPS_PREFIXES = ("sklearn.", "numpy.", "scipy.")
NO_CODE_FORMATS = {"onnx", "safetensors"}
PICKLE_FORMATS = {"pickle", "joblib", "pytorch"}
MAX_DECOMPRESSED = 4 * 1024**3


@dataclass(frozen=True)
class ScanVerdict:
    scanner: str
    scanner_version: str
    verdict: str
    """clean, unsafe, error or not-needed."""
    findings: tuple[str, ...] = ()


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def scan(path: Path, fmt: str, trusted_types: list[str] | tuple[str, ...] = ()) -> ScanVerdict:
    if fmt in NO_CODE_FORMATS:
        return ScanVerdict("none", "-", "not-needed", (f"{fmt} files hold no code",))
    if fmt == "python":
        return ScanVerdict(
            "none", "-", "not-needed", ("python entrypoints are code reviewed in the repository",)
        )
    if fmt == "skops":
        return _scan_skops(path, tuple(trusted_types))
    if fmt in PICKLE_FORMATS:
        return _scan_pickle(path)
    return ScanVerdict("none", "-", "error", (f"no scanner for format {fmt!r}",))


def _scan_skops(path: Path, trusted: tuple[str, ...]) -> ScanVerdict:
    version = _version("skops")
    try:
        from skops.io import get_untrusted_types
    except ImportError:
        return ScanVerdict(
            "skops",
            version,
            "error",
            ("skops is not installed; install mlops-gitops[sklearn] to audit skops files",),
        )
    try:
        untrusted = get_untrusted_types(file=path)
    except Exception as exc:  # any parse failure is a reason to block
        return ScanVerdict("skops", version, "error", (f"cannot read the skops file: {exc}",))
    blocking = sorted(
        t for t in untrusted if not t.startswith(SAFE_SKOPS_PREFIXES) and t not in set(trusted)
    )
    if blocking:
        findings = tuple(f"untrusted type {t}" for t in blocking)
        hint = "list them in the version's trusted_types if you trust them"
        return ScanVerdict("skops", version, "unsafe", (*findings, hint))
    return ScanVerdict("skops", version, "clean")


def skops_untrusted(path: Path, trusted: Sequence[str]) -> list[str]:
    """Types in a skops file that the scan's rule does not accept (see `_scan_skops`)."""
    from skops.io import get_untrusted_types

    allowed = set(trusted)
    return sorted(
        t
        for t in get_untrusted_types(file=path)
        if not t.startswith(SAFE_SKOPS_PREFIXES) and t not in allowed
    )


def load_skops(path: Path, trusted: Sequence[str]) -> Any:
    """Load a skops file trusting exactly what the scan accepts with `trusted`: anything else
    is refused before skops constructs an object. Serving runtimes load through here, so
    they run what was audited."""
    from skops.io import get_untrusted_types, load

    blocking = skops_untrusted(path, trusted)
    if blocking:
        raise MlopsError(f"the skops file holds untrusted types: {', '.join(blocking)}")
    return load(path, trusted=get_untrusted_types(file=path))


def _decompressed(data: bytes) -> bytes:
    """joblib compresses whole files; scan what is inside."""
    if data[:2] == b"\x1f\x8b":
        return gzip.decompress(data)
    if data[:3] == b"BZh":
        return bz2.decompress(data)
    if data[:6] == b"\xfd7zXZ\x00" or data[:1] == b"\x5d":
        return lzma.decompress(data)
    if data[:2] == b"ZF":  # joblib's legacy zlib container: 'ZF' + 16-byte length + zlib
        return zlib.decompress(data[18:])
    if data[:1] == b"\x78":
        return zlib.decompress(data)
    return data


def _require_complete_pickle(data: bytes) -> None:
    """picklescan tolerates a truncated stream; a file that is not one whole pickle is refused."""
    import pickletools

    last = None
    for opcode, _arg, _pos in pickletools.genops(io.BytesIO(data)):
        last = opcode.name
    if last != "STOP":
        raise ValueError("not a complete pickle stream")


def _scan_pickle(path: Path) -> ScanVerdict:
    version = _version("picklescan")
    try:
        from picklescan.scanner import SafetyLevel, scan_pickle_bytes, scan_zip_bytes
    except ImportError:
        return ScanVerdict("picklescan", version, "error", ("picklescan is not installed",))
    try:
        data = path.read_bytes()
        if data[:4] == b"PK\x03\x04":
            result = scan_zip_bytes(io.BytesIO(data), str(path))
        else:
            if data[:1] != b"\x80":
                data = _decompressed(data)
            _require_complete_pickle(data)
            result = scan_pickle_bytes(io.BytesIO(data), str(path))
    except Exception as exc:
        return ScanVerdict("picklescan", version, "error", (f"cannot parse: {exc}",))
    findings = tuple(
        sorted(
            {
                f"{g.safety.value} global {g.module}.{g.name}"
                for g in result.globals
                if g.safety in (SafetyLevel.Dangerous, SafetyLevel.Suspicious)
            }
        )
    )
    if result.scan_err:
        return ScanVerdict(
            "picklescan", version, "error", ("the scanner could not parse the file",)
        )
    if result.scanned_files == 0:
        return ScanVerdict("picklescan", version, "error", ("no pickle found in the file",))
    if findings or result.issues_count:
        return ScanVerdict("picklescan", version, "unsafe", findings or ("issues reported",))
    return ScanVerdict("picklescan", version, "clean")
