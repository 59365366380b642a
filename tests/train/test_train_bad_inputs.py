"""`train` on input it cannot use: a clear error (exit 1) that names the problem, never a
traceback, and nothing committed."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.support.cli import run_cli
from tests.support.git import commit_all, git

TRAIN_CSV = "data/train/cancer.csv"
TRAINER = "trainers/cancer.py"


def train_fails(repo: Path) -> str:
    before = git(repo, "rev-parse", "HEAD")
    out = run_cli("--repo", repo, "train", "cancer-train", expect=1).seen
    assert "internal error" not in out and "Traceback" not in out, out
    assert git(repo, "rev-parse", "HEAD") == before
    return out


@pytest.mark.parametrize(
    "content",
    [b"a,b\n1,2\n1,2,3,4\n", b"\xff\xfe\x00garbage\n\x81\x82,\x83\n", b""],
    ids=["ragged", "not-utf8", "empty"],
)
def test_an_unparseable_training_file(repo: Path, content: bytes) -> None:
    (repo / TRAIN_CSV).write_bytes(content)
    commit_all(repo, "Damage the training data")
    out = train_fails(repo)
    assert f"data source {TRAIN_CSV}" in out


def test_a_target_that_is_all_missing(repo: Path) -> None:
    frame = pd.read_csv(repo / TRAIN_CSV)
    frame["target"] = float("nan")
    frame.to_csv(repo / TRAIN_CSV, index=False)
    commit_all(repo, "Lose the labels")
    out = train_fails(repo)
    assert "target column 'target'" in out


@pytest.mark.parametrize("returned", ["None", "'a model'", "X_train"])
def test_a_trainer_that_returns_no_estimator(repo: Path, returned: str) -> None:
    (repo / TRAINER).write_text(
        f"def train(X_train, y_train, **hyperparameters):\n    return {returned}\n"
    )
    commit_all(repo, "A trainer that forgets to return its model")
    out = train_fails(repo)
    assert "trainer trainers.cancer:train returned" in out


def test_a_trainer_that_raises_is_a_failed_training_exit_1(repo: Path) -> None:
    """The documented exit code: the trainer is user code, its exception a failed run."""
    (repo / TRAINER).write_text(
        "def train(X_train, y_train, **hyperparameters):\n    raise ValueError('bad C')\n"
    )
    commit_all(repo, "A trainer that raises")
    before = git(repo, "rev-parse", "HEAD")
    out = run_cli("--repo", repo, "train", "cancer-train", expect=1).seen
    assert "Traceback" not in out
    assert "trainer trainers.cancer:train raised ValueError: bad C" in out
    # The failed run is on record (its lineage), and nothing else changed.
    assert git(repo, "rev-parse", "HEAD~1").strip() == before.strip()
    message = git(repo, "log", "-1", "--format=%B")
    assert "Mlops-Train-Status: failed" in message
    assert git(repo, "diff", "--name-only", "HEAD~1", "HEAD", "--", "models").strip() == ""
