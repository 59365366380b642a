"""The demo's production part: the artifact store in S3 (moto's server on loopback standing in
for a bucket) and a deployment on the kserve target, its manifest checked against KServe's
CRDs and its storageUri downloaded and loaded the way the cluster would; then the payload
logger's CloudEvents in S3, read by `monitor` with the window pruning older days."""

from __future__ import annotations

import base64
import csv
import importlib
import json
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
LOGS = "demo-logs"
DAY = "2026-11-27"
LOGGER = "http://inference-logs.monitoring.svc.cluster.local/"


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
        boto3.client("s3").create_bucket(Bucket=LOGS)
        print(f"S3 API on {aws['AWS_ENDPOINT_URL']} (moto), buckets {BUCKET} and {LOGS};")
        print("credentials in the environment, as the AWS SDK reads them; none in the specs")
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
    text = staging.read_text().replace("target: local", "target: kserve", 1)
    text = text.replace(
        "    predictions: logs/cancer-staging/",
        f"    predictions: s3://{LOGS}/cancer-staging/\n    window: {{duration: 1d}}\n"
        f"    logger_url: {LOGGER}",
        1,
    )
    staging.write_text(text)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "Specs with the store in S3 and cancer-staging on KServe")
    print(f"mlops.yaml: artifact_store: s3://{BUCKET}/mlops, targets.kserve.version: '0.21'")
    print("deployments/cancer-staging.yaml: target: kserve; monitoring.predictions:")
    print(f"  s3://{LOGS}/cancer-staging/, window 1d, logger_url: {LOGGER}")
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
    _logs(repo, run, served)


def _event(kind: str, event_id: str, body: Any, time: str, endpoint: str) -> str:
    """A CloudEvent as KServe's payload logger sends it, stored as one JSON line."""
    event = {
        "specversion": "1.0",
        "id": event_id,
        "type": f"org.kubeflow.serving.inference.{kind}",
        "source": "http://localhost:9081/",
        "time": time,
        "inferenceservicename": "cancer-staging",
        "endpoint": endpoint,
        "annotations": {
            "mlops-gitops/stable-version": "1.1.0",
            "mlops-gitops/canary-version": "1.2.0",
        },
        "data_base64": base64.b64encode(json.dumps(body).encode()).decode(),
    }
    return json.dumps(event) + "\n"


def _logs(repo: Path, run: Callable[..., Any], served: Any) -> None:
    import boto3
    import pandas as pd

    with open(repo / "data" / "reference" / "cancer-detector-1.1.0.csv") as handle:
        rows = [row for _, row in zip(range(120), csv.DictReader(handle), strict=False)]
    features = served.features or []
    lines = []
    for i, row in enumerate(rows):
        instance = [float(row[name]) for name in features]
        answer = served.estimator.predict(pd.DataFrame([instance], columns=features))
        endpoint = "canary" if i % 2 else "default"
        stamp = f"{DAY}T10:{i // 60:02d}:{i % 60:02d}"
        lines.append(
            _event("request", f"r{i}", {"instances": [instance]}, stamp + ".000Z", endpoint)
        )
        body = {"predictions": [int(answer[0])]}
        lines.append(_event("response", f"r{i}", body, stamp + ".012Z", endpoint))
    s3 = boto3.client("s3")
    key = f"cancer-staging/date={DAY}/events-0.jsonl"
    s3.put_object(Bucket=LOGS, Key=key, Body="".join(lines).encode())
    s3.put_object(Bucket=LOGS, Key="cancer-staging/date=2026-10-01/events-0.jsonl", Body=b"{old\n")
    print(f"s3://{LOGS}/{key}: {len(rows)} requests and responses as the payload logger sends them")
    print(f"s3://{LOGS}/cancer-staging/date=2026-10-01/: an old day (not even valid JSON)")
    run(repo, "monitor", "--deployment", "cancer-staging", "--now", f"{DAY}T12:00:00Z")
    report = json.loads((repo / "reports" / "cancer-staging" / "latest.json").read_text())
    state = json.loads((repo / ".mlops" / "state" / "monitor" / "cancer-staging.json").read_text())
    read = [mark["path"] for mark in state["watermarks"]]
    counts = {v: e["records"] for v, e in report["versions"].items()}
    print(f"records per version: {counts}; objects read: {read}")
    print("(the 1d window pruned date=2026-10-01 by its Hive partition: never opened)")
    if counts != {"1.1.0": 60, "1.2.0": 60} or len(read) != 1:
        raise SystemExit("demo failed: the logs in S3 were not read as expected")
