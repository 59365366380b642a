"""A real S3 API on loopback: moto's standalone server, and fresh buckets on it."""

from __future__ import annotations

import functools
import logging
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


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
