"""The demo's production part: the artifact store in S3 (moto's server on loopback standing in
for a bucket) and a deployment on the kserve target, its manifest checked against KServe's
CRDs and its storageUri downloaded and loaded the way the cluster would."""

from __future__ import annotations

import importlib
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

PROJECT = Path(__file__).resolve().parent.parent
BUCKET = "demo-models"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _crd_check(manifest: dict[str, Any]) -> str:
    sys.path.insert(0, str(PROJECT))
    crd = importlib.import_module("tests.kserve.crd")  # the tests' strict CRD check
    if not any((d / crd.CRD_FILES["InferenceService"]).is_file() for d in crd.CRD_DIRS):
        return "KServe's CRDs are not beside the checkout; check skipped"
    errors: list[str] = crd.crd_errors(manifest)
    if errors:
        raise SystemExit("demo failed: the manifest breaks the CRD:\n" + "\n".join(errors))
    return "valid against KServe's InferenceService CRD (unknown fields are errors)"


def production(
    tmp: Path,
    env: dict[str, str],
    run: Callable[..., subprocess.CompletedProcess[str]],
    git: Callable[..., None],
) -> None:
    try:
        import boto3
        from moto.server import ThreadedMotoServer
    except ImportError:
        print("moto[server] is not installed (the dev extra); skipped")
        return
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    saved = dict(os.environ)
    aws = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "demo",
        "AWS_SECRET_ACCESS_KEY": "demo",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    try:
        env.update(aws)
        os.environ.update(aws)
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        print(f"S3 API on {aws['AWS_ENDPOINT_URL']} (moto), bucket {BUCKET}; credentials in the")
        print("environment, as the AWS SDK reads them; nothing about them in the specs")
        _production(tmp, run, git)
    finally:
        for key in aws:
            env.pop(key, None)
        os.environ.clear()
        os.environ.update(saved)
        server.stop()


def _production(
    tmp: Path,
    run: Callable[..., subprocess.CompletedProcess[str]],
    git: Callable[..., None],
) -> None:
    repo = tmp / "production"
    shutil.copytree(PROJECT / "example-repo", repo)
    project = repo / "mlops.yaml"
    text = project.read_text()
    text = text.replace(
        "  artifact_store: .mlops/artifacts", f"  artifact_store: s3://{BUCKET}/mlops", 1
    )
    project.write_text(text + "  targets:\n    kserve: {version: '0.21'}\n")
    staging = repo / "deployments" / "cancer-staging.yaml"
    staging.write_text(staging.read_text().replace("target: local", "target: kserve", 1))
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "Specs with the store in S3 and cancer-staging on KServe")
    print(f"mlops.yaml: artifact_store: s3://{BUCKET}/mlops, targets.kserve.version: '0.21'")
    print("deployments/cancer-staging.yaml: target: kserve")
    run(repo, "apply", "--now", "2026-11-27T09:00:00Z", expect=(0, 3))

    import boto3

    keys = [
        item["Key"]
        for page in boto3.client("s3").get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
        for item in page.get("Contents", [])
    ]
    blobs = [k for k in keys if k.startswith("mlops/sha256/")]
    layout = [k for k in keys if k.startswith("mlops/kserve/")]
    print(f"s3://{BUCKET}: {len(blobs)} content-addressed blobs (mlops/sha256/...), and")
    for key in layout:
        print(f"  {key}")
    path = repo / "rendered" / "kserve" / "cancer-staging.yaml"
    print(f"$ cat rendered/kserve/{path.name}")
    text = path.read_text()
    sys.stdout.write(text)
    manifest = yaml.safe_load(text)
    print(f"rendered/kserve/{path.name}: {_crd_check(manifest)}")

    from kserve_storage import Storage

    from mlops_gitops.serve.kserve_runtime import SkopsModel

    model = manifest["spec"]["predictor"]["model"]
    folder = Storage.download(model["storageUri"], str(tmp / "mnt-models"))
    environ = {item["name"]: item["value"] for item in model["env"]}
    served = SkopsModel("cancer-staging", folder, environ=environ)
    served.load()
    print(
        f"downloaded {model['storageUri']} with KServe's storage library: {os.listdir(folder)};"
        f" the skops runtime loads it ({type(served.estimator).__name__}, sha256 and trusted"
        " types checked)"
    )
