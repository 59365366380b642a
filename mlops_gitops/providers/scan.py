"""Security scans of model artifacts before they are registered; every doubt blocks.

First the content must be what the declared format says (`formats`). Pickle-based formats
(pickle, joblib, PyTorch zip) can run code when loaded: their streams are walked without
loading them (`pickles`) and the globals they import judged by picklescan. skops files are
audited with skops' own check: trusted are exactly skops' default types plus the exact type
names the version lists in `trusted_types` (`trusted_types` below; never a module prefix).
ONNX and safetensors hold no code. Verdicts are keyed by content (`verdict_key`) and
remembered for the process; `scan_many` scans each distinct key once, in parallel.
"""

from __future__ import annotations

import functools
import hashlib
import io
import lzma
import os
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from importlib import metadata
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path
from typing import Any

from mlops_gitops.errors import MlopsError
from mlops_gitops.providers import formats, pickles
from mlops_gitops.providers.pickles import Capped, OverBudget, decompressing, stream_globals
from mlops_gitops.safeio import dumps
from mlops_gitops.spec.locations import open_regular
from mlops_gitops.spec.models import ModelVersion

NO_CODE_FORMATS = {"onnx", "safetensors"}
PICKLE_FORMATS = {"pickle", "joblib", "pytorch"}
RULES = "2"
"""Version of the rules below; part of every verdict key, so a change rescans."""
MAX_ZIP_MEMBERS = 10_000
MAX_SKOPS_SCHEMA = 64 * 1024**2
"""Bytes of a skops file's schema.json, which skops reads whole."""
PICKLE_EXTENSIONS = (".pkl", ".pickle", ".joblib", ".dat", ".data")
"""Members of a zip scanned as pickles by name (others by their first bytes), as picklescan."""


@dataclass(frozen=True)
class ScanVerdict:
    scanner: str
    scanner_version: str
    verdict: str
    """clean, unsafe, error or not-needed."""
    findings: tuple[str, ...] = ()


def trusted_types(version: ModelVersion | None) -> tuple[str, ...]:
    """The types a version's skops file may load beyond skops' own defaults: exactly the
    names its spec lists in `trusted_types`, sorted. The scan, the apply-time load check,
    `serve` and `train` all take the list from here; skops adds its defaults itself."""
    if version is None:
        return ()
    return tuple(sorted(set(version.trusted_types)))


@functools.cache
def package_version(package: str) -> str:
    """Read once per process: metadata lookups cost a millisecond each."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def scanner_of(fmt: str) -> tuple[str, str]:
    if fmt == "skops":
        return "skops", package_version("skops")
    if fmt in PICKLE_FORMATS:
        return "picklescan", package_version("picklescan")
    return "none", "-"


def verdict_key(sha256: str, fmt: str, trusted: Sequence[str] = ()) -> str:
    """What a verdict depends on: the content, the format, the scanner and its version, the
    rules, the trusted types. Equal keys, equal verdicts."""
    return _verdict_key(sha256, fmt, tuple(sorted(set(trusted))))


@functools.lru_cache(maxsize=65536)
def _verdict_key(sha256: str, fmt: str, trusted: tuple[str, ...]) -> str:
    scanner, version = scanner_of(fmt)
    parts = [sha256, fmt, scanner, version, RULES, *trusted]
    return hashlib.sha256(dumps(parts).encode()).hexdigest()


def scan(path: Path, fmt: str, trusted: Sequence[str] = ()) -> ScanVerdict:
    try:
        with open_regular(path) as handle:
            size = os.fstat(handle.fileno()).st_size
            wrong = formats.mismatch(handle, fmt, size)
            head = handle.read(16)
    except (OSError, MlopsError) as exc:
        return ScanVerdict("format-check", RULES, "error", (f"cannot read the file: {exc}",))
    if wrong is not None:
        # Code disguised as a format that is never scanned for code is unsafe; anything
        # else that is not its format cannot be checked.
        disguised = fmt not in PICKLE_FORMATS and formats.is_code(head)
        if disguised:
            return ScanVerdict("format-check", RULES, "unsafe", (wrong,))
        return ScanVerdict("format-check", RULES, "error", (f"cannot parse: {wrong}",))
    codeless = codeless_verdict(fmt)
    if codeless is not None:
        return codeless
    if fmt == "skops":
        return _scan_skops(path, tuple(trusted))
    if fmt in PICKLE_FORMATS:
        return _scan_pickle(path, fmt)
    return ScanVerdict("none", "-", "error", (f"no scanner for format {fmt!r}",))


def codeless_verdict(fmt: str) -> ScanVerdict | None:
    """The verdict of a format that holds no code, for content that passed its format check
    (`formats.mismatch`); None for the formats that must be scanned."""
    if fmt in NO_CODE_FORMATS:
        return ScanVerdict("none", "-", "not-needed", (f"{fmt} files hold no code",))
    if fmt == "python":
        return ScanVerdict(
            "none", "-", "not-needed", ("python entrypoints are code reviewed in the repository",)
        )
    return None


# ---------------------------------------------------------------- skops


def _zip_budget(archive: zipfile.ZipFile, name: str) -> None:
    """Declared sizes bound what reading a zip decompresses (zipfile stops at them)."""
    infos = archive.infolist()
    if len(infos) > MAX_ZIP_MEMBERS:
        raise OverBudget(f"{name} has more than {MAX_ZIP_MEMBERS:,} members (MAX_ZIP_MEMBERS)")
    if sum(info.file_size for info in infos) > pickles.MAX_DECOMPRESSED:
        raise OverBudget(
            f"{name} decompresses to more than {pickles.MAX_DECOMPRESSED:,} bytes"
            " (the limit, MAX_DECOMPRESSED); refusing to scan it"
        )


def untrusted_skops_types(source: Path | bytes, trusted: Sequence[str]) -> list[str]:
    """Types in a skops file (a path, or its bytes already read and verified) that neither
    skops' defaults nor `trusted` cover."""
    from skops.io import get_untrusted_types

    name = source.name if isinstance(source, Path) else "the skops file"
    with zipfile.ZipFile(source if isinstance(source, Path) else io.BytesIO(source)) as archive:
        _zip_budget(archive, name)
        schema = archive.getinfo("schema.json")
        if schema.file_size > MAX_SKOPS_SCHEMA:
            raise OverBudget(
                f"the schema.json of {name} is over {MAX_SKOPS_SCHEMA:,} bytes (MAX_SKOPS_SCHEMA)"
            )
    allowed = set(trusted)
    found = (
        get_untrusted_types(file=source)
        if isinstance(source, Path)
        else get_untrusted_types(data=source)
    )
    return sorted(t for t in found if t not in allowed)


def _scan_skops(path: Path, trusted: tuple[str, ...]) -> ScanVerdict:
    version = package_version("skops")
    try:
        import skops.io  # noqa: F401
    except ImportError:
        return ScanVerdict(
            "skops",
            version,
            "error",
            ("skops is not installed; install mlops-gitops[sklearn] to audit skops files",),
        )
    try:
        blocking = untrusted_skops_types(path, trusted)
    except OverBudget as exc:
        return ScanVerdict("skops", version, "error", (str(exc),))
    except Exception as exc:  # any parse failure is a reason to block
        return ScanVerdict("skops", version, "error", (f"cannot read the skops file: {exc}",))
    if blocking:
        findings = tuple(f"untrusted type {t}" for t in blocking)
        hint = "list them in the version's trusted_types if you trust them"
        return ScanVerdict("skops", version, "unsafe", (*findings, hint))
    return ScanVerdict("skops", version, "clean")


def load_skops(source: Path | bytes, trusted: Sequence[str]) -> Any:
    """Load a skops file (a path, or bytes `serve` read once and verified) trusting exactly
    skops' defaults and `trusted`: skops audits the whole file before it constructs anything,
    so an untrusted type runs no code."""
    import skops.io

    blocking = untrusted_skops_types(source, trusted)
    if blocking:
        raise MlopsError(f"the skops file holds untrusted types: {', '.join(blocking)}")
    if isinstance(source, Path):
        return skops.io.load(source, trusted=list(trusted))
    return skops.io.loads(source, trusted=list(trusted))


# ---------------------------------------------------------------- pickle


def _scan_pickle(path: Path, fmt: str) -> ScanVerdict:
    version = package_version("picklescan")
    try:
        from picklescan.scanner import scan_pickle_bytes  # noqa: F401
    except ImportError:
        return ScanVerdict("picklescan", version, "error", ("picklescan is not installed",))
    try:
        with open_regular(path) as handle:
            if fmt == "pytorch" and handle.read(4) == b"PK\x03\x04":
                handle.seek(0)
                found = _zip_globals(handle, path.name)
            else:
                handle.seek(0)
                stream, what = decompressing(handle)
                found = stream_globals(Capped(stream, f"{path.name}: {what}"))
    except OverBudget as exc:
        return ScanVerdict("picklescan", version, "error", (str(exc),))
    except (ValueError, OSError, EOFError, zlib.error, lzma.LZMAError, zipfile.BadZipFile) as exc:
        return ScanVerdict("picklescan", version, "error", (f"cannot parse: {exc}",))
    findings = _judge(found)
    if findings:
        return ScanVerdict("picklescan", version, "unsafe", findings)
    return ScanVerdict("picklescan", version, "clean")


def _zip_globals(handle: Any, name: str) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    scanned = 0
    with zipfile.ZipFile(handle) as archive:
        _zip_budget(archive, name)
        for info in archive.infolist():
            with archive.open(info) as member:
                head = member.read(8)
            named = info.filename.endswith(PICKLE_EXTENSIONS)
            if head.startswith(b"\x93NUMPY"):
                raise ValueError(f"{info.filename}: numpy members are not accepted in a zip")
            if not named and not (head[:1] == b"\x80" and head[1:2] < b"\x06"):
                continue  # raw tensor data
            with archive.open(info) as member:
                found |= stream_globals(Capped(member, f"{name}:{info.filename}"))
            scanned += 1
    if not scanned:
        raise ValueError("no pickle found in the zip archive")
    return found


def _plain(text: str) -> bool:
    return text.isascii() and text.isprintable() and " " not in text and bool(text)


def _judge(found: Iterable[tuple[str, str]]) -> tuple[str, ...]:
    """picklescan's judgement of the imported globals, through its public API: the globals
    written as one small pickle of GLOBAL opcodes. A name no GLOBAL opcode could carry is
    dangerous by itself."""
    from picklescan.scanner import SafetyLevel, scan_pickle_bytes

    findings = set()
    written = []
    for module, attribute in sorted(found):
        if _plain(module) and _plain(attribute):
            written.append(b"c" + module.encode() + b"\n" + attribute.encode() + b"\n0")
        else:
            findings.add(f"dangerous global {module!r}.{attribute!r}")
    if written:
        result = scan_pickle_bytes(io.BytesIO(b"\x80\x02" + b"".join(written) + b"N."), "globals")
        findings |= {
            f"{g.safety.value} global {g.module}.{g.name}"
            for g in result.globals
            if g.safety in (SafetyLevel.Dangerous, SafetyLevel.Suspicious)
        }
        if result.scan_err or (result.issues_count and not findings):
            findings.add("issues reported")
    return tuple(sorted(findings))


# ---------------------------------------------------------------- many at once


@dataclass(frozen=True)
class ScanJob:
    key: str
    path: str
    fmt: str
    trusted: tuple[str, ...]


_SCANNED: dict[str, ScanVerdict] = {}
"""Verdicts of scans this process ran, by key."""
_RECALLED: dict[str, ScanVerdict] = {}
"""Verdicts recorded in state for a key: good enough to plan with, never to register with
(state files come from the repository)."""
PARALLEL_MIN = 2
"""Distinct artifacts from which scans go to worker processes."""


def remember(key: str, verdict: ScanVerdict, scanned: bool = False) -> None:
    """A verdict for `key`: from a scan of this process, or recalled from recorded state."""
    (_SCANNED if scanned else _RECALLED)[key] = verdict


def scanned(key: str) -> ScanVerdict | None:
    """The verdict of a scan this process ran for `key`."""
    return _SCANNED.get(key)


def _run(job: ScanJob) -> ScanVerdict:
    return scan(Path(job.path), job.fmt, job.trusted)


def scan_many(jobs: Iterable[ScanJob]) -> dict[str, ScanVerdict]:
    """A verdict per key: each distinct key scanned once, in parallel when several are."""
    verdicts: dict[str, ScanVerdict] = {}
    todo: dict[str, ScanJob] = {}
    for job in jobs:
        found = _SCANNED.get(job.key) or _RECALLED.get(job.key)
        if found is not None:
            verdicts[job.key] = found
        else:
            todo.setdefault(job.key, job)
    workers = min(len(todo), os.cpu_count() or 1)
    if len(todo) >= PARALLEL_MIN and workers > 1:
        _import_scanners({job.fmt for job in todo.values()})  # once, before the fork
        methods = get_all_start_methods()
        context = get_context("fork" if "fork" in methods else None)
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            results = list(pool.map(_run, todo.values()))
    else:
        results = [_run(job) for job in todo.values()]
    for key, verdict in zip(todo, results, strict=True):
        _SCANNED[key] = verdicts[key] = verdict
    return verdicts


def _import_scanners(fmts: set[str]) -> None:
    """Workers forked after these imports share them instead of importing each."""
    try:
        if "skops" in fmts:
            import skops.io  # noqa: F401
        if fmts & PICKLE_FORMATS:
            import picklescan.scanner  # noqa: F401
    except ImportError:
        pass  # the scan reports it
