"""Training data sources: files, a database through SQLAlchemy, an HTTP JSON endpoint."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pandas as pd

from mlops_gitops import net
from mlops_gitops.errors import MlopsError
from mlops_gitops.spec import locations
from mlops_gitops.spec import models as spec_models
from mlops_gitops.urls import redact_url

MAX_HTTP_BODY = 256 * 1024 * 1024
"""The largest JSON answer an HTTP source may send."""


def load(
    source: Any, repo_root: Path, security: spec_models.SecuritySettings | None = None
) -> tuple[pd.DataFrame, str]:
    """The rows of one source and a short description for lineage; locations are checked
    again against the Project's `security` (the strictest rules when None)."""
    if isinstance(source, spec_models.FileSource):
        if locations.is_remote(source.path):
            raise MlopsError(f"data source {source.path}: train reads local files only")
        path = locations.local_path(source.path, repo_root, security)
        if not path.is_file():
            raise MlopsError(f"data source {redact_url(source.path)} not found")
        fmt = source.format or ("parquet" if path.suffix == ".parquet" else "csv")
        try:
            frame = pd.read_parquet(path) if fmt == "parquet" else pd.read_csv(path)
        except (OSError, ValueError) as exc:  # pandas' and pyarrow's parse errors are ValueErrors
            raise MlopsError(
                f"data source {redact_url(source.path)} cannot be read: {exc}"
            ) from None
        return frame, redact_url(source.path)
    if isinstance(source, spec_models.DatabaseSource):
        return _database(source, repo_root), redact_url(source.url)
    if isinstance(source, spec_models.HttpSource):
        if locations.scheme(source.url) not in ("http", "https"):
            raise MlopsError(f"http source {redact_url(source.url)}: not an http(s) URL")
        locations.check(source.url, security)
        allow_private = security is not None and security.allow_local_uris
        return _http(source, allow_private), redact_url(source.url)
    raise MlopsError(f"unknown data source {source!r}")


def _database(source: spec_models.DatabaseSource, repo_root: Path) -> pd.DataFrame:
    url = source.url
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        url = f"sqlite:///{repo_root / url.removeprefix('sqlite:///')}"
    sqlite_file = ""
    if url.startswith("sqlite:///"):
        sqlite_file = url.removeprefix("sqlite:///").split("?")[0]
    if sqlite_file and not Path(sqlite_file).is_file():
        # Opening a missing SQLite file would create an empty database in its place.
        raise MlopsError(f"database source {redact_url(source.url)}: no such file")
    try:
        import sqlalchemy
    except ImportError:
        if not url.startswith("sqlite:///"):
            raise MlopsError(
                "database sources need the db extra: pip install 'mlops-gitops[db]'"
            ) from None
        import sqlite3

        read_only = Path(sqlite_file).resolve().as_uri() + "?mode=ro"
        try:
            with contextlib.closing(sqlite3.connect(read_only, uri=True)) as db:
                return pd.read_sql_query(source.query, db)
        except Exception as exc:
            raise MlopsError(f"database source {redact_url(source.url)}: {exc}") from None
    try:  # a missing driver or a malformed URL is the user's to fix, like a failing query
        engine = sqlalchemy.create_engine(url)
    except Exception as exc:
        raise MlopsError(f"database source {redact_url(source.url)}: {exc}") from None
    try:
        with engine.connect() as connection:
            return pd.read_sql_query(sqlalchemy.text(source.query), connection)
    except Exception as exc:
        raise MlopsError(f"database source {redact_url(source.url)}: {exc}") from None
    finally:
        engine.dispose()


def _http(source: spec_models.HttpSource, allow_private: bool) -> pd.DataFrame:
    try:
        response = net.request(
            "GET",
            source.url,
            headers={"Accept": "application/json"},
            timeout=source.timeout_seconds,
            allow_private=allow_private,
            max_body=MAX_HTTP_BODY,
        )
    except net.NetError as exc:
        raise MlopsError(f"http source {exc}") from None
    if response.status != 200:
        raise MlopsError(f"http source {redact_url(source.url)}: HTTP {response.status}")
    try:
        payload = json.loads(response.body)
    except ValueError as exc:
        raise MlopsError(
            f"http source {redact_url(source.url)}: the answer is not JSON: {exc}"
        ) from None
    node = payload
    for part in (source.records_path or "").split("."):
        if part:
            if not isinstance(node, dict) or part not in node:
                raise MlopsError(f"http source: {source.records_path!r} not found in the response")
            node = node[part]
    if not isinstance(node, list):
        raise MlopsError("http source: the records are not a JSON list")
    return pd.DataFrame(node)
