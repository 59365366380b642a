"""Prediction logs and labels in object storage (`s3://`, `gs://`, `az://`, ...).

Objects are listed through fsspec and their paths handed to `pyarrow.dataset`, whose Hive
partitioning gives each object its `date=YYYY-MM-DD` value; a duration window keeps only the
days it overlaps, so the objects of older days are neither read nor even opened. Credentials
come only from each cloud SDK's standard environment and configuration files (for S3:
`AWS_*` variables, `~/.aws`, instance or OIDC roles; an endpoint from `AWS_ENDPOINT_URL`),
never from specs.

An object's watermark holds its URI, size and version tag (the ETag on S3 and Azure, the
generation on GCS) besides the identity and offset local files have. Unchanged tag and size:
nothing to read, and no byte is fetched. Otherwise the identity (the first line, or a Parquet
footer) tells an object that grew (`appended`: read on from the offset) from one rewritten
with other content (read from the start); an unknown URI is a new object.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import IO, Any

from mlops_gitops.errors import MlopsError
from mlops_gitops.monitor import readers
from mlops_gitops.monitor.readers import Partition, ReadResult, Watermark
from mlops_gitops.spec import locations
from mlops_gitops.spec.models import SecuritySettings
from mlops_gitops.urls import redact_text, redact_url

MAX_OBJECTS = 100_000
"""Objects listed under one location; more is an error, not an unbounded listing."""
PARTITION_FIELD = "date"
TAG_KEYS = ("ETag", "etag", "generation", "version_id", "VersionId", "md5Hash")


@dataclass(frozen=True)
class RemoteObject:
    uri: str
    size: int
    tag: str


def filesystem(location: str) -> tuple[Any, str]:
    """The fsspec filesystem of a URI and the path in it; a clear error without the package."""
    try:
        import fsspec
    except ImportError:
        raise MlopsError(
            f"{redact_url(location)} is a URI: install mlops-gitops[remote] (fsspec, s3fs;"
            " gcsfs or adlfs for gs:// or az://) to read it"
        ) from None
    try:
        fs, path = fsspec.core.url_to_fs(location)
    except (ImportError, ValueError) as exc:
        raise MlopsError(f"cannot read {redact_url(location)}: {redact_text(str(exc))}") from None
    return fs, str(path)


def open_object(uri: str) -> IO[bytes]:
    fs, path = filesystem(uri)
    handle: IO[bytes] = fs.open(path, "rb")
    return handle


def _uri(fs: Any, path: str) -> str:
    return str(fs.unstrip_protocol(path))


def _tag(info: dict[str, Any]) -> str:
    for key in TAG_KEYS:
        value = info.get(key)
        if value not in (None, ""):
            return str(value).strip('"')
    return ""


def list_objects(
    location: str, security: SecuritySettings | None, days: tuple[str, str] | None = None
) -> list[RemoteObject]:
    """The log objects under `location` (a prefix or one object), sorted by URI; with `days`
    (first and last ISO date), only objects outside a `date=` partition or inside those days."""
    locations.check(location, security)
    if locations.scheme(location) in ("http", "https"):
        raise MlopsError(
            f"{redact_url(location)}: logs, labels and reference data are read from object"
            " storage (s3://, gs://, az://) or the repository, not over http(s)"
        )
    fs, base = filesystem(location)
    fs.invalidate_cache()  # listings and object details fsspec remembers from earlier are stale
    try:
        found: dict[str, dict[str, Any]] = fs.find(base, detail=True)
        if not found and fs.isfile(base):
            found = {base: fs.info(base)}
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise MlopsError(f"cannot list {redact_url(location)}: {redact_text(str(exc))}") from None
    if len(found) > MAX_OBJECTS:
        raise MlopsError(
            f"{redact_url(location)} holds more than {MAX_OBJECTS:,} objects (MAX_OBJECTS);"
            " name a narrower prefix"
        )
    paths = sorted(
        p
        for p, info in found.items()
        if info.get("type", "file") == "file"
        and readers.log_format(PurePosixPath(p))  # type: ignore[arg-type]
        and not PurePosixPath(p).name.startswith(".")
    )
    if days is not None and paths:
        paths = _in_days(fs, base, paths, days)
    return [
        RemoteObject(_uri(fs, p), int(found[p].get("size") or 0), _tag(found[p])) for p in paths
    ]


def _in_days(fs: Any, base: str, paths: list[str], days: tuple[str, str]) -> list[str]:
    """Hive pruning by pyarrow.dataset: fragments whose `date=` partition lies outside the
    days are left out (ISO dates compare as strings); objects without one are kept."""
    import pyarrow as pa
    import pyarrow.dataset as ds
    from pyarrow.fs import FSSpecHandler, PyFileSystem

    schema = pa.schema([(PARTITION_FIELD, pa.string())])
    dataset = ds.dataset(
        paths,
        schema=schema,
        format="parquet",  # only the paths are used: no object is opened
        filesystem=PyFileSystem(FSSpecHandler(fs)),
        partitioning=ds.partitioning(schema, flavor="hive"),
        partition_base_dir=base.rstrip("/"),
    )
    field = ds.field(PARTITION_FIELD)
    wanted = field.is_null() | ((field >= days[0]) & (field <= days[1]))
    kept = {fragment.path for fragment in dataset.get_fragments(filter=wanted)}
    return [p for p in paths if p in kept]


def window_days(start: float, end: float) -> tuple[str, str]:
    def day(seconds: float) -> str:
        return datetime.fromtimestamp(seconds, UTC).date().isoformat()

    return day(start), day(end)


def _identity(obj: RemoteObject, suffix: str) -> str:
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        with open_object(obj.uri) as handle:
            return readers.parquet_identity(pq.ParquetFile(handle), obj.uri, obj.size)
    with open_object(obj.uri) as handle:
        head = handle.read(readers.IDENTITY_BYTES)
    return readers.text_identity(head, suffix)


def plan_reads(
    objects: list[RemoteObject],
    previous: list[Watermark],
    result: ReadResult,
    events: bool = False,
) -> list[Partition]:
    """A partition per object, like `readers.plan_reads` for files (see the module's doc)."""
    by_path = {w.path: w for w in previous}
    by_identity = {w.identity: w for w in previous if w.identity}
    parts: list[Partition] = []
    for obj in objects:
        suffix = readers.log_format(PurePosixPath(obj.uri))  # type: ignore[arg-type]
        kind = ".cloudevents" if events and suffix == ".jsonl" else suffix
        known = by_path.get(obj.uri)
        if known is not None and known.tag and (known.tag, known.size) == (obj.tag, obj.size):
            parts.append(
                Partition(
                    len(parts),
                    obj.uri,
                    obj.uri,
                    kind,
                    known.identity,
                    known.offset,
                    known.line,
                    size=obj.size,
                    tag=obj.tag,
                    unchanged=True,
                )
            )
            continue
        try:
            identity = _identity(obj, suffix)
        except Exception as exc:  # gone since the listing, or not Parquet (yet)
            result.events.append(
                f"{redact_url(obj.uri)}: unreadable ({redact_text(str(exc))}); skipped"
            )
            if known is not None:
                result.watermarks.append(known)
            continue
        if not identity:
            result.events.append(f"{obj.uri}: no complete record yet")
            continue
        mark = by_identity.get(identity)
        if mark is not None and suffix != ".parquet" and mark.offset > obj.size:
            mark = None  # the same first line, but shorter: rewritten
        if mark is not None:
            grown = "appended" if mark.path == obj.uri else f"copied from {mark.path}"
            result.events.append(f"{obj.uri}: {grown}; continuing at its offset")
        elif known is not None:
            result.events.append(f"{obj.uri}: rewritten (new content); reading from the start")
        offset, line = (mark.offset, mark.line) if mark is not None else (0, 0)
        parts.append(
            Partition(
                len(parts),
                obj.uri,
                obj.uri,
                kind,
                identity,
                offset,
                line,
                size=obj.size,
                tag=obj.tag,
            )
        )
    return parts


def read_bytes(uri: str, max_bytes: int) -> bytes:
    """A whole object of at most `max_bytes` (labels, reference data)."""
    with open_object(uri) as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise MlopsError(f"{redact_url(uri)} is larger than {max_bytes:,} bytes")
    return data


def digest_lines(objects: list[RemoteObject]) -> Iterator[bytes]:
    """What identifies the content of objects without reading them: URI, size and tag."""
    for obj in objects:
        yield f"{obj.uri}\0{obj.size}\0{obj.tag}\0".encode()
