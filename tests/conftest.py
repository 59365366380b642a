"""Shared helpers: copies of the example and corpus repositories, and running the CLI in-process."""

from __future__ import annotations

import functools
import logging
import os
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mlops_gitops import cli
from mlops_gitops.spec.loader import MAX_FILE_BYTES

PROJECT = Path(__file__).resolve().parent.parent
EXAMPLE_REPO = PROJECT / "example-repo"
SCHEMAS = PROJECT / "schemas"
CORPUS = Path(__file__).resolve().parent / "corpus"
CORPUS_BASE = CORPUS / "base"
CORPUS_CASES = CORPUS / "cases"

# Directives in a corpus case's `repo/` overlay, as suffixes of a file name:
DELETE = ".delete"
"""`<path>.delete`: remove <path> from the copy of the base repository."""
OVERSIZE = ".oversize"
"""`<path>.oversize`: write <path> with this content, padded past the size limit with comments."""
SYMLINK_OUTSIDE = ".symlink-outside"
"""`<path>.symlink-outside`: <path> becomes a symlink to a file outside the repository holding
this content (made at test time: symlinks are not committed)."""


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str

    @property
    def seen(self) -> str:
        """What a user sees on the terminal: stdout, then stderr."""
        return self.out + self.err


def run_cli(capsys: pytest.CaptureFixture[str], argv: Sequence[str]) -> Run:
    """Run `mlops-gitops argv` in-process; exceptions escaping `main` fail the test."""
    capsys.readouterr()
    code = cli.main(["--no-color", *argv])
    captured = capsys.readouterr()
    return Run(code, captured.out, captured.err)


def run_subprocess(
    args: Sequence[str],
    cwd: Path | None = None,
    *,
    code: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """`python -m mlops_gitops args` in a fresh interpreter, or `python -c code args`."""
    command = [sys.executable, "-c", code] if code else [sys.executable, "-m", "mlops_gitops"]
    return subprocess.run(
        [*command, *args],
        cwd=cwd or PROJECT,
        env={**os.environ, "NO_COLOR": "1", **(env or {})},
        text=True,
        capture_output=True,
        check=False,
        timeout=120,
    )


def copy_repo(source: Path, dest: Path) -> Path:
    """A copy of a spec repository without large data files the tests never read."""
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns("*.skops", "*.csv", "__pycache__"))
    return dest


def build_case(case: Path, tmp_path: Path) -> Path:
    """The corpus base repository with the case's overlay applied, in tmp_path/repo."""
    repo = copy_repo(CORPUS_BASE, tmp_path / "repo")
    outside = tmp_path / "outside"
    overlay = case / "repo"
    for source in sorted(p for p in overlay.rglob("*") if p.is_file()):
        rel = source.relative_to(overlay).as_posix()
        if rel.endswith(DELETE):
            (repo / rel.removesuffix(DELETE)).unlink()
        elif rel.endswith(OVERSIZE):
            target = repo / rel.removesuffix(OVERSIZE)
            target.parent.mkdir(parents=True, exist_ok=True)
            data = source.read_bytes()
            padding = b"# padding to exceed the size limit\n"
            count = (MAX_FILE_BYTES - len(data)) // len(padding) + 1
            target.write_bytes(data + padding * count)
        elif rel.endswith(SYMLINK_OUTSIDE):
            link = repo / rel.removesuffix(SYMLINK_OUTSIDE)
            real = outside / link.name
            real.parent.mkdir(parents=True, exist_ok=True)
            real.write_bytes(source.read_bytes())
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(real)
        else:
            target = repo / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
    return repo


def normalize(text: str, tmp_path: Path) -> str:
    """Replace the per-run temporary folders so golden files are stable."""
    for real in {str(tmp_path.resolve()), str(tmp_path)}:
        text = text.replace(real + "/repo", "<repo>").replace(real, "<tmp>")
    return text


@pytest.fixture(autouse=True)
def user_cache_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Caches of repositories outside git go to the user's cache directory: a private one."""
    home = tmp_path_factory.mktemp("xdg-cache")
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    return home


@pytest.fixture
def example_copy(tmp_path: Path) -> Iterator[Path]:
    """A writable copy of example-repo (artifacts and data left out: validate never reads them)."""
    yield copy_repo(EXAMPLE_REPO, tmp_path / "example")


# ---------------------------------------------------------------- object storage (S3 on loopback)


@dataclass(frozen=True)
class S3Bucket:
    """An empty bucket on the loopback S3 server; code under test reaches it as `uri`."""

    name: str
    endpoint: str

    @property
    def uri(self) -> str:
        return f"s3://{self.name}"

    def client(self) -> Any:
        return _s3_client(self.endpoint)

    def keys(self, prefix: str = "") -> list[str]:
        pages = (
            self.client().get_paginator("list_objects_v2").paginate(Bucket=self.name, Prefix=prefix)
        )
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def get(self, key: str) -> bytes:
        body: bytes = self.client().get_object(Bucket=self.name, Key=key)["Body"].read()
        return body

    def put(self, key: str, data: bytes) -> None:
        self.client().put_object(Bucket=self.name, Key=key, Body=data)


S3_REGION = "us-east-1"


@functools.cache
def _s3_client(endpoint: str) -> Any:
    """One client per server: making a boto3 client costs a good fraction of a second."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=S3_REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """moto's standalone S3 server on a free loopback port, for the whole session: its URL."""
    pytest.importorskip("moto.server", reason="moto[server] is not installed (the dev extra)")
    from moto.server import ThreadedMotoServer

    port = _free_port()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3(s3_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> S3Bucket:
    """A fresh bucket, with the endpoint and credentials given the way every AWS SDK reads them
    (environment variables; no config file of the user's is read), so code under test, its
    subprocesses and KServe's storage library all use plain `s3://bucket/...` URIs."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", S3_REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    bucket = S3Bucket(f"test-{uuid.uuid4().hex[:16]}", s3_server)
    bucket.client().create_bucket(Bucket=bucket.name)
    try:
        import fsspec

        fsspec.filesystem("s3").invalidate_cache()
    except (ImportError, ValueError):
        pass
    return bucket
