"""`mlops-gitops train`: the example pipeline end to end, thresholds, data sources, the
version bump rule and the comment-preserving edit of the model's spec file."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from mlops_gitops.errors import MlopsError
from mlops_gitops.serve.batch import infer_groups
from mlops_gitops.serve.models import Artifact
from mlops_gitops.serve.models import load as serve_load
from mlops_gitops.spec import models as spec_models
from mlops_gitops.train import sources
from mlops_gitops.train.pipeline import append_version, next_version
from tests.support.cli import run_cli
from tests.support.git import commit_all, git, head
from tests.support.repos import copy_repo

PIPELINE = "pipelines/cancer-train.yaml"
MODEL_FILE = "models/cancer-detector.yaml"
TRAIN_CSV = "data/train/cancer.csv"
NEW = "1.3.0"
"""cancer-detector has 1.0.0, 1.1.0 and 1.2.0: the next minor."""


def frame_sha(frame: pd.DataFrame) -> str:
    """The lineage hash of rows that come from no file: the sha256 of the CSV they make."""
    return hashlib.sha256(frame.to_csv(index=False).encode()).hexdigest()


def set_source(repo: Path, source: str) -> None:
    """Replace the pipeline's data_sources block with `source` (YAML lines, 4-space item)."""
    text = (repo / PIPELINE).read_text()
    start = text.index("  data_sources:\n")
    end = text.index("  features:\n")
    (repo / PIPELINE).write_text(text[:start] + "  data_sources:\n" + source + text[end:])


def new_entry(repo: Path) -> dict[str, Any]:
    spec = yaml.safe_load((repo / MODEL_FILE).read_text())
    entry: dict[str, Any] = spec["spec"]["versions"][-1]
    return entry


# ---------------------------------------------------------------- the example pipeline


def test_cancer_train_commits_a_version_that_validates_plans_and_registers(repo: Path) -> None:
    before = head(repo)
    original = (repo / MODEL_FILE).read_text()
    result = run_cli(
        "--repo", repo, "train", "cancer-train", "--now", "2026-05-04", "--format", "json", expect=0
    ).json()
    assert result["ok"] is True and result["failures"] == []
    assert result["version"] == NEW
    assert result["metrics"]["roc_auc"] >= 0.9 and set(result["metrics"]) == {"accuracy", "roc_auc"}
    artifact = f"artifacts/cancer-detector/{NEW}/model.skops"
    reference = f"data/reference/cancer-detector-{NEW}.csv"
    assert sorted(result["files"]) == sorted([artifact, reference, MODEL_FILE])

    # One commit by the tool, with exactly those files, and nothing left over.
    assert result["commit"] == head(repo)
    assert git(repo, "rev-parse", "HEAD~1").strip() == before
    assert sorted(git(repo, "show", "--name-only", "--format=", "HEAD").split()) == sorted(
        result["files"]
    )
    message = git(repo, "log", "-1", "--format=%s%n%b%n%an <%ae>")
    assert message.startswith(f"mlops-gitops: train cancer-train -> cancer-detector {NEW}")
    assert "Mlops-Train: cancer-train" in message and f"Mlops-Spec-Commit: {before}" in message
    assert "mlops-gitops <mlops-gitops@localhost>" in message
    assert git(repo, "status", "--porcelain") == ""

    # The spec file only gained lines: every comment and value of the original is kept.
    numstat = git(repo, "diff", "--numstat", "HEAD~1", "HEAD", "--", MODEL_FILE).split()
    assert numstat[1] == "0", numstat
    assert (repo / MODEL_FILE).read_text().startswith(original.rstrip("\n"))
    entry = new_entry(repo)
    assert entry["version"] == NEW and entry["format"] == "skops"
    assert entry["sha256"] == hashlib.sha256((repo / artifact).read_bytes()).hexdigest()
    assert entry["metrics"] == result["metrics"]
    assert entry["hyperparameters"] == {"C": 1.0}
    assert entry["created"] == "2026-05-04"
    lineage = entry["lineage"]
    assert lineage["pipeline"] == "cancer-train" and lineage["commit"] == before
    csv = pd.read_csv(repo / TRAIN_CSV)
    # One kind of hash: the file's sha256, the very number the hand-written versions pin.
    pinned = yaml.safe_load(original)["spec"]["versions"][0]["training_data"]
    assert pinned["uri"] == TRAIN_CSV
    assert lineage["data"] == [
        {"source": TRAIN_CSV, "kind": "file", "sha256": pinned["sha256"], "rows": len(csv)}
    ]
    assert entry["training_data"] == pinned
    trainer_file = (repo / "trainers").glob("*.py")
    hashes = {hashlib.sha256(p.read_bytes()).hexdigest() for p in trainer_file}
    assert lineage["trainer"]["sha256"] in hashes
    assert lineage["trainer"]["entrypoint"].startswith("trainers.")
    import sklearn

    assert entry["dependencies"]["scikit-learn"] == f"=={sklearn.__version__}"

    # The artifact bundles the transformations: it predicts from raw features, and its
    # recorded roc_auc is what it scores on the recorded reference (the test split).
    from sklearn.metrics import roc_auc_score
    from skops.io import get_untrusted_types, load

    model = load(repo / artifact, trusted=get_untrusted_types(file=repo / artifact))
    test = pd.read_csv(repo / reference)
    assert len(test) == round(len(csv) * 0.2)
    scores = model.predict_proba(test.drop(columns=["target"]))[:, 1]
    assert round(roc_auc_score(test["target"], scores), 4) == result["metrics"]["roc_auc"]
    # The server's loader (transformers run once for predict and proba) agrees exactly.
    loaded = serve_load(
        Artifact(NEW, "skops", entry["sha256"], repo / artifact, scan_verdict="clean")
    )
    (served,) = infer_groups(loaded, [test.drop(columns=["target"]).to_numpy().tolist()])
    assert served.predictions == model.predict(test.drop(columns=["target"])).tolist()
    assert served.probabilities == model.predict_proba(test.drop(columns=["target"])).tolist()

    # It validates, the plan registers it with a clean scan, and apply does.
    assert run_cli("--repo", repo, "validate", expect=0).out.startswith("Valid")
    plan = run_cli("--repo", repo, "plan", "--format", "json", expect=0).json()
    step = next(s for s in plan["steps"] if s["id"] == f"register:Model/cancer-detector@{NEW}")
    assert step["status"] == "ready", step
    assert step["after"]["scan"] == "clean" and step["after"]["sha256"] == entry["sha256"]
    applied = run_cli("--repo", repo, "apply").out
    assert f"done     register Model/cancer-detector {NEW}" in applied, applied


def test_a_threshold_failure_adds_no_version_and_is_recorded_in_history(repo: Path) -> None:
    text = (repo / PIPELINE).read_text()
    (repo / PIPELINE).write_text(text.replace('roc_auc: ">= 0.9"', 'roc_auc: ">= 0.999"'))
    commit_all(repo, "Demand a near-perfect model")
    before = head(repo)
    (repo / "notes.txt").write_text("staged, not the tool's to commit\n")
    git(repo, "add", "notes.txt")
    original = (repo / MODEL_FILE).read_text()
    out = run_cli("--repo", repo, "train", "cancer-train", expect=1).out
    assert "failed its thresholds" in out and "roc_auc >= 0.999" in out
    recorded = head(repo)
    assert recorded != before and f"Recorded the failed run in commit {recorded[:12]}" in out
    # A commit of no files: the tree is the parent's, the user's staged file is still staged.
    assert git(repo, "rev-parse", f"{recorded}^{{tree}}") == git(
        repo, "rev-parse", f"{before}^{{tree}}"
    )
    assert git(repo, "rev-parse", f"{recorded}^").strip() == before
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == "A  notes.txt\n"
    assert (repo / MODEL_FILE).read_text() == original
    message = git(repo, "log", "-1", "--format=%B")
    assert "Mlops-Train-Status: failed" in message and "Mlops-Model: cancer-detector" in message
    result = run_cli(
        "--repo", repo, "train", "cancer-train", "--format", "json", "--no-commit", expect=1
    ).json()
    assert result["ok"] is False and result["version"] is None and result["commit"] is None
    assert result["failures"] == [f"roc_auc >= 0.999: {result['metrics']['roc_auc']:.4f}"]
    assert head(repo) == recorded
    events = run_cli(
        "--repo", repo, "history", "--format", "json", "--actor", "pipeline:cancer-train", expect=0
    ).json()
    (failed,) = events["events"]
    assert failed["action"] == "train-failed" and failed["commit"] == recorded
    assert failed["object"] == {"kind": "Model", "name": "cancer-detector", "version": None}
    assert failed["cause"] == {"commit": recorded, "kind": "train"}
    assert "roc_auc >= 0.999" in failed["reason"]


def test_the_trainer_comes_from_the_repository_being_trained(repo: Path, tmp_path: Path) -> None:
    """In one process (reconcile's retrain_model action runs in-process), a trainer of the
    same module name imported from another repository earlier must not answer."""
    other = copy_repo(repo, tmp_path / "other")
    assert run_cli(
        "--repo", other, "train", "cancer-train", "--no-commit", "--format", "json", expect=0
    ).json()["ok"]
    shutil.rmtree(other)  # its trainers package is gone; this repository's must be used
    (repo / "trainers/cancer.py").write_text(
        "from sklearn.dummy import DummyClassifier\n\n\n"
        "def train(X_train, y_train, **hyperparameters):\n"
        "    return DummyClassifier(strategy='prior').fit(X_train, y_train)\n"
    )
    commit_all(repo, "A trainer that learns nothing")
    result = run_cli("--repo", repo, "train", "cancer-train", "--format", "json", expect=1).json()
    assert result["metrics"]["roc_auc"] == 0.5, result


# ---------------------------------------------------------------- data sources


def test_sqlite_source_trains_the_same_rows_and_puts_the_version_on_canary(repo: Path) -> None:
    """A database source through an SQLAlchemy URL on SQLite, relative to the repository; the
    trained version goes on a 10% canary in cancer-prod (a block-style canary)."""
    csv = pd.read_csv(repo / TRAIN_CSV)
    with sqlite3.connect(repo / "data/train/cancer.db") as db:
        csv.to_sql("cancer", db, index=False)
    db.close()
    set_source(
        repo,
        "    - type: database\n"
        "      url: sqlite:///data/train/cancer.db\n"
        "      query: SELECT * FROM cancer ORDER BY rowid\n",
    )
    text = (repo / PIPELINE).read_text()
    (repo / PIPELINE).write_text(text + "  canary: {deployment: cancer-prod, traffic: 10}\n")
    commit_all(repo, "Train from the database, canary in production")
    result = run_cli("--repo", repo, "train", "cancer-train", "--format", "json", expect=0).json()
    assert result["ok"] and result["version"] == NEW
    assert "deployments/cancer-prod.yaml" in result["files"]
    source = new_entry(repo)["lineage"]["data"][0]
    assert source == {
        "source": "sqlite:///data/train/cancer.db",
        "kind": "database",
        "sha256": frame_sha(csv),  # the same rows as the CSV, read back from SQLite
        "rows": len(csv),
    }
    assert "training_data" not in new_entry(repo)
    deployment = yaml.safe_load((repo / "deployments/cancer-prod.yaml").read_text())
    assert deployment["spec"]["canary"] == {"version": NEW, "traffic": 10}
    assert run_cli("--repo", repo, "validate", expect=0).out.startswith("Valid")


def test_sqlite_source_without_sqlalchemy(
    repo: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without the db extra, SQLite still works through the standard library (read-only)."""
    csv = pd.read_csv(repo / TRAIN_CSV).head(50)
    with sqlite3.connect(repo / "rows.db") as db:
        csv.to_sql("cancer", db, index=False)
    db.close()
    monkeypatch.setitem(__import__("sys").modules, "sqlalchemy", None)
    source = spec_models.DatabaseSource(
        type="database", url="sqlite:///rows.db", query="SELECT * FROM cancer"
    )
    frame, where = sources.load(source, repo)
    pd.testing.assert_frame_equal(frame, csv)
    assert where == "sqlite:///rows.db"
    bad = spec_models.DatabaseSource(
        type="database", url="sqlite:///rows.db", query="SELECT * FROM nope"
    )
    with pytest.raises(MlopsError, match="no such table"):
        sources.load(bad, repo)


def test_database_source_errors_are_reported_without_credentials(repo: Path) -> None:
    missing = spec_models.DatabaseSource(type="database", url="sqlite:///nope.db", query="SELECT 1")
    with pytest.raises(MlopsError, match="no such file"):
        sources.load(missing, repo)
    assert not (repo / "nope.db").exists(), "a missing SQLite file must not be created"
    for url in ("postgresql://alice:s3cret@127.0.0.1:1/db", "nosuch://alice:s3cret@host/db"):
        source = spec_models.DatabaseSource(type="database", url=url, query="SELECT 1")
        with pytest.raises(MlopsError) as caught:
            sources.load(source, repo)
        assert "s3cret" not in str(caught.value)
        assert "***@" in str(caught.value)


class JsonServer:
    """A loopback HTTP server answering every GET with one JSON document (or an error)."""

    def __init__(self) -> None:
        self.payload: bytes = b"{}"
        self.status = 200
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(owner.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(owner.payload)))
                self.end_headers()
                self.wfile.write(owner.payload)

            def log_message(self, *_: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def json_server() -> Iterator[JsonServer]:
    server = JsonServer()
    yield server
    server.close()


def test_http_json_source_trains_and_canaries_in_staging(
    repo: Path, json_server: JsonServer
) -> None:
    """Records from a loopback HTTP endpoint at a dotted path; the trained version replaces
    the canary of cancer-staging (a flow-style canary)."""
    csv = pd.read_csv(repo / TRAIN_CSV)
    records = csv.to_dict("records")
    json_server.payload = json.dumps({"data": {"rows": records}, "total": len(records)}).encode()
    url = f"{json_server.url}/exports/cancer.json"
    set_source(repo, f"    - type: http\n      url: {url}\n      records_path: data.rows\n")
    # A plain-http loopback endpoint needs both opt-ins of the Project.
    with (repo / "mlops.yaml").open("a") as project:
        project.write("  security: {allow_insecure_http: true, allow_local_uris: true}\n")
    text = (repo / PIPELINE).read_text()
    (repo / PIPELINE).write_text(text + "  canary: {deployment: cancer-staging, traffic: 25}\n")
    commit_all(repo, "Train from the export endpoint")
    result = run_cli("--repo", repo, "train", "cancer-train", "--format", "json", expect=0).json()
    assert result["ok"] and result["version"] == NEW
    source = new_entry(repo)["lineage"]["data"][0]
    assert source == {"source": url, "kind": "http", "sha256": frame_sha(csv), "rows": len(csv)}
    staging = yaml.safe_load((repo / "deployments/cancer-staging.yaml").read_text())
    assert staging["spec"]["canary"] == {"version": NEW, "traffic": 25}
    assert run_cli("--repo", repo, "validate", expect=0).out.startswith("Valid")


@pytest.mark.parametrize(
    ("status", "payload", "records_path", "message"),
    [
        (200, b'{"data": {"rows": []}}', "data.items", "not found in the response"),
        (200, b'{"data": {"rows": {"a": 1}}}', "data.rows", "not a JSON list"),
        (200, b"<html>", None, "http source"),
        (500, b'{"error": "down"}', None, "500"),
    ],
)
def test_http_source_errors_are_clear(
    json_server: JsonServer, status: int, payload: bytes, records_path: str | None, message: str
) -> None:
    json_server.status, json_server.payload = status, payload
    source = spec_models.HttpSource(type="http", url=json_server.url, records_path=records_path)
    loopback = spec_models.SecuritySettings(allow_insecure_http=True, allow_local_uris=True)
    with pytest.raises(MlopsError, match=message):
        sources.load(source, Path("."), loopback)


# ---------------------------------------------------------------- version bump rule


@pytest.mark.parametrize(
    ("existing", "expected"),
    [
        (["1.0.0", "1.1.0", "1.2.0"], "1.3.0"),
        (["1.2.3"], "1.3.0"),  # patch reset
        (["1.9.0", "1.10.0"], "1.11.0"),  # numeric, not string order
        (["1.0.0", "2.0.0", "1.5.0"], "2.1.0"),  # from the highest, wherever it is listed
        (["2"], "2.1"),
        (["2.0", "2.1.0"], "2.2.0"),
        (["1.0.0", "experiment-a"], "1.1.0"),  # non-numeric versions are ignored ...
        (["v1"], "v1-retrain.1"),  # ... unless no version is numeric
        (["v1", "v1-retrain.1"], "v1-retrain.2"),
    ],
)
def test_version_bump_rule(existing: list[str], expected: str) -> None:
    assert next_version(existing) == expected
    assert expected not in existing


# ---------------------------------------------------------------- comment preservation

ENTRY = {
    "version": "1.1.0",
    "artifact": "artifacts/m/1.1.0/model.skops",
    "format": "skops",
    "sha256": "0" * 64,
    "created": "2026-05-04",
    "lineage": {"pipeline": "p", "commit": None, "data": []},
}

LAYOUTS = {
    "indented list, then another key": """\
# the model file
spec:
  versions:   # every version
    # first
    - version: "1.0.0"
      artifact: a.skops  # trailing comment
      metrics: {auc: 0.9}
  owner: team@example.com  # after the list
""",
    "flush list, last in file, no final newline": """\
spec:
  versions:
  - version: "1.0.0"
    artifact: a.skops
  # closing comment""",
    "flow item last": """\
spec:
  versions:
    - {version: "1.0.0", artifact: a.skops}  # one line
""",
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_append_version_only_adds_lines(layout: str) -> None:
    text = LAYOUTS[layout]
    edited = append_version(text, "models/m.yaml", ENTRY)
    old_lines, new_lines = text.splitlines(), edited.splitlines()
    it = iter(new_lines)
    assert all(line in it for line in old_lines), "every original line, in order"
    spec = yaml.safe_load(edited)["spec"]
    assert [v["version"] for v in spec["versions"]] == ["1.0.0", "1.1.0"]
    assert spec["versions"][-1] == ENTRY
    if "owner" in text:
        assert spec["owner"] == "team@example.com"
    assert '- version: "1.1.0"' in edited
    assert 'sha256: "' + "0" * 64 + '"' in edited and 'created: "2026-05-04"' in edited


def test_append_version_refuses_a_flow_list() -> None:
    with pytest.raises(MlopsError, match="block list"):
        append_version('spec:\n  versions: [{version: "1"}]\n', "models/m.yaml", ENTRY)
